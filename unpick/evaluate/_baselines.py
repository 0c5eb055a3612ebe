"""Baseline pickers every evaluation is compared with: uniform random points and a DoG blob picker."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.ndimage as ndi
from skimage.feature import peak_local_max

from .._shared import UnpickInputError, as_rng, check_positive, check_shape, check_volume, check_z_range, make_picks

logger = logging.getLogger(__name__)

DEFAULT_DOG_SIGMAS = (3.0, 6.0)  # voxels; σ 3/6 works on 10 Å data with particle radii 40–108 Å


def check_mask(mask: Any, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Return ``mask`` as a boolean array of ``shape`` (or None)."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise UnpickInputError(f"mask: expected a boolean volume of shape {shape}, got shape {arr.shape}")
    return arr.astype(bool, copy=False)


def in_z_range(points_zyx: np.ndarray, z_range: tuple[int, int]) -> np.ndarray:
    """Boolean mask of points whose nearest voxel slice lies in the half-open ``[z0, z1)``."""
    z0, z1 = z_range
    z = points_zyx[:, 0]
    return (z >= z0 - 0.5) & (z < z1 - 0.5)


def random_points(
    n: int,
    shape_zyx: Any,
    *,
    rng: int | np.random.Generator | None = 0,
    z_range: tuple[int, int] | None = None,
    mask: Any = None,
) -> np.ndarray:
    """Uniformly random points inside a volume, a half-open z-slab and/or a boolean mask.

    Each voxel ``[iz, iy, ix]`` covers the unit cube centred on ``(iz, iy, ix)``, so points are
    continuous and uniform over the union of the allowed voxels' cubes.

    Parameters
    ----------
    n : int
        Number of points (>= 0).
    shape_zyx : (3,) ints
        Volume shape (Z, Y, X).
    rng : int, Generator or None
        Seed or generator.
    z_range : (z0, z1), optional
        Half-open slice range ``[z0, z1)``; default: all slices.
    mask : (Z, Y, X) bool array_like, optional
        Allowed voxels (combined with ``z_range``); sampled by rejection, exactly uniform.

    Returns
    -------
    (n, 3) float64 array
        zyx voxel coordinates.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise UnpickInputError(f"n: expected a non-negative integer number of points, got {n!r}")
    shape = check_shape(shape_zyx, "shape_zyx")
    z0, z1 = check_z_range(z_range, shape[0])
    allowed = check_mask(mask, shape)
    gen = as_rng(rng)
    low = np.array([z0, 0, 0], dtype=np.float64) - 0.5
    high = np.array([z1, shape[1], shape[2]], dtype=np.float64) - 0.5
    if allowed is None:
        return gen.uniform(low, high, size=(int(n), 3))
    fraction = np.count_nonzero(allowed[z0:z1]) / float((z1 - z0) * shape[1] * shape[2])
    if fraction == 0:
        raise UnpickInputError(f"mask: no allowed voxel inside slices [{z0}, {z1}); widen the z-range or fix the mask")
    chunks, have = [], 0
    while have < n:
        batch = gen.uniform(low, high, size=(int(math.ceil((n - have) / fraction * 1.2)) + 16, 3))
        index = np.clip(np.floor(batch + 0.5).astype(np.int64), 0, np.array(shape) - 1)
        kept = batch[allowed[index[:, 0], index[:, 1], index[:, 2]]]
        chunks.append(kept)
        have += len(kept)
    return np.concatenate(chunks)[: int(n)] if chunks else np.zeros((0, 3))


def dog_sigmas_from_radius(radius_voxels: float) -> tuple[float, float]:
    """DoG widths ``(σ_small, σ_large)`` in voxels for particles of a given radius.

    ``σ_small = r / √3`` is the scale at which the scale-normalised Laplacian of Gaussian of a
    solid 3-D ball of radius ``r`` peaks (r = √3·σ); ``σ_large = 2·σ_small``. For r ≈ 5.2 voxels
    this gives the σ = 3 and 6 voxels that work on 10 Å data with radii of 40–108 Å.
    """
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    small = radius / math.sqrt(3.0)
    return small, 2.0 * small


def _mean_std(volume: np.ndarray, slab: int = 16) -> tuple[float, float]:
    """Mean and standard deviation in float64, slab by slab (no full-size float64 temporary)."""
    total = total_sq = 0.0
    for z0 in range(0, volume.shape[0], slab):
        block = volume[z0 : z0 + slab].astype(np.float64)
        total += float(block.sum())
        total_sq += float(np.square(block).sum())
    n = float(volume.size)
    mean = total / n
    return mean, math.sqrt(max(total_sq / n - mean * mean, 0.0))


