"""Which of the two clusters is "particle": size and contrast rules, decided from the fit sample."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# 'auto' trusts "the minority is particle" while the minority holds under this share of the
# sample; above it the split is too even for size to mean anything and contrast decides.
BALANCED_FRACTION = 0.4
# Contrast decides only when the cluster mean intensities differ by at least this many pooled
# within-cluster standard deviations; below it neither rule is informative and 'auto' falls
# back to the smaller cluster (and says so).
MIN_CONTRAST = 0.25


def choose_particle_cluster(labels: np.ndarray, intensity: np.ndarray, *, rule: str) -> dict[str, Any]:
    """Name the particle cluster of a two-cluster split of the fit sample.

    Parameters
    ----------
    labels : (N,) integer array
        Cluster index (0 or 1) of each sample voxel; both clusters non-empty.
    intensity : (N,) float array
        Preprocessed intensity ([0, 1], blurred) of the same voxels.
    rule : {'auto', 'smaller', 'darker', 'brighter', '0', '1'}
        'smaller': fewer sample voxels (PickET's rule). 'darker' / 'brighter': lower / higher
        mean intensity. '0' / '1': that cluster index. 'auto': the smaller cluster when it holds
        under ``BALANCED_FRACTION`` of the sample (particles are a minority of a tomogram,
        whatever the contrast polarity); for a near-even split the darker cluster (cryo-ET
        protein is dark), unless the two mean intensities are within ``MIN_CONTRAST`` pooled
        standard deviations, where contrast says nothing and the smaller cluster is kept.

    Returns
    -------
    dict
        JSON-serialisable record: ``rule``, ``particle_label``, ``reason``, ``fractions`` (share of
        sample voxels per cluster), ``mean_intensity`` and ``std_intensity`` per cluster,
        ``contrast`` (|mean difference| / pooled std).
    """
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    intensity = intensity.astype(np.float64, copy=False)
    means = np.bincount(labels, weights=intensity, minlength=2) / counts
    sq = np.bincount(labels, weights=intensity * intensity, minlength=2) / counts
    stds = np.sqrt(np.maximum(sq - means * means, 0.0))
    fractions = counts / counts.sum()
    pooled = float(np.sqrt(np.sum(fractions * stds * stds)))
    contrast = float(abs(means[0] - means[1]) / max(pooled, 1e-12))
    smaller = int(np.argmin(counts))
    darker = int(np.argmin(means))

    if rule in ("0", "1"):
        label, why = int(rule), "explicit cluster index"
    elif rule == "smaller":
        label, why = smaller, "smaller cluster"
    elif rule == "darker":
        label, why = darker, "darker cluster"
    elif rule == "brighter":
        label, why = 1 - darker, "brighter cluster"
    elif fractions[smaller] < BALANCED_FRACTION:
        label, why = smaller, f"auto: smaller cluster (under {100 * BALANCED_FRACTION:.0f} %)"
    elif contrast >= MIN_CONTRAST:
        label, why = darker, f"auto: near-even split, darker cluster (contrast {contrast:.2f} std)"
    else:
        label, why = (
            smaller,
            (
                f"auto: near-even split and no intensity contrast ({contrast:.2f} std); "
                "smaller cluster kept, check the masks"
            ),
        )
    other = 1 - label
    reason = (
        f"{why}, {100 * fractions[label]:.1f} % of sample voxels; mean intensity "
        f"{means[label]:.3f} vs {means[other]:.3f} background"
    )
    if rule == "auto" and label != darker:
        reason += " (particle brighter than background: inverted contrast?)"
    return {
        "rule": rule,
        "particle_label": label,
        "reason": reason,
        "fractions": [float(f) for f in fractions],
        "mean_intensity": [float(m) for m in means],
        "std_intensity": [float(s) for s in stds],
        "contrast": contrast,
    }
