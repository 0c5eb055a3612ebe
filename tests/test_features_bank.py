"""Feature banks: kernel definitions, chunked streaming, Gabor selection, sampling, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from unpick._shared import UnpickInputError
from unpick.features import (
    FeatureConfig,
    build_feature_bank,
    gabor_bank_size,
    kernel_matrix,
    sample_interior_voxels,
)
from unpick.features._kernels import canonical_frequency_triples

SMALL_GABOR = {"gabor_frequencies_per_axis": 4, "n_gabor_features": 12, "gabor_selection_voxels": 500}


def _volume(shape=(12, 40, 24), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 0.7).astype(np.float32)


# --- kernel banks -------------------------------------------------------------------------------


def test_fft_bank_keeps_the_63_hermitian_representatives() -> None:
    bank = build_feature_bank(_volume(), config=FeatureConfig(mode="fft"))
    assert bank.n_features == 63
    ks = [tuple(int(c) for c in name[len("fft k=(") : -1].split(",")) for name in bank.names]
    assert len(set(ks)) == 63
    covered = set(ks) | {tuple((-np.array(k)) % 5) for k in ks}
    assert len(covered) == 125  # every DFT index is kept or is the conjugate of a kept one
    assert (0, 0, 0) in ks
    dropped = build_feature_bank(_volume(), config=FeatureConfig(mode="fft", fft_dc_scale=0.0))
    assert dropped.n_features == 62 and "fft k=(0,0,0)" not in dropped.names


def test_fft_dc_scale_multiplies_only_the_dc_feature() -> None:
    volume = _volume()
    raw = build_feature_bank(volume, config=FeatureConfig(mode="fft", fft_dc_scale=1.0))
    scaled = build_feature_bank(volume, config=FeatureConfig(mode="fft"))
    a, b = raw.compute_chunk(volume, 3, 6, n_threads=1), scaled.compute_chunk(volume, 3, 6, n_threads=1)
    dc = raw.names.index("fft k=(0,0,0)")
    np.testing.assert_allclose(b[:, dc], a[:, dc] / np.sqrt(125), rtol=1e-6)
    others = np.arange(63) != dc
    np.testing.assert_array_equal(a[:, others], b[:, others])
    # raw DC is the neighbourhood sum: sqrt(125) times larger than a typical AC magnitude scale
    assert a[:, dc].mean() > 5 * a[:, others].mean()


def test_gabor_kernels_are_centred_with_nyquist_at_one_half() -> None:
    config = FeatureConfig(mode="gabor")
    kernels = kernel_matrix(config)
    assert kernels.shape == (125, gabor_bank_size(10, signed=True)) == (125, 2920)
    cubes = kernels.reshape(5, 5, 5, -1)
    magnitude = np.abs(cubes).reshape(125, -1)
    assert np.all(magnitude.argmax(axis=0) == 62)  # the envelope peaks at the centre voxel (2, 2, 2)
    np.testing.assert_allclose(cubes[2, 2, 2], 1.0, atol=1e-12)  # carrier phase 0 at the centre
    np.testing.assert_allclose(np.abs(cubes[2, 2, 0]), np.exp(-4 / 2), rtol=1e-12)  # sigma = 1 voxel
    freqs = canonical_frequency_triples(np.linspace(0, 0.5, 10), signed=True)
    assert freqs.max() == 0.5 and freqs.min() == pytest.approx(-4 / 9)  # -0.5 is 0.5: not repeated
    assert np.abs(freqs).max() == 0.5  # the highest frequency is Nyquist exactly, not 0.625
    # a pure x-Nyquist filter is the real alternating carrier (-1)^m under the envelope
    column = next(j for j, f in enumerate(freqs.tolist()) if f == [0.0, 0.0, 0.5])
    line = cubes[2, 2, :, column]
    np.testing.assert_allclose(line, np.exp(-np.arange(-2, 3) ** 2 / 2) * (-1.0) ** np.arange(-2, 3), atol=1e-12)


@pytest.mark.parametrize("signed", [True, False])
def test_gabor_bank_has_no_duplicate_magnitudes(signed: bool) -> None:
    freqs = canonical_frequency_triples(np.linspace(0, 0.5, 6), signed=signed)
    assert len(freqs) == gabor_bank_size(6, signed=signed)
    keys = {tuple(np.round(f % 1.0, 9) % 1.0) for f in freqs}
    negatives = {tuple(np.round(-f % 1.0, 9) % 1.0) for f in freqs}
    assert len(keys) == len(freqs)
    # f and -f give one magnitude: no representative is the negative of another (except itself)
    assert len(keys & negatives) == sum(1 for f in freqs if np.all(np.isin(f, (0.0, 0.5))))
    if signed:
        assert np.any(freqs[:, 1] < 0) and np.any(freqs[:, 0] < 0)  # mixed-sign orientations present
    else:
        assert np.all(freqs >= 0)


def test_kernel_matrix_of_bank_is_its_selected_columns_of_the_full_bank() -> None:
    config = FeatureConfig(mode="gabor", **SMALL_GABOR)
    bank = build_feature_bank(_volume(), config=config, rng=1)
    full = kernel_matrix(config)
    full_freqs = canonical_frequency_triples(np.linspace(0, 0.5, 4), signed=True)
    for j, freq in enumerate(bank.frequencies_zyx):
        column = int(np.flatnonzero(np.all(full_freqs == freq, axis=1))[0])
        np.testing.assert_array_equal(kernel_matrix(bank)[:, j], full[:, column])
    np.testing.assert_array_equal(kernel_matrix(FeatureConfig(mode="intensities")), np.eye(125))
    with pytest.raises(UnpickInputError, match="expected a FeatureConfig or FeatureBank"):
        kernel_matrix("gabor")


# --- chunked streaming ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["intensities", "fft", "gabor"])
def test_chunked_equals_whole_and_threads_do_not_change_results(mode: str, monkeypatch) -> None:
    volume = _volume()
    small = SMALL_GABOR if mode == "gabor" else {}
    config = FeatureConfig(mode=mode, chunk_megabytes=1e-6, **small)  # one slice per chunk
    bank = build_feature_bank(volume, config=config, rng=2)
    reference = bank.compute_chunk(volume, 0, volume.shape[0], n_threads=1)  # one tile
    monkeypatch.setattr("unpick.features._bank.CPU_TILE_VOXELS", (16, 300))  # tiles of 1 or 12 rows
    whole = bank.compute_chunk(volume, 0, volume.shape[0], n_threads=1)  # 40 y-tiles
    np.testing.assert_array_equal(whole, reference)
    chunks = list(bank.iter_chunks(volume, n_threads=2))
    assert [(z0, z1) for z0, z1, _ in chunks] == [(z, z + 1) for z in range(volume.shape[0])]
    np.testing.assert_allclose(np.concatenate([f for _, _, f in chunks]), whole, rtol=1e-6, atol=1e-6)
    # a sub-range with chunk seams in the middle: chunks see their halo from the neighbouring slices
    bank2 = build_feature_bank(volume, config=config.replace(chunk_megabytes=4 * 40 * 24 * bank.n_features * 3e-6), rng=2)
    assert bank2.chunk_depth(volume.shape) == 3
    parts = list(bank2.iter_chunks(volume, z_range=(2, 10)))
    assert [(z0, z1) for z0, z1, _ in parts] == [(2, 5), (5, 8), (8, 10)]
    stacked = np.concatenate([f for _, _, f in parts])
    plane = volume.shape[1] * volume.shape[2]
    np.testing.assert_allclose(stacked, whole[2 * plane : 10 * plane], rtol=1e-6, atol=1e-6)
    # seam voxels against the explicit neighbourhood path
    idx = np.array([[4, 7, 9], [5, 7, 9], [5, 20, 3], [7, 37, 21], [8, 2, 2]])
    rows = [(z - 2) * plane + y * volume.shape[2] + x for z, y, x in idx]
    np.testing.assert_allclose(stacked[rows], bank.at_voxels(volume, idx), rtol=1e-5, atol=1e-5)


def test_intensities_decision_through_the_fft_equals_the_direct_sum_over_chunks_and_threads(monkeypatch) -> None:
    """On the CPU the intensities decision is an FFT correlation of each z-chunk (one forward
    transform shared by the weight vectors); it equals the features times the weights, chunk
    seams and the shorter last chunk included, and does not depend on the transform's threads."""
    from unpick.features import _fft_correlation

    volume = _volume(shape=(23, 30, 17), seed=4)  # odd sizes: transforms padded to fast lengths
    bank = build_feature_bank(volume, config=FeatureConfig(mode="intensities"))
    weights = np.random.default_rng(5).normal(size=(2, 125)).astype(np.float32)
    expected = bank.compute_chunk(volume, 2, 21) @ weights.T
    monkeypatch.setattr(_fft_correlation, "MIN_FFT_SLICES", 5)
    monkeypatch.setattr(_fft_correlation, "FFT_SPECTRUM_BYTES", 9 * 34 * 10 * 8)  # 5 slices of a 34x(18/2+1) spectrum
    for n_threads in (1, 2):
        chunks = list(bank.linear_responses(volume, list(weights), z_range=(2, 21), n_threads=n_threads))
        assert [(z0, z1) for z0, z1, _ in chunks] == [(2, 7), (7, 12), (12, 17), (17, 21)]
        for k in range(2):
            got = np.concatenate([responses[k] for _, _, responses in chunks])
            np.testing.assert_allclose(got, expected[:, k], rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    one = [r[0] for _, _, r in bank.linear_responses(volume, [weights[0]], z_range=(2, 21), n_threads=1)]
    two = [r[0] for _, _, r in bank.linear_responses(volume, [weights[0]], z_range=(2, 21), n_threads=2)]
    np.testing.assert_array_equal(np.concatenate(one), np.concatenate(two))


def test_chunk_depth_follows_chunk_megabytes() -> None:
    volume = _volume()
    bank = build_feature_bank(volume, config=FeatureConfig(mode="fft", chunk_megabytes=1.0))
    assert bank.chunk_depth((100, 256, 256)) == 1  # a slice is more than 1 MB: at least one slice
    assert bank.chunk_depth((100, 10, 10)) == 39  # 1e6 // (10 * 10 * 63 * 4)


def test_memmapped_volume_gives_the_same_features(tmp_path) -> None:
    volume = _volume()
    stored = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32, shape=volume.shape)
    stored[:] = volume
    stored.flush()
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    bank = build_feature_bank(mapped, config=FeatureConfig(mode="fft"))
    np.testing.assert_array_equal(bank.compute_chunk(mapped, 2, 5, n_threads=1), bank.compute_chunk(volume, 2, 5, n_threads=1))
    idx = sample_interior_voxels(volume.shape, 50, rng=0)
    np.testing.assert_array_equal(bank.at_voxels(mapped, idx), bank.at_voxels(volume, idx))
    transposed_view = np.ascontiguousarray(volume.transpose(2, 1, 0)).transpose(2, 1, 0)  # not C-contiguous
    np.testing.assert_allclose(bank.at_voxels(transposed_view, idx), bank.at_voxels(volume, idx), rtol=1e-6)


