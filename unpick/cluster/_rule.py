"""Which of the two clusters is "particle": size and contrast rules, decided from the fit sample."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# 'auto' reads the protein polarity from the skewness of the sample intensities: particles are a
# minority of the voxels, so the intensity histogram has its long tail on the particle side
# (negative skew: dark protein). A skewness under MIN_SKEW in magnitude is within what a band-pass,
# gold or a membrane shift it by (unpick's simulator gives +0.08 for dark protein): the polarity is
# then that of the minority cluster (darker or brighter than the majority), since particles are the
# minority, and the log says so. A near-even split (minority of BALANCED_FRACTION or more) tells
# nothing either way: cryo-ET's usual convention, dark protein, is assumed.
MIN_SKEW = 0.3
BALANCED_FRACTION = 0.4
# The cluster on the particle side is chosen when the cluster mean intensities differ by at least
# this many pooled within-cluster standard deviations; a split with less contrast is a texture
# split (FFT/Gabor energy) and 'auto' keeps the smaller cluster, PickET's rule, and says so.
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
        mean intensity. '0' / '1': that cluster index. 'auto': protein polarity from the sign of
        the sample's intensity skewness when it is at least ``MIN_SKEW`` in magnitude, else from
        the side of the minority cluster (dark protein by convention for a near-even split), then
        the cluster on that side of the contrast when the two means differ by at least
        ``MIN_CONTRAST`` pooled standard deviations, else (a texture split) the smaller cluster.

    Returns
    -------
    dict
        JSON-serialisable record: ``rule``, ``particle_label``, ``reason``, ``fractions`` (share of
        sample voxels per cluster), ``mean_intensity`` and ``std_intensity`` per cluster,
        ``contrast`` (|mean difference| / pooled std), ``skewness`` of the sample intensity,
        ``doubtful`` ('auto' called the majority cluster particle; logged as a WARNING).
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
    centred = intensity - intensity.mean()
    skewness = float(np.mean(centred**3) / max(np.mean(centred**2), 1e-24) ** 1.5)
    if fractions[smaller] >= BALANCED_FRACTION:
        protein_dark, evidence = True, "near-even split: dark protein by convention"
    elif abs(skewness) >= MIN_SKEW:
        protein_dark, evidence = skewness < 0, f"intensity skewness {skewness:+.2f}"
    else:
        protein_dark = smaller == darker
        evidence = (
            f"intensity skewness {skewness:+.2f} is within noise of zero, so from the minority cluster, "
            f"{'darker' if protein_dark else 'brighter'} than the rest"
        )

    if rule in ("0", "1"):
        label, why = int(rule), "explicit cluster index"
    elif rule == "smaller":
        label, why = smaller, "smaller cluster"
    elif rule == "darker":
        label, why = darker, "darker cluster"
    elif rule == "brighter":
        label, why = 1 - darker, "brighter cluster"
    elif contrast >= MIN_CONTRAST:
        polarity = "dark" if protein_dark else "bright"
        label = darker if protein_dark else 1 - darker
        why = f"auto: {polarity} protein ({evidence}), {'darker' if protein_dark else 'brighter'} cluster"
    else:
        label, why = smaller, f"auto: texture split (contrast {contrast:.2f} std), smaller cluster"
    other = 1 - label
    reason = (
        f"{why}, {100 * fractions[label]:.1f} % of sample voxels; mean intensity "
        f"{means[label]:.3f} vs {means[other]:.3f} background"
    )
    doubtful = bool(rule == "auto" and fractions[label] > 0.5)  # an explicit rule is the user's call
    if doubtful:
        reason += (
            " (the particle cluster is the majority: the mask threshold comes from the data, but check the "
            "masks and set --particle-cluster darker or brighter if the polarity is wrong)"
        )
    return {
        "rule": rule,
        "particle_label": label,
        "reason": reason,
        "fractions": [float(f) for f in fractions],
        "mean_intensity": [float(m) for m in means],
        "std_intensity": [float(s) for s in stds],
        "contrast": contrast,
        "skewness": skewness,
        "doubtful": doubtful,
    }
