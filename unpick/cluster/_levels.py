"""Decision levels: a signed decision value quantised to one byte, spaced by its tail on the fit sample."""

from __future__ import annotations

import dataclasses
import functools
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


#: Float32 order keys (``_order_keys``) are bucketed by their top 20 bits: 2**20 buckets (1 MB
#: tables), so about 1 % of a decision's values fall in a bucket with a threshold and are searched
#: (16 bits: 11 %, 0.30 against 0.18 s for 52 M values; searchsorted alone 0.56 s).
_BUCKET_SHIFT = 12
_BUCKET_OFFSET = 1 << (31 - _BUCKET_SHIFT)


def _order_keys(values: np.ndarray) -> np.ndarray:
    """int32 keys whose order is the order of the float32 ``values`` (-0.0 counts as 0.0): the
    bits of a non-negative float, those of a negative one with all but the sign bit flipped."""
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into 0.0
    return bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))


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
        """uint8 level of each decision value (any shape, numpy or cupy ``xp``): the number of
        thresholds at or below it, ``searchsorted(thresholds, value, side='right')``.

        On the host, in blocks on CPU threads (the result does not depend on their number), and
        without a binary search for most values: the order of float32 values is the order of
        integer keys made from their bits, so the top 20 bits of a value's key name a bucket of
        keys, and a bucket that holds no threshold has one level for all its values (a table
        lookup). Only values in the few buckets that hold a threshold are searched. Exactly
        ``searchsorted``'s answer, in a third of its time."""
        flat = decision.ravel()
        thresholds = xp.asarray(self.thresholds)
        if xp is not np:
            return xp.searchsorted(thresholds, flat, side="right").astype(xp.uint8).reshape(decision.shape)
        levels = np.empty(flat.shape, dtype=np.uint8)
        bucket_levels, searched = self._buckets

        def block(start: int) -> None:
            values = flat[start : start + QUANTISE_BLOCK]
            buckets = (_order_keys(values) >> _BUCKET_SHIFT) + _BUCKET_OFFSET
            out = bucket_levels[buckets]
            near = np.flatnonzero(searched[buckets])
            out[near] = np.searchsorted(thresholds, values[near], side="right")
            levels[start : start + QUANTISE_BLOCK] = out

        thread_map(block, range(0, flat.size, QUANTISE_BLOCK))
        return levels.reshape(decision.shape)

    @functools.cached_property
    def _buckets(self) -> tuple[np.ndarray, np.ndarray]:
        """Per bucket of float32 order keys: its level when it holds no threshold (uint8), and
        whether it holds one (its values are then searched)."""
        keys = _order_keys(self.thresholds).astype(np.int64)
        first = (np.arange(2 * _BUCKET_OFFSET, dtype=np.int64) - _BUCKET_OFFSET) << _BUCKET_SHIFT
        low = np.searchsorted(keys, first, side="right")
        high = np.searchsorted(keys, first + (1 << _BUCKET_SHIFT) - 1, side="right")
        return low.astype(np.uint8), low != high

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
