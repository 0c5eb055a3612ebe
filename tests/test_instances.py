"""Instances from a particle mask: connected components, watershed, size filters, centroids, scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unpick._shared import UnpickInputError
from unpick.instances import InstanceConfig, extract_instances

VOXEL = 10.0  # Å per voxel in these tests


def sphere_mask(shape, centres, radius):
    """Boolean mask of balls of ``radius`` voxels around zyx ``centres`` (floats allowed)."""
    grid = np.indices(shape, dtype=np.float64)
    mask = np.zeros(shape, bool)
    for centre in centres:
        mask |= sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2
    return mask


def extract(mask, **config):
    return extract_instances(mask, config=InstanceConfig(**config), voxel_size_angstrom=VOXEL)


def sorted_rows(array):
    return array[np.lexsort(array.T[::-1])]


# ---------------------------------------------------------------- config


def test_config_round_trip():
    config = InstanceConfig(method="ws", connectivity=3, particle_radius_angstrom=60, max_size_voxels=900)
    assert InstanceConfig.from_dict(config.to_dict()) == config
    assert InstanceConfig.from_dict(InstanceConfig().to_dict()) == InstanceConfig()


def test_limits_derived_from_radius():
    limits = InstanceConfig(particle_radius_angstrom=60.0).limits(voxel_size_angstrom=VOXEL)
    volume = 4 / 3 * np.pi * 6.0**3  # 904.8 voxels
    assert limits.radius_voxels == 6.0
    assert limits.min_size_voxels == round(0.1 * volume) == 90
    assert limits.max_size_voxels == int(np.ceil(8 * volume))
    assert limits.min_distance_voxels == 5  # 0.8 * 6 rounded
    tiny = InstanceConfig(particle_radius_angstrom=10.0).limits(voxel_size_angstrom=VOXEL)
    assert tiny.min_size_voxels == 8 and tiny.min_distance_voxels == 1


def test_a_radius_too_small_for_any_particle_is_refused():
    with pytest.raises(UnpickInputError, match=r"0\.001 Å is 0\.0001 voxels at 10 Å/voxel, too small for any particle"):
        InstanceConfig(particle_radius_angstrom=0.001).limits(voxel_size_angstrom=VOXEL)
    assert InstanceConfig(particle_radius_angstrom=7.0).limits(voxel_size_angstrom=VOXEL).max_size_voxels == 12


def test_limits_defaults_and_explicit_values():
    plain = InstanceConfig().limits(voxel_size_angstrom=VOXEL)
    assert (plain.min_size_voxels, plain.max_size_voxels, plain.min_distance_voxels) == (8, None, 5)
    explicit = InstanceConfig(
        method="ws", particle_radius_angstrom=60.0, min_size_voxels=2, max_size_voxels=50, min_distance_voxels=3
    ).limits(voxel_size_angstrom=VOXEL)
    assert (explicit.min_size_voxels, explicit.max_size_voxels, explicit.min_distance_voxels) == (2, 50, 3)
    # an explicit minimum above the derived maximum lifts the maximum with it
    lifted = InstanceConfig(particle_radius_angstrom=20.0, min_size_voxels=500).limits(voxel_size_angstrom=VOXEL)
    assert lifted.max_size_voxels == 500


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "slic"}, "instance method: expected one of cc, ws, got 'slic'"),
        ({"connectivity": 0}, "connectivity: expected 1, 2 or 3, got 0"),
        ({"connectivity": True}, "connectivity: expected 1, 2 or 3, got True"),
        ({"particle_radius_angstrom": -5.0}, "particle_radius_angstrom: expected a positive number Å, got -5.0"),
        ({"particle_radius_angstrom": "big"}, "particle_radius_angstrom: expected a positive number, got 'big'"),
        ({"min_size_voxels": 0}, "min_size_voxels: expected an integer >= 1, got 0"),
        ({"max_size_voxels": 2.5}, "max_size_voxels: expected an integer >= 1, got 2.5"),
        ({"min_distance_voxels": -1}, "min_distance_voxels: expected an integer >= 1"),
        (
            {"min_size_voxels": 50, "max_size_voxels": 10},
            r"min_size_voxels \(50\) is larger than max_size_voxels \(10\)",
        ),
    ],
)
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(UnpickInputError, match=match):
        InstanceConfig(**changes)


# ---------------------------------------------------------------- known answers


def test_touching_spheres_cc_one_ws_two():
    centres = [(16.0, 16.0, 10.0), (16.0, 16.0, 21.0)]  # radius 6, centres 11 apart: they overlap
    mask = sphere_mask((32, 32, 32), centres, 6.0)
    cc = extract(mask, method="cc", particle_radius_angstrom=60.0)
    assert len(cc) == 1
    np.testing.assert_allclose(cc.centroids_zyx[0], (16.0, 16.0, 15.5), atol=1e-9)
    assert cc.sizes[0] == mask.sum()
    ws = extract(mask, method="ws", particle_radius_angstrom=60.0)
    assert len(ws) == 2
    found = sorted_rows(ws.centroids_zyx)
    assert np.all(np.linalg.norm(found - np.array(centres), axis=1) < 1.0)
    assert ws.sizes.sum() == mask.sum()


def test_watershed_keeps_single_particles_whole():
    centres = [(8.0, 8.0, 8.0), (20.0, 24.0, 10.0), (10.0, 20.0, 24.0)]
    mask = sphere_mask((30, 32, 32), centres, 4.0)
    cc = extract(mask, method="cc", particle_radius_angstrom=40.0)
    ws = extract(mask, method="ws", particle_radius_angstrom=40.0)
    np.testing.assert_array_equal(cc.centroids_zyx, ws.centroids_zyx)
    np.testing.assert_array_equal(cc.sizes, ws.sizes)
    np.testing.assert_allclose(sorted_rows(cc.centroids_zyx), sorted_rows(np.array(centres)), atol=1e-9)


def test_watershed_splits_a_row_of_three():
    centres = [(12.0, 12.0, 7.0), (12.0, 12.0, 17.0), (12.0, 12.0, 27.0)]
    mask = sphere_mask((24, 24, 34), centres, 5.5)
    ws = extract_instances(
        mask,
        config=InstanceConfig(method="ws", particle_radius_angstrom=55.0),
        voxel_size_angstrom=VOXEL,
        return_labels=True,
    )
    assert len(ws) == 3
    np.testing.assert_allclose(sorted_rows(ws.centroids_zyx), centres, atol=1.0)
    assert set(np.unique(ws.labels)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(np.bincount(ws.labels.ravel())[1:], ws.sizes)


@pytest.mark.parametrize("method", ["cc", "ws"])
def test_sphere_touching_the_face_is_kept(method):
    mask = sphere_mask((20, 24, 24), [(0.0, 12.0, 12.0), (10.0, 12.0, 23.0)], 5.0)
    inst = extract(mask, method=method, particle_radius_angstrom=50.0)
    assert len(inst) == 2
    z_face = inst.centroids_zyx[np.argmin(inst.centroids_zyx[:, 0])]
    assert z_face[0] == pytest.approx(mask[:6, :, :18].nonzero()[0].mean())  # a half-sphere: centroid inside
    np.testing.assert_allclose(z_face[1:], (12.0, 12.0))


@pytest.mark.parametrize("method", ["cc", "ws"])
def test_centroids_are_not_truncated(method):
    mask = sphere_mask((22, 22, 22), [(10.5, 10.5, 10.5)], 4.0)
    inst = extract(mask, method=method)
    np.testing.assert_allclose(inst.centroids_zyx, [[10.5, 10.5, 10.5]], atol=1e-12)
    assert inst.centroids_zyx.dtype == np.float64 and inst.sizes.dtype == np.int64


def test_single_voxel_islands_dropped():
    mask = sphere_mask((20, 20, 20), [(10.0, 10.0, 10.0)], 3.0)
    for point in [(1, 1, 1), (18, 2, 5), (3, 17, 17)]:
        mask[point] = True
    inst = extract(mask)
    assert len(inst) == 1
    np.testing.assert_allclose(inst.centroids_zyx[0], (10.0, 10.0, 10.0))
    kept = extract(mask, min_size_voxels=1)
    assert len(kept) == 4 and sorted(kept.sizes.tolist()) == [1, 1, 1, int(mask.sum()) - 3]


@pytest.mark.parametrize("method", ["cc", "ws"])
def test_max_size_drops_a_huge_blob(method):
    mask = np.zeros((40, 40, 40), bool)
    mask[2:38, 2:20, 2:38] = True  # a slab of 36 * 18 * 36 voxels
    mask |= sphere_mask(mask.shape, [(30.0, 30.0, 30.0)], 4.0)
    inst = extract(mask, method=method, particle_radius_angstrom=40.0)  # max 8 * 268 voxels
    assert len(inst) == 1
    np.testing.assert_allclose(inst.centroids_zyx[0], (30.0, 30.0, 30.0))


def test_scores_are_mean_confidence():
    mask = sphere_mask((24, 24, 24), [(6.0, 6.0, 6.0), (16.0, 16.0, 16.0)], 3.0)
    confidence = np.random.default_rng(0).random(mask.shape).astype(np.float32)
    inst = extract_instances(
        mask, config=InstanceConfig(), voxel_size_angstrom=VOXEL, confidence=confidence, return_labels=True
    )
    expected = [confidence[inst.labels == i + 1].mean() for i in range(len(inst))]
    np.testing.assert_allclose(inst.scores, expected, rtol=1e-6)
    np.testing.assert_array_equal(extract(mask).scores, [1.0, 1.0])


def test_integer_mask_and_labels_volume():
    mask = sphere_mask((16, 16, 16), [(8.0, 8.0, 8.0)], 3.0).astype(np.uint8) * 7
    inst = extract_instances(mask, config=InstanceConfig(), voxel_size_angstrom=VOXEL, return_labels=True)
    assert inst.labels.dtype == np.int32
    np.testing.assert_array_equal(inst.labels > 0, mask > 0)
    assert extract(mask).labels is None


@pytest.mark.parametrize("method", ["cc", "ws"])
def test_empty_mask_gives_zero_instances(method):
    inst = extract(np.zeros((10, 12, 14), bool), method=method, particle_radius_angstrom=30.0)
    assert len(inst) == 0
    assert inst.centroids_zyx.shape == (0, 3) and inst.sizes.shape == (0,) and inst.scores.shape == (0,)


@pytest.mark.parametrize(
    ("offset", "connectivity", "expected"),
    [
        ((0, 1, 1), 1, 2),
        ((0, 1, 1), 2, 1),  # cubes sharing an edge
        ((1, 1, 1), 2, 2),
        ((1, 1, 1), 3, 1),  # cubes sharing a corner
    ],
)
def test_connectivity_decides_diagonal_contact(offset, connectivity, expected):
    mask = np.zeros((12, 12, 12), bool)
    mask[2:5, 2:5, 2:5] = True
    z, y, x = (5 if o else 2 for o in offset)  # second 3^3 cube, diagonally past the first
    mask[z : z + 3, y : y + 3, x : x + 3] = True
    for method in ("cc", "ws"):
        assert len(extract(mask, method=method, connectivity=connectivity)) == expected


# ---------------------------------------------------------------- bad input


def test_rejects_bad_input():
    mask = np.zeros((10, 10, 10), bool)
    with pytest.raises(UnpickInputError, match=r"mask: expected a 3-D \(Z, Y, X\) volume, got 2-D"):
        extract(np.zeros((10, 10), bool))
    with pytest.raises(UnpickInputError, match=r"particle radius: 60 Å = 6.0 voxels .* larger than the volume"):
        extract(mask, particle_radius_angstrom=60.0)
    with pytest.raises(UnpickInputError, match=r"larger than the volume \(8, 40, 40\)"):  # the shortest axis counts
        extract(np.zeros((8, 40, 40), bool), particle_radius_angstrom=45.0)
    with pytest.raises(UnpickInputError, match="voxel_size_angstrom: expected a positive number Å, got 0"):
        extract_instances(mask, config=InstanceConfig(), voxel_size_angstrom=0)
    with pytest.raises(
        UnpickInputError, match=r"confidence: expected the mask's shape \(10, 10, 10\), got \(10, 10, 9\)"
    ):
        extract_instances(mask, config=InstanceConfig(), voxel_size_angstrom=VOXEL, confidence=np.zeros((10, 10, 9)))
    bad = np.zeros(mask.shape)
    bad[1, 2, 3] = np.nan
    with pytest.raises(UnpickInputError, match="confidence: 1 voxels are NaN"):
        extract_instances(mask, config=InstanceConfig(), voxel_size_angstrom=VOXEL, confidence=bad)
    with pytest.raises(UnpickInputError, match="config: expected an InstanceConfig"):
        extract_instances(mask, config={"method": "cc"}, voxel_size_angstrom=VOXEL)


# ---------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(
    cells=st.lists(st.tuples(*[st.integers(0, 2)] * 3), min_size=1, max_size=6, unique=True),
    edges=st.lists(st.integers(2, 4), min_size=6, max_size=6),
    shift=st.tuples(*[st.integers(0, 3)] * 3),
    method=st.sampled_from(["cc", "ws"]),
    order_seed=st.integers(0, 1000),
)
def test_centroids_follow_blobs(cells, edges, shift, method, order_seed):
    """Cuboid blobs on a coarse grid: centroids are the cuboid centres, whatever the order
    the blobs are drawn in, and translating the mask translates them."""
    order = np.random.default_rng(order_seed).permutation(len(cells))
    shape = (30, 30, 30)
    blobs = []
    for i in order:
        start = np.array(cells[i]) * 8 + 1
        size = np.array([edges[i], edges[(i + 1) % 6], edges[(i + 2) % 6]])
        blobs.append((start, size))
    mask = np.zeros(shape, bool)
    for start, size in blobs:
        mask[tuple(slice(s, s + n) for s, n in zip(start, size))] = True
    expected = sorted_rows(np.array([start + (size - 1) / 2 for start, size in blobs], dtype=float))
    inst = extract(mask, method=method)
    np.testing.assert_allclose(sorted_rows(inst.centroids_zyx), expected, atol=1e-12)
    moved = np.zeros(shape, bool)
    moved[shift[0] :, shift[1] :, shift[2] :] = mask[
        : shape[0] - shift[0], : shape[1] - shift[1], : shape[2] - shift[2]
    ]
    moved_inst = extract(moved, method=method)
    np.testing.assert_allclose(sorted_rows(moved_inst.centroids_zyx), expected + np.array(shift), atol=1e-12)
    np.testing.assert_array_equal(np.sort(moved_inst.sizes), np.sort(inst.sizes))


def test_standing_peaks_equal_skimage_h_maxima():
    """The per-peak dynamic test the watershed uses gives h_maxima's answer at every local
    maximum of the distance transform of unions of overlapping balls (ties, plateaus, and a
    height above the whole range included)."""
    import scipy.ndimage as ndi
    from skimage.morphology import h_maxima

    from unpick.instances._watershed import _standing_peaks

    outcomes = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        shape = (18, 20, 22)
        centres = rng.uniform(4, np.array(shape) - 4, size=(rng.integers(2, 5), 3))
        own = np.zeros(tuple(n + 2 for n in shape), dtype=bool)
        own[1:-1, 1:-1, 1:-1] = sphere_mask(shape, centres, rng.uniform(2.5, 5.0))
        dist = ndi.distance_transform_edt(own)
        peaks = np.argwhere((dist == ndi.maximum_filter(dist, size=3, mode="constant")) & own)
        for height in (0.5, 1.0, 1.5, 2.0, 6.0):
            expected = h_maxima(dist, height)[tuple(peaks.T)] > 0
            np.testing.assert_array_equal(_standing_peaks(dist, peaks, height), expected, err_msg=f"{seed} {height}")
            outcomes.update(expected.tolist())
    assert outcomes == {True, False}  # both kept and dropped peaks were compared
