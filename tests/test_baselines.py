"""The random and difference-of-Gaussians baselines."""

import math

import numpy as np
import pytest

from unpick._shared import PICK_COLUMNS, UnpickInputError, picks_zyx
from unpick.evaluate import baseline_picks, dog_picks, dog_sigmas_from_radius, match_points, random_points

SHAPE = (40, 64, 64)
CENTRES = np.array([[10, 12, 12], [10, 40, 20], [25, 20, 45], [30, 50, 50], [1, 50, 10], [20, 30, 30]], float)


def blobs(sign: float, *, noise: float = 0.05, seed: int = 0, radius_sigma: float = 2.0) -> np.ndarray:
    """Gaussian blobs (amplitude ``sign``) at CENTRES plus white noise."""
    zz, yy, xx = np.indices(SHAPE, dtype=np.float32)
    volume = np.random.default_rng(seed).normal(0, noise, SHAPE).astype(np.float32)
    for z, y, x in CENTRES:
        volume += sign * np.exp(-((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) / (2 * radius_sigma**2))
    return volume


def test_sigmas_from_radius():
    assert dog_sigmas_from_radius(3 * math.sqrt(3)) == pytest.approx((3.0, 6.0))
    with pytest.raises(UnpickInputError, match="radius_voxels: expected a positive number"):
        dog_sigmas_from_radius(0)


@pytest.mark.parametrize("dark", [True, False])
def test_dog_finds_planted_blobs_within_one_voxel(dark):
    volume = blobs(-1.0 if dark else 1.0)
    coords, scores = dog_picks(volume, sigma_small_voxels=2, sigma_large_voxels=4, protein_dark=dark)
    m = match_points(coords, CENTRES, radius_voxels=1.0)
    assert m.tp == len(CENTRES)  # every blob, including the one at z = 1 next to the border
    assert len(coords) == len(CENTRES)
    assert (np.diff(scores) <= 0).all() and scores[-1] > 3.0
    assert coords.dtype == np.float64 and coords.shape == (len(CENTRES), 3)


def test_dog_with_the_wrong_contrast_misses_the_blobs():
    coords, _ = dog_picks(blobs(+1.0), sigma_small_voxels=2, sigma_large_voxels=4, protein_dark=True)
    assert match_points(coords, CENTRES, radius_voxels=1.0).tp == 0


def test_dog_pure_noise_has_few_peaks_above_five_sd():
    noise = np.random.default_rng(1).normal(0, 1, SHAPE).astype(np.float32)
    coords, _ = dog_picks(noise, threshold_sd=5.0)
    assert len(coords) <= 2
    coords3, _ = dog_picks(noise, threshold_sd=3.0)
    assert len(coords3) > len(coords)  # the threshold does act


def test_dog_float16_and_float32_agree():
    volume = blobs(-1.0)
    c32, s32 = dog_picks(volume, sigma_small_voxels=2, sigma_large_voxels=4)
    c16, s16 = dog_picks(volume.astype(np.float16), sigma_small_voxels=2, sigma_large_voxels=4)
    np.testing.assert_array_equal(c16, c32)
    np.testing.assert_allclose(s16, s32, rtol=1e-2)


def test_dog_flat_volume_has_no_peaks():
    coords, scores = dog_picks(np.ones(SHAPE, np.float32))
    assert coords.shape == (0, 3) and scores.shape == (0,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sigma_small_voxels=4, sigma_large_voxels=4), "sigma_large_voxels: expected a value larger"),
        (dict(sigma_small_voxels=-1), "sigma_small_voxels: expected a positive number"),
        (dict(min_distance_voxels=0), "min_distance_voxels: expected an integer >= 1"),
        (dict(min_distance_voxels=2.5), "min_distance_voxels: expected an integer >= 1"),
    ],
)
def test_dog_bad_options(kwargs, match):
    with pytest.raises(UnpickInputError, match=match):
        dog_picks(blobs(-1.0), **kwargs)


def test_dog_rejects_2d():
    with pytest.raises(UnpickInputError, match="expected a 3-D"):
        dog_picks(np.zeros((20, 20), np.float32))


def test_random_points_stay_inside_the_region_and_are_seeded():
    pts = random_points(2000, SHAPE, rng=5, z_range=(10, 20))
    assert pts.shape == (2000, 3)
    assert (pts[:, 0] >= 9.5).all() and (pts[:, 0] < 19.5).all()
    assert (pts[:, 1:] >= -0.5).all() and (pts[:, 1] < 63.5).all() and (pts[:, 2] < 63.5).all()
    np.testing.assert_array_equal(pts, random_points(2000, SHAPE, rng=5, z_range=(10, 20)))
    assert random_points(0, SHAPE).shape == (0, 3)


def test_random_points_in_a_mask_are_uniform_over_it():
    mask = np.zeros(SHAPE, bool)
    mask[:, :8, :] = True  # 1/8 of the volume ...
    mask[5:7, 40:, 40:] = True  # ... plus a small block
    pts = random_points(20000, SHAPE, rng=2, mask=mask)
    index = np.floor(pts + 0.5).astype(int)
    assert mask[index[:, 0], index[:, 1], index[:, 2]].all()
    in_block = (index[:, 0] >= 5) & (index[:, 0] < 7) & (index[:, 1] >= 40)
    expected = mask[5:7, 40:, 40:].sum() / mask.sum()
    assert in_block.mean() == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    "n, shape, kwargs, match",
    [
        (-1, SHAPE, {}, "n: expected a non-negative integer"),
        (2.5, SHAPE, {}, "n: expected a non-negative integer"),
        (5, (4, 4), {}, "shape_zyx: expected three positive integers"),
        (5, SHAPE, dict(z_range=(30, 10)), "z-slab: expected 0 <= z0 < z1"),
    ],
)
def test_random_points_bad_input(n, shape, kwargs, match):
    with pytest.raises(UnpickInputError, match=match):
        random_points(n, shape, **kwargs)


def test_baseline_picks_tables_respect_the_slab():
    volume = blobs(-1.0)
    out = baseline_picks(
        volume,
        n_random=50,
        voxel_size_angstrom=10.0,
        particle_radius_angstrom=20 * math.sqrt(3),
        rng=1,
        z_range=(5, 28),
    )
    assert set(out) == {"random", "dog"}
    for name, table in out.items():
        assert list(table.columns) == list(PICK_COLUMNS)
        assert (table["workflow"] == name).all() and (table["voxel_size_angstrom"] == 10.0).all()
        assert ((table["z"] >= 4.5) & (table["z"] < 27.5)).all()
    assert len(out["random"]) == 50
    inside = CENTRES[(CENTRES[:, 0] >= 5) & (CENTRES[:, 0] < 28)]
    m = match_points(picks_zyx(out["dog"]), inside, radius_voxels=1.0)
    assert m.tp == len(inside) == len(out["dog"])


def test_baseline_picks_bad_voxel_size():
    with pytest.raises(UnpickInputError, match="voxel_size_angstrom: expected a positive number"):
        baseline_picks(blobs(-1.0), n_random=5, voxel_size_angstrom=0)
