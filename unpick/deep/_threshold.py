"""The peak-score threshold of a trained picker, chosen from its pseudo-labels (no ground truth)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .._shared import UnpickInputError, check_positive

logger = logging.getLogger(__name__)

FIXED_POINT_ITERATIONS = 50
#: The carried threshold stays within this factor of the training one: a tomogram without
#: particles must not drag it down to its noise peaks.
MAX_CARRY_FACTOR = 4.0


@dataclasses.dataclass(frozen=True)
class PeakThreshold:
    """A peak-score threshold and the evidence for it.

    Attributes
    ----------
    threshold : float
        Minimum pooled peak score of a pick.
    labelled_recall : float
        Share of the pseudo-positives whose peak scores at least ``threshold``.
    pick_share : float
        Share of the candidate peaks that score at least ``threshold``.
    n_candidates, n_labelled : int
        Candidate peaks and pseudo-positives the choice was made on.
    relative : float
        ``threshold`` over the median score of the peaks it keeps: how the threshold carries to
        a tomogram whose particles score lower or higher (``for_scores``).
    """

    threshold: float
    labelled_recall: float
    pick_share: float
    n_candidates: int
    n_labelled: int
    relative: float

    def for_scores(self, scores: Any) -> float:
        """The threshold for another tomogram's candidate peak ``scores``.

        A noisier tomogram scores its particles lower, all of them alike, so the threshold keeps
        its ratio to the median score of the peaks it keeps: the fixed point of
        ``t = relative x median(scores >= t)`` from ``threshold``, within ``MAX_CARRY_FACTOR`` of
        it. On the training tomograms it is ``threshold`` itself (benchmarks/README.md: it keeps
        the recall of the noisier polnet tomograms, whose particles score up to 4x lower).
        """
        scores = np.asarray(scores, dtype=np.float64)
        low, high = self.threshold / MAX_CARRY_FACTOR, min(1.0, MAX_CARRY_FACTOR * self.threshold)
        t = self.threshold
        for _ in range(FIXED_POINT_ITERATIONS):
            kept = scores[scores >= t]
            following = float(np.clip(self.relative * np.median(kept), low, high)) if len(kept) else low
            if abs(following - t) < 1e-6:
                break
            t = following
        return t

    @property
    def reason(self) -> str:
        return (
            f"peak threshold {self.threshold:.3g}: keeps {100 * self.labelled_recall:.1f} % of {self.n_labelled} "
            f"pseudo-positives and {100 * self.pick_share:.1f} % of {self.n_candidates} candidate peaks "
            f"(PU criterion recall^2 / share, Lee & Liu 2003)"
        )

    def to_record(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "reason": self.reason}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "PeakThreshold":
        return cls(**{f.name: record[f.name] for f in dataclasses.fields(cls)})


def labelled_peak_scores(
    coords_zyx: np.ndarray, scores: np.ndarray, labelled_zyx: Any, radius_voxels: float
) -> np.ndarray:
    """Score of the candidate peak nearest each pseudo-positive, 0 where none lies within ``radius_voxels``."""
    labelled = np.asarray(labelled_zyx, dtype=np.float64).reshape(-1, 3)
    if len(labelled) == 0:
        return np.zeros(0)
    if len(coords_zyx) == 0:
        return np.zeros(len(labelled))
    distance, index = cKDTree(coords_zyx).query(labelled)
    return np.where(distance <= radius_voxels, np.asarray(scores)[index], 0.0)


def choose_peak_threshold(candidate_scores: Any, labelled_scores: Any) -> PeakThreshold:
    """The peak-score threshold that maximises the PU criterion ``recall_L(t)^2 / share(t)``.

    ``recall_L(t)`` is the share of pseudo-positives (the teacher's picks) whose peak scores at
    least ``t``, ``share(t)`` the share of all candidate peaks that do. When the pseudo-positives
    are a sample of the particles, ``recall^2 / share`` equals precision x recall / prior (Lee &
    Liu, ICML 2003), so its maximum balances the two without knowing how many particles there are.
    Too low a threshold keeps every background peak (share grows, recall does not); too high a
    one loses particles (recall falls quadratically).

    Parameters
    ----------
    candidate_scores : (N,) array
        Pooled scores of all candidate peaks (``find_peaks(..., threshold=0)``), over every
        tomogram the pseudo-positives came from.
    labelled_scores : (M,) array
        Score of the peak at each pseudo-positive (``labelled_peak_scores``; 0 for none).

    Returns
    -------
    PeakThreshold
    """
    candidates = np.sort(np.asarray(candidate_scores, dtype=np.float64).reshape(-1))[::-1]
    labelled = np.sort(np.asarray(labelled_scores, dtype=np.float64).reshape(-1))[::-1]
    if len(candidates) == 0 or len(labelled) == 0 or not np.any(labelled > 0):
        raise UnpickInputError(
            "peak threshold: no candidate peak lies on a pseudo-positive, so the threshold cannot be chosen "
            "from the pseudo-labels; give --threshold, or check that the model trained (its loss) and the radius"
        )
    thresholds = np.unique(candidates[candidates > 0])
    picked = np.searchsorted(-candidates, -thresholds, side="right")  # candidates scoring >= t
    recalled = np.searchsorted(-labelled, -thresholds, side="right")
    criterion = (recalled / len(labelled)) ** 2 / (picked / len(candidates))
    best = int(np.argmax(criterion))
    threshold = float(thresholds[best])
    return PeakThreshold(
        threshold=threshold,
        labelled_recall=float(recalled[best] / len(labelled)),
        pick_share=float(picked[best] / len(candidates)),
        n_candidates=len(candidates),
        n_labelled=len(labelled),
        relative=threshold / float(np.median(candidates[candidates >= threshold])),
    )


def threshold_from_pseudo_labels(
    peaks: list[tuple[np.ndarray, np.ndarray]], pseudo_picks: list[np.ndarray], radius_voxels: float
) -> PeakThreshold:
    """``choose_peak_threshold`` over several tomograms: candidate peaks (coords, scores) and the
    pseudo-positives of each, pooled."""
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    if len(peaks) != len(pseudo_picks):
        raise UnpickInputError(f"peaks: expected one (coords, scores) pair per tomogram ({len(pseudo_picks)})")
    labelled = [labelled_peak_scores(c, s, p, radius) for (c, s), p in zip(peaks, pseudo_picks)]
    chosen = choose_peak_threshold(np.concatenate([s for _, s in peaks]), np.concatenate(labelled))
    logger.info("%s", chosen.reason)
    return chosen
