"""The specimen slab: z-slices with structure, found from the profile of low-pass contrast."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._blur import iter_blurred_chunks

#: Structure of a slice = standard deviation of the volume blurred by STRUCTURE_BLUR voxels
#: (noise averages out, particles and membranes do not), relative to the median slice.
STRUCTURE_BLUR = 2.0
#: Slices under this relative structure are empty (above and below a lamella or the ice layer:
#: 0.6 on polnet tomo_04's empty slabs, 0.9-1.1 inside its specimen).
EMPTY_STRUCTURE = 0.7
#: A run of empty slices from a face counts only when at least this many particle radii thick:
#: the first few slices of any reconstruction are thinner in structure (cut particles) without
#: being empty (polnet tomo_01: 15 slices at 0.5-0.66 that still hold 13 particles).
MIN_EMPTY_RADII = 3.0


@dataclasses.dataclass(frozen=True)
class SpecimenSlab:
    """The half-open z-range ``[z0, z1)`` that holds the specimen, with the evidence."""

    z_range: tuple[int, int]
    structure: np.ndarray

    def to_record(self) -> dict[str, Any]:
        return {
            "z_range": list(self.z_range),
            "relative_structure_per_slice": np.round(self.structure, 3).tolist(),
        }


def find_specimen_slab(volume: Any, *, radius_voxels: float) -> SpecimenSlab:
    """Find the empty slabs above and below the specimen and return the slab between them.

    The specimen starts, from each face, at the first slice from which the relative structure
    stays at or above ``EMPTY_STRUCTURE`` for one particle radius (an isolated bright slice at a
    face is a reconstruction edge effect, not specimen).

    Parameters
    ----------
    volume : (Z, Y, X) array
        The tomogram (raw or preprocessed: the measure is relative).
    radius_voxels : float
        Expected particle radius; an empty run must be ``MIN_EMPTY_RADII`` radii thick.

    Returns
    -------
    SpecimenSlab
        The whole depth when no face has an empty run.
    """
    depth = volume.shape[0]
    structure = np.empty(depth)
    for z0, z1, block in iter_blurred_chunks(volume, STRUCTURE_BLUR):
        structure[z0:z1] = block.reshape(z1 - z0, -1).std(axis=1)
    relative = structure / max(float(np.median(structure)), np.finfo(float).tiny)
    min_run = max(1, int(np.ceil(MIN_EMPTY_RADII * radius_voxels)))
    hold = max(1, int(np.ceil(radius_voxels)))
    top = _first_sustained(relative >= EMPTY_STRUCTURE, hold)
    bottom = _first_sustained((relative >= EMPTY_STRUCTURE)[::-1], hold)
    z0 = top if top >= min_run else 0
    z1 = depth - bottom if bottom >= min_run else depth
    if z0 >= z1:  # everything looks empty: a blank volume, not a slab
        z0, z1 = 0, depth
    return SpecimenSlab(z_range=(z0, z1), structure=relative)


def _first_sustained(flags: np.ndarray, hold: int) -> int:
    """Index of the first run of ``hold`` consecutive True flags (``len(flags)`` when none)."""
    run = np.convolve(flags.astype(int), np.ones(hold, dtype=int), mode="valid")
    hits = np.flatnonzero(run == hold)
    return int(hits[0]) if hits.size else len(flags)
