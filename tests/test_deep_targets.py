"""Targets, pick weights, class priors, patches, normalisation and DeepConfig (NumPy only)."""

import logging
import subprocess
import sys

import numpy as np
import pytest

from unpick._shared import UnpickInputError
from unpick.deep import (
    DeepConfig,
    PatchSampler,
    augment_patch,
    build_targets,
    crop_patch,
    estimate_priors,
    normalise_volume,
    rank_weights,
)


def brute_force_counts(shape, centre, core, radius):
    grid = np.indices(shape).reshape(3, -1).T
    dist = np.linalg.norm(grid - np.asarray(centre), axis=1)
    return int(np.sum(dist <= core)), int(np.sum((dist > core) & (dist <= radius)))


def test_targets_core_shell_and_unlabelled_counts_for_one_pick():
    labels, weights = build_targets((11, 11, 11), [[5, 5, 5]], radius_voxels=2, core_fraction=0.5, weights=[0.7])
    # core radius 1: the centre and its 6 face neighbours; shell to radius 2: 33 - 7 voxels
    assert np.count_nonzero(labels == 1) == 7
    assert np.count_nonzero(labels == -1) == 26
    assert np.count_nonzero(labels == 0) == 11**3 - 33
    assert labels[5, 5, 5] == 1 and labels[5, 5, 6] == 1 and labels[5, 6, 6] == -1 and labels[5, 5, 8] == 0
    assert labels.dtype == np.int8 and weights.dtype == np.float32
    np.testing.assert_array_equal(weights[labels == 1], np.float32(0.7))
    np.testing.assert_array_equal(weights[labels == -1], 0)
    np.testing.assert_array_equal(weights[labels == 0], 1)


@pytest.mark.parametrize("centre", [(9.5, 10.2, 10.0), (10.0, 10.0, 10.0), (3.3, 12.7, 8.1)])
def test_targets_match_a_brute_force_count_for_sub_voxel_centres(centre):
    labels, _ = build_targets((20, 20, 20), [centre], radius_voxels=4.5, core_fraction=0.4)
    core, shell = brute_force_counts((20, 20, 20), centre, 0.4 * 4.5, 4.5)
    assert np.count_nonzero(labels == 1) == core
    assert np.count_nonzero(labels == -1) == shell


def test_targets_overlapping_picks_positive_wins_and_larger_weight_kept():
    labels, weights = build_targets(
        (11, 11, 13), [[5, 5, 5], [5, 5, 7]], radius_voxels=2, core_fraction=0.5, weights=[0.3, 0.9]
    )
    assert labels[5, 5, 6] == 1  # core of both
    assert weights[5, 5, 6] == np.float32(0.9)
    assert labels[5, 5, 8] == 1 and weights[5, 5, 4] == np.float32(0.3)  # each pick's own core
    assert np.count_nonzero(labels == 1) == 7 + 7 - 1  # the cores share one voxel


def test_targets_at_the_border_are_clipped():
    labels, _ = build_targets((6, 6, 6), [[0, 0, 0], [-30, 2, 2]], radius_voxels=2, core_fraction=0.5)
    assert np.count_nonzero(labels == 1) == 4  # the corner and its 3 neighbours inside


def test_targets_bad_inputs():
    with pytest.raises(UnpickInputError, match="radius_voxels"):
        build_targets((8, 8, 8), [[1, 1, 1]], radius_voxels=0)
    with pytest.raises(UnpickInputError, match=r"\(N, 3\)"):
        build_targets((8, 8, 8), [[1, 1]], radius_voxels=2)
    with pytest.raises(UnpickInputError, match="one per pick"):
        build_targets((8, 8, 8), [[1, 1, 1]], radius_voxels=2, weights=[1, 2])
    with pytest.raises(UnpickInputError, match="core_fraction"):
        build_targets((8, 8, 8), [[1, 1, 1]], radius_voxels=2, core_fraction=0)
    with pytest.raises(UnpickInputError, match="finite"):
        build_targets((8, 8, 8), [[np.nan, 1, 1]], radius_voxels=2)


def test_rank_weights_are_scale_free_and_average_ties():
    np.testing.assert_allclose(rank_weights([10.0, 30.0, 20.0], min_weight=0.25), [0.25, 1.0, 0.625])
    np.testing.assert_allclose(rank_weights([1e-6, 3e-6, 2e-6], min_weight=0.25), [0.25, 1.0, 0.625])
    np.testing.assert_allclose(rank_weights([1.0, 2.0, 2.0], min_weight=0.0), [0.0, 0.75, 0.75])
    np.testing.assert_allclose(rank_weights([5.0]), [1.0])
    with pytest.raises(UnpickInputError, match="finite"):
        rank_weights([1.0, np.nan])


