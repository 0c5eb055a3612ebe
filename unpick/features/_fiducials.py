"""Gold fiducials: found as voxels of extreme density, excluded with their streaks from picking."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._shared import UnpickInputError, as_rng, sparse_components, voxel_label_sums
from ._blur import CHUNK_SLICES, iter_blurred_chunks

logger = logging.getLogger(__name__)

#: A voxel of the lightly blurred tomogram (sigma FIDUCIAL_BLUR voxels) further than this many
#: robust standard deviations (1.4826 x MAD) from the median belongs to a fiducial. Protein stays
#: under 13 robust SD on polnet tomo_01 (the least noisy); 8x-protein gold beads exceed 15.
FIDUCIAL_SD = 15.0
FIDUCIAL_BLUR = 1.0
#: ... and further than PROTEIN_MARGIN times the PROTEIN_QUANTILE of the deviations (dense
#: protein; beads may hold more than 0.1 % of a small volume): in a low-noise tomogram the robust
#: spread is small and protein alone exceeds 15 SD.
PROTEIN_QUANTILE = 0.99
PROTEIN_MARGIN = 2.0
#: Extreme components under this many voxels are hot pixels, not beads.
MIN_FIDUCIAL_VOXELS = 10
#: Tilt series carry tens of beads. More extreme components than this are mostly dense particles
#: (a sparse, low-noise volume: little but particles and empty ice, where protein passes the
#: cutoff): then only those above a step of GOLD_GAP times in the sorted peak deviations are gold
#: (beads are several times denser than protein: 370 against at most 52 robust SD on a sparse
#: 200x512x512 simulation whose 486 particles passed the cutoff), and without such a step none is.
PLAUSIBLE_FIDUCIALS = 100
GOLD_GAP = PROTEIN_MARGIN
#: Picks are excluded within this many bead radii of a bead in (Y, X) and, for the missing-wedge
#: streaks along the beam, Z_STRETCH times that along z.
EXCLUSION_RADII = 3.0
Z_STRETCH = 2.0
_SAMPLE = 200_000


@dataclasses.dataclass(frozen=True)
class Fiducials:
    """Beads found in a tomogram: centres (K, 3) zyx voxels and equivalent radii (K,) voxels."""

    centres_zyx: np.ndarray
    radii_voxels: np.ndarray

    def __len__(self) -> int:
        return len(self.radii_voxels)

    def to_record(self) -> dict[str, Any]:
        return {
            "n_fiducials": len(self),
            "centres_zyx": np.round(self.centres_zyx, 1).tolist(),
            "radii_voxels": np.round(self.radii_voxels, 2).tolist(),
        }


def find_fiducials(
    volume: Any, *, rng: int | np.random.Generator | None = 0, blurred: np.ndarray | None = None
) -> Fiducials:
    """Find gold fiducials as connected components of extreme density.

    The median and robust spread come from a seeded voxel sample of the blurred central slab; the
    volume is blurred by ``FIDUCIAL_BLUR`` voxels z-chunk by z-chunk (with a halo), so memory is
    one chunk per thread plus the indices of the extreme voxels (no volume-sized mask or label
    array). Components of at least ``MIN_FIDUCIAL_VOXELS`` voxels beyond ``FIDUCIAL_SD`` robust
    standard deviations and twice the 99th percentile deviation, on either side (the dark core
    and the bright phase-contrast halo), are beads; each has its centroid and the radius of a
    sphere of its volume.

    Parameters
    ----------
    volume : (Z, Y, X) array
        The raw tomogram (not robust-scaled: scaling clips the beads into the particles' range).
    rng : int, Generator or None
        Seed of the voxel sample.
    blurred : (Z, Y, X) float32 array, optional
        ``volume`` already blurred by ``FIDUCIAL_BLUR`` voxels (preprocessing's blur at its default
        sigma, ``unpick.features.blur_tomogram``, before rescaling): read instead of blurring
        again, with the same result.

    Returns
    -------
    Fiducials
    """
    depth = volume.shape[0]
    if blurred is not None and blurred.shape != volume.shape:
        raise UnpickInputError(f"blurred: expected the shape of the volume {volume.shape}, got {blurred.shape}")
    # the spread of the blurred volume, from a seeded sample of its central slab
    middle = max(0, depth // 2 - CHUNK_SLICES // 2)
    central = next(_blurred_chunks(volume, blurred, z_range=(middle, min(depth, middle + CHUNK_SLICES))))
    central = central[2].ravel()
    sample = central[as_rng(rng).integers(0, central.size, size=min(_SAMPLE, central.size))].astype(np.float64)
    median = float(np.median(sample))
    deviation = np.abs(sample - median)
    spread = 1.4826 * float(np.median(deviation))
    if spread <= 0:
        return Fiducials(np.zeros((0, 3)), np.zeros(0))
    # protein reaches the top per mille of the deviations; gold lies far beyond it even where the
    # noise (and so the robust spread) is small
    cutoff = max(FIDUCIAL_SD * spread, PROTEIN_MARGIN * float(np.quantile(deviation, PROTEIN_QUANTILE)))
    plane = int(np.prod(volume.shape[1:]))
    extreme, deviations = [], []  # the extreme voxels (flat indices): rare, so no volume-sized mask or labels
    for z0, _, block in _blurred_chunks(volume, blurred, z_range=(0, depth)):
        deviation = np.abs(block.ravel() - median)
        found = np.flatnonzero(deviation > cutoff)
        extreme.append(found + z0 * plane)
        deviations.append(deviation[found])
    extreme = np.concatenate(extreme)
    ids, n = sparse_components(extreme, tuple(volume.shape), connectivity=3)
    if not n:
        return Fiducials(np.zeros((0, 3)), np.zeros(0))
    sums = voxel_label_sums(extreme, ids, tuple(volume.shape), n)
    peaks = np.zeros(n + 1)
    np.maximum.at(peaks, ids, np.concatenate(deviations))
    keep = _gold_only(np.flatnonzero(sums.sizes[1:] >= MIN_FIDUCIAL_VOXELS) + 1, peaks / spread)
    centres = (sums.coordinate_sums[keep] / sums.sizes[keep, None]).reshape(-1, 3)
    radii = (3.0 * sums.sizes[keep] / (4.0 * np.pi)) ** (1.0 / 3.0)
    return Fiducials(centres, radii)


def _blurred_chunks(volume: Any, blurred: np.ndarray | None, *, z_range: tuple[int, int]) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(z0, z1, block)`` of ``volume`` blurred by ``FIDUCIAL_BLUR`` over ``z_range``: slices of
    ``blurred`` when given, else blurred chunk by chunk (the same values, bit for bit)."""
    if blurred is None:
        yield from iter_blurred_chunks(volume, FIDUCIAL_BLUR, z_range=z_range)
        return
    for z0 in range(z_range[0], z_range[1], CHUNK_SLICES):
        z1 = min(z0 + CHUNK_SLICES, z_range[1])
        yield z0, z1, blurred[z0:z1]


def _gold_only(components: np.ndarray, peaks_sd: np.ndarray) -> np.ndarray:
    """The ``components`` (label order) that are gold, from their peak deviations (robust SD):
    all of them when plausibly few, else those above a step of ``GOLD_GAP`` times (none without)."""
    if components.size <= PLAUSIBLE_FIDUCIALS:
        return components
    order = np.argsort(-peaks_sd[components], kind="stable")
    ranked = peaks_sd[components][order]
    steps = ranked[:-1] / ranked[1:]
    top = int(np.argmax(steps))
    if steps[top] >= GOLD_GAP:
        logger.info(
            "%d extreme-density components: %d above a %.1fx step in peak density (%.0f against at most %.0f robust "
            "SD) are gold, the rest dense particles",
            components.size, top + 1, steps[top], ranked[top], ranked[top + 1],
        )  # fmt: skip
        return np.sort(components[order[: top + 1]])
    logger.warning(
        "%d extreme-density components with no step of %.1fx in peak density between them (%.0f to %.0f robust "
        "SD): dense particles, not gold; none excluded as a fiducial",
        components.size, GOLD_GAP, ranked[0], ranked[-1],
    )  # fmt: skip
    return components[:0]


def exclude_fiducials(levels: np.ndarray, fiducials: Fiducials) -> int:
    """Zero, in place, ``levels`` inside each bead's exclusion ellipsoid; returns voxels cleared.

    The ellipsoid has semi-axes ``EXCLUSION_RADII`` bead radii in (Y, X) and ``Z_STRETCH`` times
    that along z, covering the dark core, the bright halo and the X-shaped streaks.
    """
    cleared = 0
    shape = np.asarray(levels.shape)
    for centre, radius in zip(fiducials.centres_zyx, fiducials.radii_voxels):
        semi = EXCLUSION_RADII * radius * np.array([Z_STRETCH, 1.0, 1.0])
        lo = np.maximum(np.floor(centre - semi).astype(int), 0)
        hi = np.minimum(np.ceil(centre + semi).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        inside = sum(((g - c) / s) ** 2 for g, c, s in zip(grids, centre, semi)) <= 1.0
        box = levels[tuple(slice(a, b) for a, b in zip(lo, hi))]
        cleared += int(np.count_nonzero(box[inside]))
        box[inside] = 0
    return cleared