# --- Gabor selection -----------------------------------------------------------------------------


def _modulated(axis: int, seed: int) -> np.ndarray:
    """Smooth random amplitude times a Nyquist carrier (-1)^n along ``axis`` (zero mean, no DC to mix in)."""
    rng = np.random.default_rng(seed)
    amplitude = ndimage.gaussian_filter(rng.random((20, 20, 20)), 2.0)
    carrier = (-1.0) ** np.arange(20)
    shape = [1, 1, 1]
    shape[axis] = 20
    return (amplitude * carrier.reshape(shape)).astype(np.float32)


def test_gabor_selection_is_per_tomogram_and_seeded() -> None:
    config = FeatureConfig(mode="gabor", gabor_frequencies_per_axis=3, n_gabor_features=3, gabor_selection_voxels=2000)
    along_x = build_feature_bank(_modulated(2, 0), config=config, rng=5)
    along_z = build_feature_bank(_modulated(0, 0), config=config, rng=5)
    assert along_x.selected[0]["frequency_zyx"] == [0.0, 0.0, 0.5]
    assert along_z.selected[0]["frequency_zyx"] == [0.5, 0.0, 0.0]
    assert along_x.names != along_z.names
    again = build_feature_bank(_modulated(2, 0), config=config, rng=5)
    assert again.names == along_x.names and again.selected == along_x.selected
    stds = [item["response_std"] for item in along_x.selected]
    assert stds == sorted(stds, reverse=True) and stds[0] > 0
    record = along_x.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["mode"] == "gabor" and record["n_features"] == 3 and len(record["selected"]) == 3