def test_priors_from_expected_count_prior_and_teacher():
    labels, _ = build_targets((20, 20, 20), [[5, 5, 5], [14, 14, 14]], radius_voxels=2, core_fraction=0.5)
    n_unl = 8000 - 2 * 33
    kwargs = dict(n_picks=2, radius_voxels=2, core_fraction=0.5)
    given = estimate_priors([labels], expected_count=10, **kwargs)
    assert given.unlabelled == pytest.approx((10 * 7 - 14) / n_unl)
    assert given.labelled_fraction == pytest.approx(14 / (14 + n_unl))
    assert given.full == pytest.approx(given.labelled_fraction + (1 - given.labelled_fraction) * given.unlabelled)
    teacher = estimate_priors([labels], expected_count_factor=1.5, **kwargs)  # 3 particles expected
    assert teacher.unlabelled == pytest.approx((3 * 7 - 14) / n_unl) and teacher.expected_count == 3
    fraction = estimate_priors([labels], prior=0.01, **kwargs)
    assert fraction.unlabelled == pytest.approx((80 - 14) / n_unl)


def test_priors_floor_when_expected_count_is_too_small(caplog):
    labels, _ = build_targets((20, 20, 20), [[5, 5, 5], [14, 14, 14]], radius_voxels=2, core_fraction=0.5)
    with caplog.at_level(logging.WARNING, logger="unpick.deep"):
        priors = estimate_priors([labels], n_picks=2, radius_voxels=2, core_fraction=0.5, expected_count=1)
    assert priors.unlabelled == pytest.approx(1e-5)
    assert "raise expected_count" in caplog.text


def test_crop_patch_pads_outside_the_volume():
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    patch = crop_patch(volume, np.array([-1, 2, 3]), 4, fill=-9.0)
    assert patch.shape == (4, 4, 4)
    np.testing.assert_array_equal(patch[0], -9.0)
    np.testing.assert_array_equal(patch[1:, :3, :3], volume[0:3, 2:5, 3:6])
    np.testing.assert_array_equal(patch[1:, 3:, :], -9.0)


def test_augment_applies_one_transform_to_all_arrays_and_covers_the_group():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).normal(size=(4, 6, 6))
    seen = set()
    for _ in range(200):
        a, b = augment_patch(rng, image, image * 2)
        np.testing.assert_array_equal(b, a * 2)
        assert a.flags["C_CONTIGUOUS"]
        seen.add(a.tobytes())
    # flips and z-rotations generate the 8 symmetries of the square (y, x) times the z flip
    assert len(seen) == 16


def test_sampler_centres_positive_patches_on_picks():
    volume = np.zeros((40, 40, 40), np.float32)
    labels, weights = build_targets(volume.shape, [[20, 20, 20]], radius_voxels=3, core_fraction=0.5)
    sampler = PatchSampler([volume], [labels], [weights], [np.array([[20.0, 20, 20]])], 16, 1.0, augment=False)
    images, lab, wt = sampler.sample(np.random.default_rng(0), 6)
    assert images.shape == lab.shape == wt.shape == (6, 1, 16, 16, 16)
    assert lab.dtype == np.int8 and images.dtype == np.float32
    assert all(np.count_nonzero(lab[i] == 1) == np.count_nonzero(labels == 1) for i in range(6))
    uniform = PatchSampler([volume], [labels], [weights], [np.zeros((0, 3))], 16, 1.0)
    assert uniform.sample(np.random.default_rng(0), 2)[0].shape == (2, 1, 16, 16, 16)
    with pytest.raises(UnpickInputError, match="as many label"):
        PatchSampler([volume], [], [weights], [np.zeros((0, 3))], 16)


def test_normalise_volume_is_robust_to_outliers():
    rng = np.random.default_rng(0)
    volume = (rng.normal(size=(16, 32, 32)) * 3 + 7).astype(np.float32)
    volume[0, 0, :5] = 1e6  # a gold bead
    out, stats = normalise_volume(volume)
    assert stats["median"] == pytest.approx(7, abs=0.1) and stats["scale"] == pytest.approx(3, rel=0.05)
    assert out.dtype == np.float32 and out.max() == 5.0
    assert np.std(out[1:]) == pytest.approx(1, rel=0.05)
    assert volume[0, 0, 0] == 1e6  # input untouched


def test_config_round_trip_and_validation(tmp_path):
    config = DeepConfig(widths=(4, 8, 12, 16), loss="gekl", expected_count=120, peak_threshold=0.3)
    path = tmp_path / "deep.yaml"
    path.write_text(config.to_yaml())
    assert DeepConfig.from_file(path) == config
    assert DeepConfig.from_dict(config.to_dict()) == config
    bad = [
        ({"widths": (8, 16, 24)}, "4 positive integers"),
        ({"loss": "bce"}, "expected one of pn, nnpu, gekl"),
        ({"norm": "batch"}, "group, instance"),
        ({"patch_size": 50}, "multiple of 8"),
        ({"tile_size": 32, "tile_overlap": 24}, "half the tile"),
        ({"prior": 0.01, "expected_count": 10}, "not both"),
        ({"positive_core_fraction": 0.0}, "positive_core_fraction"),
        ({"device": "tpu"}, "cpu, gpu, auto"),
        ({"epochs": 0}, "epochs"),
        ({"coord_channels": "yes"}, "true or false"),
        ({"peak_threshold": 2.0}, "peak_threshold"),
    ]
    for changes, message in bad:
        with pytest.raises(UnpickInputError, match=message):
            DeepConfig(**changes)


def test_importing_the_config_does_not_import_torch():
    code = "import sys, unpick, unpick.deep; unpick.deep.DeepConfig(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
