"""The mask threshold chosen from the data: the level where the number of particle-sized
components with a high peak is largest and most stable, and few particle-sized blobs lack a peak."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from .._shared import UnpickInputError, check_volume
from ._config import InstanceLimits
from ._nested_components import Components, nested_components

logger = logging.getLogger(__name__)

#: Candidate masks keep between these shares of the voxels (levels are log-spaced in this share).
SWEEP_TAIL_RANGE = (0.004, 0.2)
#: Candidates every SWEEP_STEP levels (about 25 % apart in the share of voxels kept).
SWEEP_STEP = 6
#: The count of particle-sized components is compared STABILITY_REACH candidates (6 levels, a
#: share about 1.25 times larger or smaller) below and above each candidate, and discounted by the
#: square root of one minus its relative change: with the change itself (no root) polnet tomo_01's
#: intensities-gmm took a tighter plateau of the count (F1 0.90 -> 0.84); benchmarks/README.md.
STABILITY_REACH = 1
#: A candidate counts only when its mask lies mostly in particle-sized components:
#: ``particle_sized_share + GIANT_WEIGHT * giant_share >= MIN_PARTICLE_SIZED_SHARE``. Neither noise
#: specks nor oversized components earn credit: a membrane is oversized at every level, and giving
#: it half credit let noisy levels in on unpick's simulator (benchmarks/README.md, where the choice
#: of these two constants on polnet tomo_01-03 and the simulator sets is described).
MIN_PARTICLE_SIZED_SHARE = 0.6
GIANT_WEIGHT = 0.0
#: Without an admissible candidate, the candidates with at least this fraction of the best share
#: compete (the choice is then doubtful).
FALLBACK_SHARE_FRACTION = 0.5
#: A particle-sized component counts only when its peak reaches PERSISTENCE_LEVELS levels above
#: the candidate level (a mask with about 1.8 times fewer voxels): a particle has a core of high
#: decision values, a blob of noise correlated at the particle scale that passes the size filter
#: at a loose level does not. Without it the sweep counted such blobs as particles and took too
#: loose a level once membranes no longer made those levels inadmissible (the demo volume and the
#: simulator sets at noise 1.5-3). It was 30 levels (2.7 times fewer voxels) until the purity
#: below took over part of its job: small, weak particles (unpick's sim-small set) lose their
#: peak at tight levels under 30, so the count fell where they were segmented best
#: (benchmarks/README.md, session 8).
PERSISTENCE_LEVELS = 18
#: The sweep labels a centred (Y, X) crop, all z, of at most this many voxels. It must be large:
#: a crop cuts membranes and percolating networks into pieces that pass for particles. The
#: candidates' components are built together (``nested_components``), in an int32 rank volume of
#: the crop (up to 128 MB), 13 bytes per voxel of the loosest mask and a run of voxels joined at a
#: time (``JOIN_PAIRS``): about 300 MB with 6 M voxels in the loosest mask.
SWEEP_MAX_VOXELS = 32_000_000


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """The chosen mask level and the evidence for it.

    Attributes
    ----------
    level : int
        Mask = ``levels >= level``.
    reason : str
        One line for the log and the job record.
    sweep : list of dict
        Per candidate level: ``level``, ``tail_fraction`` (share of fit-sample voxels at or above
        it), ``n_components``, ``n_particle_sized``, ``n_persistent`` (those whose peak is
        ``PERSISTENCE_LEVELS`` higher), ``purity`` (n_persistent / n_particle_sized),
        ``particle_sized_share``, ``giant_share`` and ``speck_share`` (shares of the candidate mask's
        voxels in components within, above and below the size limits), ``count_change`` and
        ``stable_count`` (``choose_operating_level``).
    doubtful : bool
        True when no candidate was admissible (``MIN_PARTICLE_SIZED_SHARE``) or the best one has very few
        components: the log carries a WARNING.
    """

    level: int
    reason: str
    sweep: list[dict[str, Any]]
    doubtful: bool = False

    def to_record(self) -> dict[str, Any]:
        return {"level": self.level, "reason": self.reason, "doubtful": self.doubtful, "sweep": self.sweep}

    @property
    def quality(self) -> dict[str, float]:
        """Label-free quality of the chosen mask: its row of the sweep (empty when not swept)."""
        row = next((r for r in self.sweep if r["level"] == self.level), None)
        return {} if row is None else {k: v for k, v in row.items() if k != "level"}


def choose_operating_level(
    levels: Any,
    *,
    limits: InstanceLimits,
    tail_fractions: np.ndarray,
    connectivity: int = 1,
    min_components: int = 3,
) -> OperatingPoint:
    """Choose the mask level of a decision-level volume from what particles look like.

    The connected components of the candidate masks ``levels >= k`` (every ``SWEEP_STEP``
    levels) on a centred crop are built together, from the tightest mask to the loosest, touching
    only the masks' voxels (``nested_components``: the components ``scipy.ndimage.label`` finds in
    each mask, without a scan of the crop per candidate), and for each mask the particle-sized
    components (``min_size_voxels`` to ``max_size_voxels``) whose peak reaches
    ``PERSISTENCE_LEVELS`` higher are counted: ``n(k)``.
    Among the candidates whose mask lies mostly in such components (a share of at least
    ``MIN_PARTICLE_SIZED_SHARE``), the chosen level maximises the **stable count**
    ``n(k) x sqrt(1 - |n(k - r) - n(k + r)| / n(k)) x purity(k)``, ``r = STABILITY_REACH`` candidates,
    ``purity`` the share of the particle-sized components that have the high peak. Where the
    mask segments the particles, loosening or tightening it a little changes their number
    little; too loose a level adds noise blobs and texture by the hundred (their number climbs
    steeply, polnet tomo_04's ice) or percolates into giant components, too tight a one loses
    particles under the size minimum. It is the principle of maximally stable extremal regions
    (Matas et al. 2002) applied to the count; the purity discounts a level whose particle-sized
    components are often blobs without a core (noise that passes the size filter). No ground
    truth is used.

    Parameters
    ----------
    levels : (Z, Y, X) uint8 array
        Decision levels (``unpick.cluster.DecisionLevels.quantise``); 0 outside the pickable region.
    limits : InstanceLimits
        Size limits in voxels; needs ``max_size_voxels`` (a particle radius).
    tail_fractions : (256,) float array
        Share of the fit sample at or above each level (``DecisionLevels.tail_fractions``).
    connectivity : {1, 2, 3}
        Neighbourhood of the connected components, as for extraction.
    min_components : int
        Fewer particle-sized components than this at the best level make the choice doubtful.

    Returns
    -------
    OperatingPoint
    """
    levels = np.asarray(levels)
    check_volume(levels, name="levels", min_size=1, check_finite=False)
    if levels.dtype != np.uint8:
        raise UnpickInputError(f"levels: expected a uint8 decision-level volume, got dtype {levels.dtype}")
    if limits.max_size_voxels is None:
        raise UnpickInputError(
            "limits: the operating point needs a maximum particle size; give a particle radius (--particle-radius Å)"
        )
    tails = np.asarray(tail_fractions, dtype=np.float64)
    lo = int(np.searchsorted(-tails, -SWEEP_TAIL_RANGE[1], side="left"))
    hi = int(np.searchsorted(-tails, -SWEEP_TAIL_RANGE[0], side="left"))
    lo, hi = max(lo, 1), max(min(hi, len(tails) - 1), 1)
    candidates = list(range(lo, hi + 1, SWEEP_STEP))
    components = nested_components(_centred_crop(levels, SWEEP_MAX_VOXELS), candidates, connectivity)
    sweep = [_candidate_row(k, float(tails[k]), found, limits) for k, found in zip(candidates, components)]
    _add_stability(sweep)
    admissible = [r for r in sweep if _admissible_share(r) >= MIN_PARTICLE_SIZED_SHARE]
    if admissible:
        row = _most_stable(admissible)
        reason = (
            f"level {row['level']}: {row['n_persistent']} particle-sized components with a high peak "
            f"({row['purity']:.0%} of the particle-sized ones), {100 * row['count_change']:.0f} % change in their "
            f"number {STABILITY_REACH * SWEEP_STEP} levels either side, the most stable count of {len(sweep)} "
            f"levels; {100 * row['tail_fraction']:.2f} % of "
            f"voxels, {row['particle_sized_share']:.0%} of the mask particle-sized"
        )
        doubtful = row["n_persistent"] < min_components
        if doubtful:
            reason += f" (fewer than {min_components}: check the particle radius and the masks)"
        return OperatingPoint(level=row["level"], reason=reason, sweep=sweep, doubtful=doubtful)
    best_share = max(_admissible_share(r) for r in sweep)
    row = _most_stable([r for r in sweep if _admissible_share(r) >= FALLBACK_SHARE_FRACTION * best_share])
    return OperatingPoint(
        level=row["level"],
        reason=(
            f"no level has {MIN_PARTICLE_SIZED_SHARE:.0%} of its mask in particle-sized components (at most "
            f"{best_share:.0%}); took the most stable count among levels with at least "
            f"{FALLBACK_SHARE_FRACTION:.0%} of that share: level "
            f"{row['level']}, {row['n_persistent']} components, {100 * row['tail_fraction']:.2f} % of voxels: "
            f"check the particle radius and the masks"
        ),
        sweep=sweep,
        doubtful=True,
    )


def _add_stability(sweep: list[dict[str, Any]]) -> None:
    """Give each row ``count_change`` (relative change of ``n_persistent`` between the candidates
    ``STABILITY_REACH`` below and above; the edges compare with themselves) and
    ``stable_count`` = n_persistent x sqrt(1 - count_change) x purity."""
    counts = [r["n_persistent"] for r in sweep]
    for i, row in enumerate(sweep):
        below = counts[i - STABILITY_REACH] if i >= STABILITY_REACH else counts[i]
        above = counts[i + STABILITY_REACH] if i + STABILITY_REACH < len(counts) else counts[i]
        change = abs(below - above) / counts[i] if counts[i] else 1.0
        row["count_change"] = float(change)
        row["stable_count"] = float(counts[i] * math.sqrt(max(0.0, 1.0 - change)) * row["purity"])


def _most_stable(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with the largest stable count; among equals the looser level (fuller particles)."""
    return max(rows, key=lambda r: (r["stable_count"], -r["level"]))


def _admissible_share(row: dict[str, Any]) -> float:
    return row["particle_sized_share"] + GIANT_WEIGHT * row["giant_share"]


def _candidate_row(level: int, tail: float, components: Components, limits: InstanceLimits) -> dict[str, Any]:
    """The sweep's row of the candidate mask ``levels >= level`` from its components' sizes and
    peaks: a component is persistent when particle-sized and its peak reaches
    ``PERSISTENCE_LEVELS`` above ``level``."""
    sizes = components.sizes
    total = max(int(sizes.sum()), 1)
    sized = (sizes >= limits.min_size_voxels) & (sizes <= limits.max_size_voxels)
    giant = sizes > limits.max_size_voxels
    persistent = sized & (components.peaks >= min(level + PERSISTENCE_LEVELS, np.iinfo(np.uint8).max))
    return {
        "level": level,
        "tail_fraction": tail,
        "n_components": int(sizes.size),
        "n_particle_sized": int(np.count_nonzero(sized)),
        "n_persistent": int(np.count_nonzero(persistent)),
        "purity": float(np.count_nonzero(persistent) / max(int(np.count_nonzero(sized)), 1)),
        "particle_sized_share": float(sizes[sized].sum() / total),
        "giant_share": float(sizes[giant].sum() / total),
        "speck_share": float(sizes[~sized & ~giant].sum() / total),
    }


def _centred_crop(volume: np.ndarray, max_voxels: int) -> np.ndarray:
    """A view of ``volume`` cropped in (Y, X) about its centre to at most ``max_voxels`` voxels."""
    depth, height, width = volume.shape
    if volume.size <= max_voxels:
        return volume
    side = max(1, math.isqrt(max_voxels // depth))
    ny, nx = min(height, side), min(width, max(1, max_voxels // (depth * min(height, side))))
    y0, x0 = (height - ny) // 2, (width - nx) // 2
    return volume[:, y0 : y0 + ny, x0 : x0 + nx]
