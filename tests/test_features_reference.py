"""Slow-reference tests: the fast separable features against obviously-correct direct computations."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from unpick._shared import CPU, get_backend, gpu_available, to_numpy
from unpick.features import FeatureConfig, build_feature_bank, kernel_matrix

SHAPE = (16, 16, 16)
CONFIGS = {
    "intensities": FeatureConfig(mode="intensities"),
    "fft": FeatureConfig(mode="fft"),
    "gabor": FeatureConfig(mode="gabor", gabor_frequencies_per_axis=5, gabor_sigma=1.3, n_gabor_features=40, gabor_selection_voxels=800),
}


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(7).random(SHAPE, dtype=np.float32)


def _interior_neighbourhoods(volume: np.ndarray) -> np.ndarray:
    """(n_interior, 5, 5, 5) float64 neighbourhoods of every interior voxel, C order."""
    windows = sliding_window_view(volume.astype(np.float64), (5, 5, 5))
    return windows.reshape(-1, 5, 5, 5)


def _interior_rows(features: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Rows of a whole-volume feature array at the interior voxels, in C order."""
    grid = features.reshape(*shape, -1)
    return grid[2:-2, 2:-2, 2:-2].reshape(-1, grid.shape[-1])


def _direct(mode: str, bank, neighbourhoods: np.ndarray) -> np.ndarray:
    """Features written from the definitions: raw values, np.fft.fftn magnitudes, explicit Gabor kernels."""
    if mode == "intensities":
        return neighbourhoods.reshape(len(neighbourhoods), -1)
    if mode == "fft":
        spectra = np.abs(np.fft.fftn(neighbourhoods, axes=(1, 2, 3)))
        columns = []
        for name in bank.names:
            kz, ky, kx = (int(v) for v in re.fullmatch(r"fft k=\((\d),(\d),(\d)\)", name).groups())
            scale = bank.config.fft_dc_scale if (kz, ky, kx) == (0, 0, 0) else 1.0
            columns.append(scale * spectra[:, kz, ky, kx])
        return np.stack(columns, axis=1)
    sigma = bank.config.gabor_sigma
    m = np.arange(-2, 3)
    mz, my, mx = np.meshgrid(m, m, m, indexing="ij")
    columns = []
    for fz, fy, fx in bank.frequencies_zyx:
        envelope = np.exp(-(mz**2 + my**2 + mx**2) / (2 * sigma**2))
        kernel = envelope * np.exp(2j * np.pi * (fz * mz + fy * my + fx * mx))
        columns.append(np.abs(np.einsum("nzyx,zyx->n", neighbourhoods, kernel)))
    return np.stack(columns, axis=1)


def _check_against_reference(mode: str, volume: np.ndarray, backend) -> None:
    bank = build_feature_bank(volume, config=CONFIGS[mode], rng=3)
    fast = to_numpy(bank.compute_chunk(volume, 0, SHAPE[0], backend=backend, n_threads=1))
    assert fast.dtype == np.float32
    assert fast.shape == (np.prod(SHAPE), bank.n_features)
    fast_interior = _interior_rows(fast, SHAPE)

    direct = _direct(mode, bank, _interior_neighbourhoods(volume))
    atol = 2e-6 * float(np.abs(direct).max()) * 10
    np.testing.assert_allclose(fast_interior, direct, rtol=1e-5, atol=atol)

    idx = np.argwhere(np.ones(tuple(s - 4 for s in SHAPE), dtype=bool)) + 2
    explicit = bank.at_voxels(volume, idx)
    assert explicit.dtype == np.float32
    np.testing.assert_allclose(explicit, direct, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(fast_interior, explicit, rtol=1e-5, atol=atol)

    # kernel_matrix defines the features: neighbourhood @ K (identity / magnitude)
    kernels = kernel_matrix(bank)
    product = _interior_neighbourhoods(volume).reshape(-1, 125) @ kernels
    np.testing.assert_allclose(product if mode == "intensities" else np.abs(product), direct, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", sorted(CONFIGS))
def test_fast_features_equal_direct_definitions(mode: str, volume: np.ndarray) -> None:
    _check_against_reference(mode, volume, CPU)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", sorted(CONFIGS))
def test_fast_features_equal_direct_definitions_on_gpu(mode: str, volume: np.ndarray) -> None:
    pytest.importorskip("cupy")
    if not gpu_available():
        pytest.skip("no CUDA device")
    _check_against_reference(mode, volume, get_backend("gpu"))


def test_gabor_responses_are_nontrivial(volume: np.ndarray) -> None:
    """Guard against a reference that trivially agrees: features vary across voxels and filters."""
    bank = build_feature_bank(volume, config=CONFIGS["gabor"], rng=3)
    features = _interior_rows(bank.compute_chunk(volume, 0, SHAPE[0], n_threads=1), SHAPE)
    assert np.all(features.std(axis=0) > 1e-3)
    assert len({round(float(v), 6) for v in features[0]}) > bank.n_features // 2
