"""Decision levels: a signed decision value quantised to one byte, spaced by its tail on the fit sample."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._shared import UnpickInputError, thread_map

#: Levels 1..N_LEVELS; level 0 is the background-most half of the voxels.
N_LEVELS = 255
#: Level k >= 1 holds the voxels whose decision is at least the sample quantile that leaves a tail
#: of t_k = TAIL_LARGEST * (TAIL_SMALLEST / TAIL_LARGEST) ** ((k - 1) / (N_LEVELS - 1)) of the fit
#: sample above it: a log-spaced grid (3.4 % steps in the particle fraction), fine where particles
#: are (0.5-10 % of a tomogram's voxels) and never coarser than a byte allows.
TAIL_LARGEST = 0.5
TAIL_SMALLEST = 1e-4
#: Decision values quantised per block (on CPU threads).
QUANTISE_BLOCK = 1 << 20


def nominal_tail_fractions() -> np.ndarray:
    """(N_LEVELS + 1,) nominal share of voxels at or above each level (level 0: all of them)."""
    steps = np.arange(N_LEVELS, dtype=np.float64) / (N_LEVELS - 1)
    return np.concatenate([[1.0], TAIL_LARGEST * (TAIL_SMALLEST / TAIL_LARGEST) ** steps])


@dataclasses.dataclass(frozen=True)
class DecisionLevels:
    """Thresholds that map a decision value to a uint8 level.

    Attributes
    ----------
    thresholds : (N_LEVELS,) float32, non-decreasing
        A voxel is at level ``k >= 1`` when its decision is ``>= thresholds[k - 1]``.
    tail_fractions : (N_LEVELS + 1,) float64
        Share of the fit sample at or above each level (1.0 for level 0), measured.
    boundary_level : int
        The lowest level whose threshold is positive: ``levels >= boundary_level`` is the
        clusterer's own particle mask (up to the quantisation).
    """

    thresholds: np.ndarray
    tail_fractions: np.ndarray
    boundary_level: int

    def quantise(self, decision: Any, *, xp: Any = np) -> Any:
        """uint8 level of each decision value (any shape, numpy or cupy ``xp``); on the host, in
        blocks on CPU threads (the result does not depend on their number)."""
        flat = decision.ravel()
        thresholds = xp.asarray(self.thresholds)
        if xp is not np:
            return xp.searchsorted(thresholds, flat, side="right").astype(xp.uint8).reshape(decision.shape)
        levels = np.empty(flat.shape, dtype=np.uint8)

        def block(start: int) -> None:
            stop = start + QUANTISE_BLOCK
            levels[start:stop] = np.searchsorted(thresholds, flat[start:stop], side="right")

        thread_map(block, range(0, flat.size, QUANTISE_BLOCK))
        return levels.reshape(decision.shape)

    def level_for_tail(self, fraction: float) -> int:
        """The lowest level whose nominal tail is at most ``fraction`` of the voxels."""
        nominal = nominal_tail_fractions()
        return int(min(N_LEVELS, np.searchsorted(-nominal, -fraction, side="left")))

    def to_record(self) -> dict[str, Any]:
        """JSON-serialisable summary: the boundary level and its sample tail."""
        return {
            "boundary_level": self.boundary_level,
            "boundary_tail_fraction": float(self.tail_fractions[self.boundary_level]),
        }


def decision_levels(sample_decision: Any) -> DecisionLevels:
    """Levels from the decision values of the fit sample (quantiles at the nominal tails).

    Parameters
    ----------
    sample_decision : (N,) float array
        Signed decision values (> 0: particle side) of the sampled voxels, N >= 2.

    Returns
    -------
    DecisionLevels
    """
    values = np.asarray(sample_decision, dtype=np.float64).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise UnpickInputError(
            f"sample_decision: expected at least 2 finite decision values, got {values.size} "
            f"({int(np.count_nonzero(~np.isfinite(values)))} not finite)"
        )
    tails = nominal_tail_fractions()[1:]
    thresholds = np.quantile(values, 1.0 - tails).astype(np.float32)
    thresholds = np.maximum.accumulate(thresholds)  # float rounding must not break the order
    ordered = np.sort(values.astype(np.float32))
    at_or_above = values.size - np.searchsorted(ordered, thresholds, side="left")
    measured = np.concatenate([[1.0], at_or_above / values.size])
    positive = np.flatnonzero(thresholds > 0)
    boundary = int(positive[0]) + 1 if positive.size else N_LEVELS
    return DecisionLevels(thresholds=thresholds, tail_fractions=measured, boundary_level=boundary)
