"""The shared array helpers: labelling a sparse voxel set, releasing a memory-mapped input's pages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st

from unpick._shared import (
    UnpickInputError,
    label_sums,
    release_pages,
    sparse_components,
    spill_to_disk,
    voxel_label_sums,
)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12)),
    density=st.floats(0.0, 0.6),
    connectivity=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_sparse_components_equal_ndimage_label(shape, density, connectivity, seed):
    mask = np.random.default_rng(seed).random(shape) < density
    expected, n_expected = ndi.label(mask, structure=ndi.generate_binary_structure(3, connectivity))
    voxels = np.flatnonzero(mask)
    ids, n = sparse_components(voxels, shape, connectivity=connectivity)
    assert n == n_expected
    np.testing.assert_array_equal(ids, expected.ravel()[voxels])  # same numbering, raster order
    sums = voxel_label_sums(voxels, ids, shape, n)
    reference = label_sums(expected, n_expected)
    np.testing.assert_array_equal(sums.sizes, reference.sizes)
    np.testing.assert_allclose(sums.coordinate_sums, reference.coordinate_sums)


def test_sparse_components_do_not_join_across_a_row_end():
    shape = (1, 3, 4)
    voxels = np.ravel_multi_index(([0, 0], [0, 1], [3, 0]), shape)  # (0,0,3) and (0,1,0) are flat neighbours
    ids, n = sparse_components(np.sort(voxels), shape, connectivity=3)
    assert n == 2 and sorted(ids) == [1, 2]


def test_release_pages_drops_a_read_only_map_and_keeps_its_data(tmp_path):
    path = tmp_path / "volume.raw"
    data = np.arange(64 * 64 * 64, dtype=np.float32).reshape(64, 64, 64)
    data.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=data.shape)
    assert float(mapped.sum(dtype=np.float64)) == float(data.sum(dtype=np.float64))  # every page read in
    assert release_pages(mapped[10:20])  # a view finds its map
    np.testing.assert_array_equal(mapped, data)  # read again from the file, unchanged
    assert not release_pages(data)  # an in-memory array holds the only copy
    writable = np.memmap(path, dtype=np.float32, mode="r+", shape=data.shape)
    assert not release_pages(writable)


def test_a_read_only_volume_is_scanned_for_nan_once_however_many_stages_check_it(monkeypatch, tmp_path):
    import unpick._shared._validate as validate
    from unpick.io import read_tomogram, write_mrc
    from unpick.synthetic import SimulationConfig, simulate_tomogram
    from unpick.workflows import pick_tomogram

    sim = simulate_tomogram(SimulationConfig(shape_zyx=(32, 64, 64), n_particles=8, seed=3))
    write_mrc(tmp_path / "t.mrc", sim.volume, voxel_size_angstrom=10.0)
    scanned = []
    count = validate._count_non_finite
    monkeypatch.setattr(validate, "_count_non_finite", lambda volume, slab=16: scanned.append(volume) or count(volume, slab))
    tomogram = read_tomogram(tmp_path / "t.mrc")
    pick_tomogram(tomogram.data, voxel_size_angstrom=10.0, workflows="intensities-kmeans-cc")  # pick + preprocess
    assert len(scanned) == 1  # the read; pick_tomogram and preprocess check the same read-only array
    writable = np.array(sim.volume)
    validate.check_volume(writable)
    writable[3, 3, 3] = np.nan  # a writable array can change between checks: always scanned
    with pytest.raises(UnpickInputError, match="1 voxels are NaN"):
        validate.check_volume(writable)


def test_spill_to_disk_keeps_the_values_and_falls_back_to_memory(monkeypatch, tmp_path, caplog):
    import tempfile

    array = np.random.default_rng(1).random((20, 30, 40), dtype=np.float32)
    assert spill_to_disk(array, min_bytes=array.nbytes + 1) is array  # small: stays in memory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spilled = spill_to_disk(array, min_bytes=array.nbytes)
    assert isinstance(spilled, np.memmap) and not spilled.flags.writeable
    np.testing.assert_array_equal(spilled, array)
    assert release_pages(spilled)
    np.testing.assert_array_equal(spilled, array)
    assert list(tmp_path.iterdir()) == []  # an unnamed file: nothing to clean up, nothing left by a kill
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with caplog.at_level("WARNING", logger="unpick"):
        assert spill_to_disk(array, min_bytes=1) is array
    assert "stays in memory" in caplog.text and "TMPDIR" in caplog.text
