"""Membranes: found as sheet-like structure (a planar structure tensor), excluded from particle masks.

A lipid membrane is a sheet: over a window the size of a particle, its intensity gradients all
point one way (across the sheet), so the structure tensor has one dominant eigenvalue. A
particle, ball- or rod-shaped, has gradients in at least two directions. The planarity
``(mu1 - mu2) / mu1`` of the tensor's eigenvalues ``mu1 >= mu2 >= mu3`` separates the two without
any threshold on intensity: on unpick's demo volume 98 % of the membrane voxels exceed 0.95 and
99.6 % of the particle voxels stay under 0.8; on polnet tomo_01 no particle centre exceeds 0.75,
membrane-bound receptors included (median 0.36), while the vesicle walls do.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from .._shared import thread_map
from ._blur import blur_core

#: Voxels whose structure tensor has a planarity of at least this (and at least the median
#: structure energy, so that flat noise is left alone) are membrane (chosen on the demo volume
#: and polnet tomo_01; benchmarks/README.md).
MEMBRANE_PLANARITY = 0.8
#: The tensor is averaged over a Gaussian window of this many particle radii: a particle's own
#: gradients then fill the window around its centre, a membrane's stay parallel across it.
INTEGRATION_RADII = 0.8
#: Gradients are taken at this scale, in voxels of the binned volume.
DERIVATIVE_SIGMA = 0.75
#: The volume is binned by ``floor(radius / BIN_RADII)`` (1 to MAX_BINNING) first (``bin_for_membranes``).
BIN_RADII = 3.0
MAX_BINNING = 4
CHUNK_SLICES = 32  # binned z-slices per chunk of the tensor computation
MAX_THREADS = 2  # chunks computed at once on threads (each holds about ten float32 fields of its slab)
_FIELDS_PER_CHUNK = 10
#: Voxels per piece of the eigenvalue computation: its temporaries then stay in the CPU cache
#: (2.8x faster than over a whole chunk).
EIGEN_PIECE = 1 << 14


@dataclasses.dataclass(frozen=True)
class Membranes:
    """Sheet-like voxels of a tomogram, held at the binning they were found at.

    Attributes
    ----------
    binned_mask : (Z/b, Y/b, X/b) bool array
        Membrane voxels of the binned volume.
    binning : int
        Edge of the binning cube b in voxels.
    shape_zyx : tuple of int
        Shape of the full-resolution tomogram.
    integration_sigma_voxels : float
        Width of the tensor's averaging window, full-resolution voxels.
    """

    binned_mask: np.ndarray
    binning: int
    shape_zyx: tuple[int, int, int]
    integration_sigma_voxels: float

    @property
    def voxel_share(self) -> float:
        """Share of the tomogram's voxels that are membrane."""
        return float(np.count_nonzero(self.binned_mask)) / max(self.binned_mask.size, 1)

    @functools.cached_property
    def _plane_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Binned row and column of every full-resolution row and column (nearest binned voxel)."""
        b, (_, height, width) = self.binning, self.binned_mask.shape
        rows = np.minimum(np.arange(self.shape_zyx[1]) // b, height - 1)
        cols = np.minimum(np.arange(self.shape_zyx[2]) // b, width - 1)
        return rows[:, None], cols[None, :]

    def slab_mask(self, z: int) -> np.ndarray:
        """The (Y, X) bool membrane mask of full-resolution slice ``z`` (nearest binned voxel)."""
        rows, cols = self._plane_index
        return self.binned_mask[min(z // self.binning, self.binned_mask.shape[0] - 1)][rows, cols]

    def to_record(self) -> dict[str, Any]:
        return {
            "voxel_share": round(self.voxel_share, 5),
            "binning": self.binning,
            "integration_sigma_voxels": round(self.integration_sigma_voxels, 2),
            "planarity_threshold": MEMBRANE_PLANARITY,
        }


def find_membranes(volume: Any, *, radius_voxels: float) -> Membranes:
    """Find the sheet-like voxels of a tomogram (membranes, and any other flat structure).

    The volume is binned (:func:`bin_for_membranes`: mean of b³ voxels, read z-chunk by z-chunk),
    then :func:`membranes_in_binned` finds the sheets in it. A caller that wants the input's
    pages back early (a memory-mapped file) can run the two steps itself: only the first reads
    the tomogram.

    Parameters
    ----------
    volume : (Z, Y, X) array
        The tomogram (any real dtype; either contrast polarity).
    radius_voxels : float
        The expected particle radius in voxels.

    Returns
    -------
    Membranes
    """
    binned, binning = bin_for_membranes(volume, radius_voxels=radius_voxels)
    return membranes_in_binned(binned, binning=binning, shape_zyx=volume.shape, radius_voxels=radius_voxels)


def bin_for_membranes(volume: Any, *, radius_voxels: float) -> tuple[np.ndarray, int]:
    """The tomogram binned for the membrane finder: ``(mean of each b×b×b cube as float32, b)``,
    with ``b = floor(radius / BIN_RADII)`` in 1..MAX_BINNING (a sheet a few voxels thick stays a
    sheet, and the tensor costs 1/b³ of the full-resolution one)."""
    binning = int(min(MAX_BINNING, max(1, math.floor(radius_voxels / BIN_RADII))))
    return _bin(volume, binning), binning


def membranes_in_binned(
    binned: np.ndarray,
    *,
    binning: int,
    shape_zyx: tuple[int, ...],
    radius_voxels: float,
    chunk_bytes: float | None = None,
) -> Membranes:
    """The membranes of a tomogram of ``shape_zyx`` from its binned volume (:func:`bin_for_membranes`).

    Gaussian gradients of the binned volume (``DERIVATIVE_SIGMA``) form the structure tensor,
    averaged over ``INTEGRATION_RADII`` particle radii, and a voxel is membrane where the tensor's
    planarity reaches ``MEMBRANE_PLANARITY`` and its largest eigenvalue the median one. The tensor
    is computed in z-chunks with a halo, so the memory is the binned volume, its largest
    eigenvalues, one bool per voxel and one chunk of tensor fields per thread: up to
    ``MAX_THREADS`` threads, fewer where their chunks (about ten float32 fields of a slab with its
    halo each) would hold more than ``chunk_bytes`` together (None: no bound; one chunk always).
    """
    sigma = INTEGRATION_RADII * radius_voxels / binning
    halo = int(math.ceil(4 * sigma + 4 * DERIVATIVE_SIGMA)) + 1
    depth = binned.shape[0]
    planar = np.empty(binned.shape, dtype=bool)
    energy = np.empty(binned.shape, dtype=np.float32)

    def fill(z0: int) -> None:
        z1 = min(depth, z0 + CHUNK_SLICES)
        lo, hi = max(0, z0 - halo), min(depth, z1 + halo)
        planarity, energy[z0:z1] = _planarity(binned[lo:hi], sigma, core=slice(z0 - lo, z1 - lo))
        planar[z0:z1] = planarity >= MEMBRANE_PLANARITY

    threads = MAX_THREADS
    if chunk_bytes is not None:
        per_chunk = _FIELDS_PER_CHUNK * (CHUNK_SLICES + 2 * halo) * binned.shape[1] * binned.shape[2] * 4
        threads = max(1, min(MAX_THREADS, int(chunk_bytes // per_chunk)))
    thread_map(fill, range(0, depth, CHUNK_SLICES), max_threads=threads)
    mask = planar & (energy >= np.median(energy))
    return Membranes(mask, binning, tuple(int(n) for n in shape_zyx), sigma * binning)


def exclude_membranes(levels: np.ndarray, membranes: Membranes) -> int:
    """Zero, in place, ``levels`` on membrane voxels; returns the number of nonzero voxels cleared.

    Only the sheet goes: a protein sitting on the membrane keeps its own voxels, so it is split
    from the membrane instead of being dropped with it.
    """
    if tuple(levels.shape) != membranes.shape_zyx:
        raise ValueError(f"levels of shape {levels.shape} do not match membranes of {membranes.shape_zyx}")
    cleared, b = 0, membranes.binning
    depth = levels.shape[0]
    for z0 in range(0, depth, b):  # one upsampled plane per binned slice, applied to its b slices
        z1 = depth if z0 // b == membranes.binned_mask.shape[0] - 1 else min(depth, z0 + b)
        sheet = membranes.slab_mask(z0)
        for plane in levels[z0:z1]:
            cleared += int(np.count_nonzero(plane[sheet]))
            plane[sheet] = 0
        if z1 == depth:
            break
    return cleared


def _bin(volume: Any, b: int) -> np.ndarray:
    """Mean of each b×b×b cube (trailing voxels that fill no cube are dropped), float32, chunks of
    binned slices side by side on CPU threads (each writes its own slices: the same result)."""
    depth, height, width = (n // b for n in volume.shape)
    out = np.empty((depth, height, width), dtype=np.float32)

    def fill(zb0: int) -> None:
        zb1 = min(depth, zb0 + CHUNK_SLICES)
        block = np.asarray(volume[zb0 * b : zb1 * b, : height * b, : width * b], dtype=np.float32)
        out[zb0:zb1] = block.reshape(zb1 - zb0, b, height, b, width, b).mean(axis=(1, 3, 5))

    thread_map(fill, range(0, depth, CHUNK_SLICES), max_threads=MAX_THREADS)
    return out


def _planarity(block: np.ndarray, sigma: float, *, core: slice) -> tuple[np.ndarray, np.ndarray]:
    """Planarity ``(mu1 - mu2) / mu1`` and largest eigenvalue ``mu1`` of the structure tensor of
    the ``core`` z-slices of ``block`` (the rest is halo). Each smoothed tensor field is cut to the
    core by its z pass (``blur_core``), so the halo costs three gradient fields and one z pass
    per field, not nine fields, the y and x passes and the eigenvalue temporaries. Every pass,
    the gradients' included, is a banded matrix product (``gaussian_pass``)."""
    gradients = [
        blur_core(block, DERIVATIVE_SIGMA, slice(None), orders=tuple(int(i == axis) for i in range(3))) for axis in range(3)
    ]
    tensor = {  # each a new core-sized array: the halo-sized product goes at once
        (i, j): blur_core(gradients[i] * gradients[j], sigma, core) for i in range(3) for j in range(i, 3)
    }
    del gradients
    fields = {key: field.reshape(-1) for key, field in tensor.items()}
    planarity, mu1 = np.empty((2, *tensor[0, 0].shape), dtype=np.float32)
    for start in range(0, planarity.size, EIGEN_PIECE):  # a few dozen temporaries, in cache
        piece = slice(start, start + EIGEN_PIECE)
        largest, middle = _largest_eigenvalues({key: field[piece] for key, field in fields.items()})
        mu1.reshape(-1)[piece] = largest
        planarity.reshape(-1)[piece] = (largest - middle) / np.maximum(largest, np.finfo(np.float32).tiny)
    return planarity, mu1


def _largest_eigenvalues(t: dict[tuple[int, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The two largest eigenvalues of a field of symmetric 3×3 matrices (closed form, trigonometric).

    With ``q = trace / 3``, ``p² = (|A - qI|_F²) / 6`` and ``r = det((A - qI) / p) / 2``, the
    eigenvalues are ``q + 2p cos(acos(r) / 3 + 2πk / 3)``, k = 0 (largest), 2 (middle), 1 (smallest).
    """
    a00, a11, a22, a01, a02, a12 = t[0, 0], t[1, 1], t[2, 2], t[0, 1], t[0, 2], t[1, 2]
    q = (a00 + a11 + a22) / 3.0
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    off = a01 * a01 + a02 * a02 + a12 * a12
    p = np.sqrt(np.maximum((b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * off) / 6.0, 0.0))
    det = b00 * (b11 * b22 - a12 * a12) - a01 * (a01 * b22 - a12 * a02) + a02 * (a01 * a12 - b11 * a02)
    safe = np.where(p > 0, p, 1.0)
    r = np.clip(det / (2.0 * safe**3), -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    middle = q + 2.0 * p * np.cos(phi + 4.0 * np.pi / 3.0)
    return largest.astype(np.float32), middle.astype(np.float32)
