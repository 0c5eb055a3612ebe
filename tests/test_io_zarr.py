"""OME-Zarr and Zarr tomograms: read lazily, level chosen by voxel size, named like copick runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
ome_writer = pytest.importorskip("ome_zarr.writer")

from unpick._shared import UnpickInputError  # noqa: E402
from unpick.cli import main  # noqa: E402
from unpick.io import read_tomogram, tomogram_name, write_mrc  # noqa: E402
from unpick.synthetic import SimulationConfig, simulate_tomogram  # noqa: E402


def write_ome_zarr(path, volume: np.ndarray, voxel_size_angstrom: float, unit: str = "angstrom") -> None:
    """A two-level OME-Zarr image written with ome-zarr's own writer (level 1 binned by 2)."""
    factor = {"angstrom": 1.0, "nanometer": 0.1}[unit]
    pyramid = [volume, volume[::2, ::2, ::2].copy()]
    transforms = [[{"type": "scale", "scale": [voxel_size_angstrom * factor * 2**k] * 3}] for k in range(2)]
    axes = [{"name": axis, "type": "space", "unit": unit} for axis in "zyx"]
    ome_writer.write_multiscale(
        pyramid, zarr.open_group(str(path), mode="w"), axes=axes, coordinate_transformations=transforms,
        storage_options={"chunks": (16, 32, 32)},
    )  # fmt: skip


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return simulate_tomogram(SimulationConfig(shape_zyx=(32, 64, 64), n_particles=12, seed=3)).volume


def test_ome_zarr_is_read_lazily_with_its_voxel_size_and_name(tmp_path, volume):
    path = tmp_path / "rec_TS_01.ome.zarr"
    write_ome_zarr(path, volume, 10.0, unit="nanometer")
    tomogram = read_tomogram(path)
    assert tomogram.name == "TS_01" and tomogram.voxel_size_angstrom == pytest.approx(10.0)
    assert tomogram.voxel_size_source == "metadata" and tomogram.shape == volume.shape
    assert not isinstance(tomogram.data, np.ndarray)  # lazy: slices are read on demand
    np.testing.assert_array_equal(tomogram.data[3:5], volume[3:5])
    assert tomogram.data[0].dtype == np.float32


def test_the_level_is_chosen_by_voxel_size(tmp_path, volume):
    path = tmp_path / "TS_01.ome.zarr"
    write_ome_zarr(path, volume, 10.0)
    binned = read_tomogram(path, voxel_size_angstrom=20.0)
    assert binned.shape == volume[::2, ::2, ::2].shape and binned.voxel_size_angstrom == pytest.approx(20.0)
    with pytest.raises(UnpickInputError, match=r"no multiscale level has a voxel size of 15 Å \(levels 0: 10 Å, 1: 20 Å\)"):
        read_tomogram(path, voxel_size_angstrom=15.0)


def test_a_plain_zarr_array_needs_a_voxel_size(tmp_path, volume):
    path = tmp_path / "TS_02.zarr"
    zarr.save_array(str(path), volume)
    with pytest.raises(UnpickInputError, match="no voxel size.*--voxel-size"):
        read_tomogram(path)
    tomogram = read_tomogram(path, voxel_size_angstrom=10.0)
    assert tomogram.voxel_size_source == "override" and tomogram.name == "TS_02"


def test_a_zarr_group_without_multiscales_is_refused_clearly(tmp_path):
    path = tmp_path / "notes.zarr"
    zarr.open_group(str(path), mode="w")
    with pytest.raises(UnpickInputError, match="without OME-Zarr 'multiscales' metadata"):
        read_tomogram(path)


def test_pick_on_ome_zarr_equals_pick_on_the_mrc(tmp_path, volume):
    zarr_path = tmp_path / "TS_01.ome.zarr"
    write_ome_zarr(zarr_path, volume, 10.0)
    mrc_path = tmp_path / "mrc" / "TS_01.mrc"
    mrc_path.parent.mkdir()
    write_mrc(mrc_path, volume, voxel_size_angstrom=10.0)
    base = ["-q", "pick", "--particle-radius", "60", "--no-report", "--no-masks"]
    assert main([*base, str(zarr_path), "--out", str(tmp_path / "z")]) == 0
    assert main([*base, str(mrc_path), "--out", str(tmp_path / "m")]) == 0
    from_zarr = (tmp_path / "z" / "TS_01" / "picks" / "fft-gmm-cc.csv").read_text()
    from_mrc = (tmp_path / "m" / "TS_01" / "picks" / "fft-gmm-cc.csv").read_text()
    assert from_zarr == from_mrc and len(from_zarr.splitlines()) > 3
    record = json.loads((tmp_path / "z" / "TS_01" / "job.json").read_text())
    assert record["voxel_size_angstrom"] == 10.0


def test_copick_tomograms_are_named_by_run_and_found_by_batch(tmp_path, volume):
    root = tmp_path / "ExperimentRuns"
    for run in ("TS_7", "TS_8"):
        path = root / run / "VoxelSpacing10.000" / "wbp.zarr"
        path.parent.mkdir(parents=True)
        write_ome_zarr(path, volume, 10.0)
        assert tomogram_name(path) == run
    out = tmp_path / "out"
    code = main(["-q", "batch", str(root), "--out", str(out), "--recursive", "--particle-radius", "60", "--no-report"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if (p / "job.json").is_file()) == ["TS_7", "TS_8"]