def dog_picks(
    volume: Any,
    *,
    sigma_small_voxels: float = DEFAULT_DOG_SIGMAS[0],
    sigma_large_voxels: float = DEFAULT_DOG_SIGMAS[1],
    threshold_sd: float = 3.0,
    min_distance_voxels: int | None = None,
    protein_dark: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Difference-of-Gaussians blob picker: the simple baseline every workflow must beat.

    The response is ``G(σ_small) − G(σ_large)`` of the volume, negated when protein is dark so
    that particles are maxima, then standardised (zero mean, unit standard deviation over the
    volume). Peaks are local maxima (``skimage.feature.peak_local_max``, border peaks kept)
    above ``threshold_sd``.

    Parameters
    ----------
    volume : (Z, Y, X) array_like
        Tomogram (any real dtype; a memory-mapped float16 volume is read once into float32).
    sigma_small_voxels, sigma_large_voxels : float
        Gaussian widths in voxels, ``0 < σ_small < σ_large``; see :func:`dog_sigmas_from_radius`.
    threshold_sd : float
        Minimum response, in standard deviations of the DoG response.
    min_distance_voxels : int, optional
        Minimum peak separation in voxels. Default: ``round(√3·σ_small)``, the particle radius
        that ``σ_small`` is tuned to (:func:`dog_sigmas_from_radius`), at least 1.
    protein_dark : bool
        True when protein is darker than the background (the usual cryo-ET convention).

    Returns
    -------
    coords_zyx : (N, 3) float64 array
        Peak positions (voxel centres), strongest first.
    scores : (N,) float64 array
        Standardised DoG response at each peak.

    Notes
    -----
    Memory: the input plus two float32 volumes. The large blur is computed from the small
    one with ``σ' = sqrt(σ_large² − σ_small²)`` (Gaussians compose), in place where possible.
    """
    volume = check_volume(volume, name="volume")
    small = check_positive(sigma_small_voxels, "sigma_small_voxels", unit="voxels")
    large = check_positive(sigma_large_voxels, "sigma_large_voxels", unit="voxels")
    if large <= small:
        raise UnpickInputError(
            f"sigma_large_voxels: expected a value larger than sigma_small_voxels ({small}), got {large}"
        )
    if min_distance_voxels is None:
        min_distance = max(1, int(round(math.sqrt(3.0) * small)))
    elif isinstance(min_distance_voxels, (int, np.integer)) and min_distance_voxels >= 1:
        min_distance = int(min_distance_voxels)
    else:
        raise UnpickInputError(f"min_distance_voxels: expected an integer >= 1, got {min_distance_voxels!r}")
    if volume.dtype not in (np.float32, np.float64):
        volume = np.asarray(volume, dtype=np.float32)
    blur_small = ndi.gaussian_filter(volume, small, output=np.float32, mode="reflect")
    blur_large = ndi.gaussian_filter(blur_small, math.sqrt(large**2 - small**2), output=np.float32, mode="reflect")
    if protein_dark:
        blur_large -= blur_small
        response = blur_large
    else:
        blur_small -= blur_large
        response = blur_small
    del blur_small, blur_large
    mean, sd = _mean_std(response)
    if sd == 0:
        logger.info("DoG response is constant (a flat volume): no peaks")
        return np.zeros((0, 3)), np.zeros(0)
    response -= np.float32(mean)
    response /= np.float32(sd)
    peaks = peak_local_max(
        response,
        min_distance=min_distance,
        threshold_abs=float(threshold_sd),
        exclude_border=False,
    )
    scores = response[tuple(peaks.T)].astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    logger.info("DoG (σ %.2f/%.2f voxels, > %.1f SD): %d peaks", small, large, threshold_sd, len(peaks))
    return peaks[order].astype(np.float64), scores[order]


def baseline_picks(
    volume: Any,
    *,
    n_random: int,
    voxel_size_angstrom: float,
    particle_radius_angstrom: float | None = None,
    rng: int | np.random.Generator | None = 0,
    z_range: tuple[int, int] | None = None,
) -> dict[str, pd.DataFrame]:
    """Picks tables of the two baselines, ``{"random": ..., "dog": ...}``, for an evaluation table.

    Parameters
    ----------
    volume : (Z, Y, X) array_like
        The tomogram.
    n_random : int
        Number of uniform random picks (e.g. the median pick count of the compared workflows).
    voxel_size_angstrom : float
        Voxel size in Å.
    particle_radius_angstrom : float, optional
        Expected particle radius in Å; sets the DoG widths (:func:`dog_sigmas_from_radius`).
        Default: σ = 3 and 6 voxels.
    rng : int, Generator or None
        Seed for the random picks.
    z_range : (z0, z1), optional
        Half-open slice range both baselines are restricted to.

    Returns
    -------
    dict of str to pandas.DataFrame
        Picks tables (``make_picks``) with ``workflow`` "random" and "dog".
    """
    volume = check_volume(volume, name="volume", check_finite=False)
    voxel = check_positive(voxel_size_angstrom, "voxel_size_angstrom", unit="Å")
    if particle_radius_angstrom is None:
        small, large = DEFAULT_DOG_SIGMAS
    else:
        radius = check_positive(particle_radius_angstrom, "particle_radius_angstrom", unit="Å")
        small, large = dog_sigmas_from_radius(radius / voxel)
    z0, z1 = check_z_range(z_range, volume.shape[0])
    halo = int(math.ceil(4 * large))
    lo, hi = max(0, z0 - halo), min(volume.shape[0], z1 + halo)
    coords, scores = dog_picks(volume[lo:hi], sigma_small_voxels=small, sigma_large_voxels=large)
    coords[:, 0] += lo
    keep = in_z_range(coords, (z0, z1))
    random = random_points(n_random, volume.shape, rng=rng, z_range=(z0, z1))
    return {
        "random": make_picks(random, voxel_size_angstrom=voxel, score=np.zeros(len(random)), workflow="random"),
        "dog": make_picks(coords[keep], voxel_size_angstrom=voxel, score=scores[keep], workflow="dog"),
    }
