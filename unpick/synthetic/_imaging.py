"""Imaging model: missing wedge, CTF-like band-pass and noise, applied in Fourier space.

The noise is drawn directly in Fourier space, so the whole model costs one forward FFT (two when
gold fiducials are present, see ``simulate_tomogram``) and one inverse FFT, slab by slab over kz.
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.fft

from ._config import SimulationConfig

SLAB = 16  # Fourier planes (along kz) processed at a time, to bound temporaries


def transfer_function(
    shape_zyx: tuple[int, int, int],
    z_planes: slice,
    *,
    voxel_size_angstrom: float,
    missing_wedge_degrees: float | None,
    bandpass_angstrom: tuple[float, float] | None,
) -> np.ndarray:
    """Real, non-negative transfer function on rfftn planes ``z_planes`` of a ``shape_zyx`` volume.

    Returns
    -------
    np.ndarray
        ``(len(z_planes), Y, X // 2 + 1)`` float32. The missing wedge (tilt axis y) zeroes the
        components with ``|kx| < |kz| tan(w / 2)``; the band-pass is
        ``exp(-f²/2f_lo²) (1 - exp(-f²/2f_hi²))``, ``f`` in cycles/Å.
    """
    nz, ny, nx = shape_zyx
    kz = np.fft.fftfreq(nz)[z_planes][:, None, None]
    ky = np.fft.fftfreq(ny)[None, :, None]
    kx = np.fft.rfftfreq(nx)[None, None, :]
    h = np.ones((len(kz), ny, kx.shape[2]), dtype=np.float32)
    if missing_wedge_degrees is not None:
        h *= np.abs(kx) >= np.abs(kz) * math.tan(math.radians(missing_wedge_degrees) / 2)
    if bandpass_angstrom is not None:
        # Gaussians of f² = kz² + ky² + kx² are products of 1-D factors: no 3-D exponentials
        low, high = bandpass_angstrom
        h *= _separable_gaussian(kz, ky, kx, (low / voxel_size_angstrom) ** 2 / 2)
        h *= 1 - _separable_gaussian(kz, ky, kx, (high / voxel_size_angstrom) ** 2 / 2)
    return h


def _separable_gaussian(kz: np.ndarray, ky: np.ndarray, kx: np.ndarray, a: float) -> np.ndarray:
    """``exp(-a (kz² + ky² + kx²))`` as float32, from three broadcast 1-D factors."""
    factors = [np.exp(-a * k * k).astype(np.float32) for k in (kz, ky, kx)]
    return factors[0] * factors[1] * factors[2]


def _rfft_weights(nx: int) -> np.ndarray:
    """Multiplicity of each rfft column in the full spectrum (1 for DC and Nyquist, else 2)."""
    weights = np.full(nx // 2 + 1, 2.0)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    return weights


def needs_fourier(config: SimulationConfig) -> bool:
    """Whether ``config`` asks for any filtering or noise (otherwise the density is the image)."""
    return config.missing_wedge_degrees is not None or config.bandpass_angstrom is not None or config.noise > 0


def _transfer(config: SimulationConfig, shape_zyx: tuple[int, int, int], z_planes: slice) -> np.ndarray:
    return transfer_function(
        shape_zyx,
        z_planes,
        voxel_size_angstrom=config.voxel_size_angstrom,
        missing_wedge_degrees=config.missing_wedge_degrees,
        bandpass_angstrom=config.bandpass_angstrom,
    )


def _planes(depth: int) -> list[slice]:
    return [slice(z0, min(z0 + SLAB, depth)) for z0 in range(0, depth, SLAB)]


def spectrum_of(density: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """``rfftn`` of a ``(Z, Y, X)`` float32 volume: ``(Z, Y, X // 2 + 1)`` complex64."""
    return scipy.fft.rfftn(density, workers=workers or os.cpu_count() or 1)


def filtered_std(spectrum: np.ndarray, shape_zyx: tuple[int, int, int], config: SimulationConfig) -> float:
    """Real-space standard deviation the filtered volume would have (Parseval, no inverse FFT)."""
    weights = _rfft_weights(shape_zyx[2])
    power = 0.0
    for planes_z in _planes(shape_zyx[0]):
        filtered = _transfer(config, shape_zyx, planes_z) * spectrum[planes_z]
        if planes_z.start == 0:
            filtered[0, 0, 0] = 0  # the mean is no part of the variance
        power += float(np.sum(weights * (filtered.real**2 + filtered.imag**2), dtype=np.float64))
    return math.sqrt(power) / float(np.prod(shape_zyx))


def filter_and_add_noise(
    spectrum: np.ndarray,
    shape_zyx: tuple[int, int, int],
    config: SimulationConfig,
    rng: np.random.Generator,
    *,
    noise_std: float,
    workers: int | None = None,
) -> np.ndarray:
    """Apply the wedge and band-pass to ``spectrum`` (in place) and add equally filtered noise.

    Parameters
    ----------
    spectrum : np.ndarray
        ``rfftn`` of the noise-free density, ``(Z, Y, X // 2 + 1)`` complex64; overwritten.
    shape_zyx : tuple of int
        Real-space shape.
    config : SimulationConfig
        Supplies voxel size, missing wedge and band-pass.
    rng : np.random.Generator
        Noise source, drawn in a fixed order so the result is reproducible.
    noise_std : float
        Standard deviation of the filtered noise in real space. White Gaussian noise is drawn
        directly in Fourier space (complex Gaussian of the same power, ``E|W|² = N``), scaled by
        ``noise_std / sqrt(sum H² / N)`` so one inverse FFT gives signal plus noise.
    workers : int, optional
        FFT threads; defaults to the CPU count.

    Returns
    -------
    np.ndarray
        ``(Z, Y, X)`` float32 image, not yet normalised.
    """
    n_voxels = float(np.prod(shape_zyx))
    weights = _rfft_weights(shape_zyx[2])
    unit_power = 0.0
    for planes_z in _planes(shape_zyx[0]):
        h = _transfer(config, shape_zyx, planes_z)
        spectrum[planes_z] *= h
        unit_power += float(np.sum(weights * h.astype(np.float64) ** 2))
    if noise_std > 0 and unit_power > 0:
        scale = noise_std / math.sqrt(unit_power / n_voxels) * math.sqrt(n_voxels / 2)
        for planes_z in _planes(shape_zyx[0]):
            h = _transfer(config, shape_zyx, planes_z) * np.float32(scale)
            white = rng.standard_normal((*h.shape, 2), dtype=np.float32)
            spectrum[planes_z] += h * white.view(np.complex64)[..., 0]
    volume = scipy.fft.irfftn(spectrum, s=shape_zyx, workers=workers or os.cpu_count() or 1)
    return volume.astype(np.float32, copy=False)


def normalise(volume: np.ndarray, *, slab: int = SLAB) -> np.ndarray:
    """Z-score ``volume`` in place (float64 accumulation, slab by slab); a constant volume becomes 0."""
    blocks = range(0, volume.shape[0], slab)
    mean = sum(float(volume[z0 : z0 + slab].sum(dtype=np.float64)) for z0 in blocks) / volume.size
    variance = (
        sum(float(np.sum((volume[z0 : z0 + slab].astype(np.float64) - mean) ** 2)) for z0 in blocks) / volume.size
    )
    volume -= np.float32(mean)
    if variance > 0:
        volume /= np.float32(math.sqrt(variance))
    return volume
