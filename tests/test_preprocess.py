"""Preprocessing: float32 cast, Gaussian blur, robust percentile scaling, bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy import ndimage

from unpick._shared import UnpickInputError
from unpick.features import PreprocessConfig, preprocess


def test_int8_input_is_cast_not_modified_and_scaled_to_unit_range() -> None:
    rng = np.random.default_rng(0)
    volume = rng.integers(-128, 128, size=(12, 14, 16), dtype=np.int8)
    before = volume.copy()
    out = preprocess(volume)
    np.testing.assert_array_equal(volume, before)
    assert out.dtype == np.float32 and out.shape == volume.shape
    assert out.min() == 0.0 and out.max() == 1.0
    # known answer: the blur of the float cast, then the percentile map
    blurred = ndimage.gaussian_filter(volume.astype(np.float64), 1.0, mode="reflect")
    low, high = np.percentile(blurred, [0.5, 99.5])
    expected = np.clip((blurred - low) / (high - low), 0, 1)
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_no_blur_with_full_range_percentiles_is_min_max_scaling() -> None:
    volume = np.arange(5 * 6 * 7, dtype=np.float64).reshape(5, 6, 7) * 0.5 - 3.0
    out = preprocess(volume, config=PreprocessConfig(blur_sigma=0, low_percentile=0, high_percentile=100))
    np.testing.assert_allclose(out, (volume - volume.min()) / np.ptp(volume), atol=1e-6)


def test_gold_voxels_do_not_crush_the_range() -> None:
    rng = np.random.default_rng(1)
    volume = rng.normal(0.0, 1.0, size=(24, 24, 24)).astype(np.float32)
    gold = rng.choice(volume.size, size=12, replace=False)
    volume.reshape(-1)[gold] = 1000.0  # a few fiducials, 0.09 % of the voxels
    out = preprocess(volume, config=PreprocessConfig(blur_sigma=0))
    bulk = np.delete(out.reshape(-1), gold)
    p5, p95 = np.percentile(bulk, [5, 95])
    assert p95 - p5 > 0.5  # the bulk spans most of [0, 1] (min-max scaling would squeeze it below 0.01)
    assert np.all(out.reshape(-1)[gold] == 1.0)
    assert out.min() == 0.0 and out.max() == 1.0
    minmax = (volume - volume.min()) / np.ptp(volume)
    assert np.percentile(np.delete(minmax.reshape(-1), gold), 95) - np.percentile(np.delete(minmax.reshape(-1), gold), 5) < 0.01


def test_percentiles_come_from_a_seeded_sample() -> None:
    volume = np.random.default_rng(2).gamma(2.0, size=(20, 20, 20)).astype(np.float32)
    config = PreprocessConfig(percentile_sample_voxels=500)
    a = preprocess(volume, config=config, rng=3)
    np.testing.assert_array_equal(a, preprocess(volume, config=config, rng=np.random.default_rng(3)))
    assert not np.array_equal(a, preprocess(volume, config=config, rng=4))
    full = preprocess(volume, config=config.replace(percentile_sample_voxels=10**6))
    np.testing.assert_allclose(a, full, atol=0.05)  # a 500-voxel sample already estimates the range


def test_peak_memory_is_one_volume_and_a_few_chunks() -> None:
    # the blur reads the input chunk by chunk (32 slices and a halo, two on threads) into one new
    # array: no whole float32 copy of the input first (that alone would make the peak 2x the
    # volume). Two chunks in flight, with their passes' core-sized buffers and matrix-product
    # temporaries, are about half of this volume.
    volume = np.random.default_rng(3).random((400, 64, 64), dtype=np.float32)
    tracemalloc.start()
    preprocess(volume, config=PreprocessConfig(percentile_sample_voxels=1000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1.8 * volume.nbytes


def test_constant_or_contrastless_volume_is_an_error() -> None:
    with pytest.raises(UnpickInputError, match="no contrast"):
        preprocess(np.full((8, 8, 8), 3.0, dtype=np.float32))
    nearly = np.zeros((10, 10, 10), dtype=np.float32)
    nearly[5, 5, 5] = 1.0  # one bright voxel: the 0.5 and 99.5 percentiles coincide
    with pytest.raises(UnpickInputError, match="no contrast"):
        preprocess(nearly, config=PreprocessConfig(blur_sigma=0))


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (np.zeros((8, 8), np.float32), "expected a 3-D"),
        (np.zeros((8, 8, 3), np.float32), "smaller than the 5-voxel neighbourhood"),
        (np.where(np.eye(8, dtype=bool)[None], np.nan, 1.0).repeat(8, axis=0).astype(np.float32), "NaN or infinite"),
        (np.zeros((8, 8, 8), np.complex64), "expected real integer or floating-point"),
    ],
)
def test_bad_volumes_are_rejected(volume: np.ndarray, message: str) -> None:
    with pytest.raises(UnpickInputError, match=message):
        preprocess(volume)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"blur_sigma": -1.0}, "blur_sigma: expected a number >= 0"),
        ({"low_percentile": 60.0, "high_percentile": 40.0}, "expected 0 <= low < high <= 100"),
        ({"high_percentile": 101.0}, "expected 0 <= low < high <= 100"),
        ({"low_percentile": -1.0}, "low_percentile: expected a number >= 0"),
        ({"percentile_sample_voxels": 10}, "percentile_sample_voxels: expected an integer >= 100"),
        ({"percentile_sample_voxels": True}, "percentile_sample_voxels: expected an integer"),
    ],
)
def test_preprocess_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(UnpickInputError, match=message):
        PreprocessConfig(**changes)


def test_preprocess_config_round_trips(tmp_path) -> None:
    config = PreprocessConfig(blur_sigma=0.0, low_percentile=1.0, high_percentile=99.0, percentile_sample_voxels=1234)
    path = tmp_path / "pre.json"
    path.write_text(config.to_json())
    assert PreprocessConfig.from_file(path) == config
    with pytest.raises(UnpickInputError, match="expected a PreprocessConfig"):
        preprocess(np.ones((6, 6, 6)), config=config.to_dict())


@pytest.mark.parametrize(
    "shape, sigma, core, orders",
    [
        ((64, 40, 50), 2.8, slice(16, 48), (0, 0, 0)),
        ((30, 33, 20), 1.0, slice(0, 30), (0, 0, 0)),
        ((64, 20, 21), 0.75, slice(40, 64), (1, 0, 0)),
        ((9, 12, 70), 0.75, slice(0, 9), (0, 1, 0)),
        ((12, 9, 8), 0.75, slice(2, 5), (0, 0, 1)),
        ((5, 3, 7), 5.0, slice(0, 5), (0, 0, 0)),  # kernels longer than every axis: reflected again and again
        ((1, 1, 1), 2.0, slice(0, 1), (0, 0, 0)),
    ],
)
def test_a_blurred_core_is_scipys_gaussian_filter_cut_to_its_core(shape, sigma, core, orders) -> None:
    """The banded matrix passes (float32 sums) give SciPy's filter (float64 sums) to float32 rounding,
    Gaussian derivatives and the reflected ends included, and the same values on any BLAS thread count."""
    from threadpoolctl import threadpool_limits

    from unpick.features._blur import blur_core

    field = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    expected = ndimage.gaussian_filter(field.astype(np.float64), sigma, order=orders)[core]
    with threadpool_limits(limits=1, user_api="blas"):
        one = blur_core(field, sigma, core, orders=orders)
    with threadpool_limits(limits=2, user_api="blas"):
        two = blur_core(field, sigma, core, orders=orders)
    assert one.dtype == np.float32 and one.shape == expected.shape
    np.testing.assert_allclose(one, expected, rtol=0, atol=4e-7 * np.abs(field).max())
    np.testing.assert_array_equal(one, two)


def test_the_chunked_blur_is_the_whole_volume_blur() -> None:
    """32-slice chunks with a 4-sigma halo, on threads: the whole volume's blur to float32 rounding."""
    from unpick.features._blur import blur_volume

    volume = np.random.default_rng(5).normal(size=(100, 24, 30)).astype(np.float32)
    np.testing.assert_allclose(
        blur_volume(volume, 1.5), ndimage.gaussian_filter(volume.astype(np.float64), 1.5), rtol=0, atol=2e-6
    )