def test_gabor_selection_uses_only_the_fit_range() -> None:
    volume = _modulated(2, 1)
    volume[10:] = _modulated(0, 1)[10:]  # x-carrier below slice 10, z-carrier above
    config = FeatureConfig(mode="gabor", gabor_frequencies_per_axis=3, n_gabor_features=1, gabor_selection_voxels=500)
    low = build_feature_bank(volume, config=config, rng=0, fit_z_range=(0, 9))
    high = build_feature_bank(volume, config=config, rng=0, fit_z_range=(11, 20))
    assert low.selected[0]["frequency_zyx"] == [0.0, 0.0, 0.5]
    assert high.selected[0]["frequency_zyx"] == [0.5, 0.0, 0.0]


def test_gabor_selection_drops_near_duplicates_of_the_local_mean() -> None:
    """On a smooth volume the top filters by spread are all low-frequency near-copies of the local
    mean: with max correlation 1 all N are kept, by default only those that differ."""
    volume = ndimage.gaussian_filter(np.random.default_rng(3).random((16, 40, 40)), 2.0).astype(np.float32)
    every = build_feature_bank(volume, config=FeatureConfig(mode="gabor", gabor_max_correlation=1.0), rng=0)
    distinct = build_feature_bank(volume, config=FeatureConfig(mode="gabor"), rng=0)
    assert every.n_features == 24 and every.selected[0]["name"] == "gabor f=(0,0,0)"
    assert 1 <= distinct.n_features < 24
    assert set(distinct.names) < set(every.names)  # a subset of the same top 24, in the same order
    assert distinct.names == [name for name in every.names if name in distinct.names]
    # no two kept filters correlate above 0.999 on a fresh sample; every dropped one does with a kept one
    idx = sample_interior_voxels(volume.shape, 4000, rng=1)
    responses = every.at_voxels(volume, idx).astype(np.float64)
    correlation = np.corrcoef(responses.T)
    kept = [every.names.index(name) for name in distinct.names]
    dropped = [j for j in range(24) if j not in kept]
    off_diagonal = correlation[np.ix_(kept, kept)][~np.eye(len(kept), dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.9995)
    assert np.all(np.abs(correlation[np.ix_(dropped, kept)]).max(axis=1) > 0.998)


# --- sampling ------------------------------------------------------------------------------------


def test_sample_interior_voxels_is_interior_seeded_sorted_and_distinct() -> None:
    shape = (30, 20, 25)
    idx = sample_interior_voxels(shape, 500, rng=4, z_range=(5, 12))
    assert idx.dtype == np.int64 and idx.shape == (500, 3)
    assert np.all(idx[:, 0] >= 5) and np.all(idx[:, 0] < 12)
    assert np.all(idx >= 2) and np.all(idx < np.array(shape) - 2)
    flat = np.ravel_multi_index(idx.T, shape)
    assert np.all(np.diff(flat) > 0)  # sorted and distinct
    np.testing.assert_array_equal(idx, sample_interior_voxels(shape, 500, rng=4, z_range=(5, 12)))
    assert not np.array_equal(idx, sample_interior_voxels(shape, 500, rng=5, z_range=(5, 12)))
    # z_range reaching the faces is clipped to the interior; asking for more returns them all
    everything = sample_interior_voxels(shape, 10**9, rng=0, z_range=(0, 4))
    assert len(everything) == 2 * 16 * 21 and set(everything[:, 0]) == {2, 3}
    # uniform: every interior slice of the range is hit about equally
    counts = np.bincount(sample_interior_voxels(shape, 2000, rng=1)[:, 0], minlength=30)[2:28]
    assert counts.min() > 0.5 * counts.mean()


def test_sample_interior_voxels_rejects_empty_regions_and_bad_n() -> None:
    with pytest.raises(UnpickInputError, match="no voxel is at least 2 voxels"):
        sample_interior_voxels((30, 20, 25), 10, rng=0, z_range=(0, 2))
    with pytest.raises(UnpickInputError, match="no voxel is at least 2 voxels"):
        sample_interior_voxels((30, 4, 25), 10, rng=0)
    with pytest.raises(UnpickInputError, match="z-slab|z0 < z1"):
        sample_interior_voxels((30, 20, 25), 10, rng=0, z_range=(12, 5))
    with pytest.raises(UnpickInputError, match="n: expected a positive integer"):
        sample_interior_voxels((30, 20, 25), 0, rng=0)
    with pytest.raises(UnpickInputError, match="shape_zyx: expected three sizes"):
        sample_interior_voxels((30, 20), 5, rng=0)


# --- bad input -----------------------------------------------------------------------------------


def test_at_voxels_and_compute_chunk_reject_bad_input() -> None:
    volume = _volume()
    bank = build_feature_bank(volume, config=FeatureConfig(mode="fft"))
    with pytest.raises(UnpickInputError, match="closer than 2 voxels to a face"):
        bank.at_voxels(volume, np.array([[1, 10, 10]]))
    with pytest.raises(UnpickInputError, match="closer than 2 voxels to a face"):
        bank.at_voxels(volume, np.array([[5, 10, 22]]))
    with pytest.raises(UnpickInputError, match=r"expected an \(N, 3\) integer array"):
        bank.at_voxels(volume, np.array([[5.0, 10.0, 10.0]]))
    with pytest.raises(UnpickInputError, match=r"0 <= z0 < z1 <= 12"):
        bank.compute_chunk(volume, 5, 5)
    with pytest.raises(UnpickInputError, match=r"0 <= z0 < z1 <= 12"):
        bank.compute_chunk(volume, 0, 13)
    with pytest.raises(UnpickInputError, match="expected a 3-D"):
        bank.compute_chunk(volume[0], 0, 1)
    with pytest.raises(UnpickInputError, match="z_range"):
        list(bank.iter_chunks(volume, z_range=(0, 40)))
    with pytest.raises(UnpickInputError, match="n_threads: expected a positive integer"):
        bank.compute_chunk(volume, 0, 3, n_threads=0)
    with pytest.raises(UnpickInputError, match="expected a FeatureConfig"):
        build_feature_bank(volume, config={"mode": "fft"})
    with pytest.raises(UnpickInputError, match="smaller than the 5-voxel neighbourhood"):
        build_feature_bank(np.zeros((3, 9, 9), np.float32), config=FeatureConfig(mode="fft"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "wavelet"}, "mode: expected one of intensities, fft, gabor"),
        ({"fft_dc_scale": -1.0}, "fft_dc_scale: expected a number >= 0"),
        ({"gabor_frequencies_per_axis": 1}, "gabor_frequencies_per_axis: expected an integer >= 2"),
        ({"gabor_frequencies_per_axis": 2.5}, "gabor_frequencies_per_axis: expected an integer"),
        ({"gabor_signed": "yes"}, "gabor_signed: expected true or false"),
        ({"gabor_sigma": 0.0}, "gabor_sigma: expected a number > 0"),
        ({"n_gabor_features": 0}, "n_gabor_features: expected an integer >= 1"),
        ({"n_gabor_features": 1001, "gabor_signed": False}, "expected at most the 1000 filters"),
        ({"gabor_selection_voxels": 5}, "gabor_selection_voxels: expected an integer >= 10"),
        ({"gabor_max_correlation": 0.0}, "gabor_max_correlation: expected a number > 0"),
        ({"gabor_max_correlation": 1.5}, r"gabor_max_correlation: expected a correlation in \(0, 1\], got 1.5"),
        ({"chunk_megabytes": 0}, "chunk_megabytes: expected a number > 0"),
        ({"chunk_megabytes": float("nan")}, "chunk_megabytes: expected a number > 0"),
    ],
)
def test_feature_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(UnpickInputError, match=message):
        FeatureConfig(**changes)


def test_feature_config_round_trips(tmp_path) -> None:
    config = FeatureConfig(mode="gabor", gabor_signed=False, n_gabor_features=7, chunk_megabytes=12.5)
    path = tmp_path / "features.yaml"
    path.write_text(config.to_yaml())
    assert FeatureConfig.from_file(path) == config
    assert FeatureConfig.from_dict(json.loads(config.to_json())) == config
    assert FeatureConfig.from_dict(FeatureConfig(mode="fft").to_dict()).fft_dc_scale == 1 / np.sqrt(125)
