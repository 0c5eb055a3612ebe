"""Tests for unpick.io MRC reading/writing and atomic writes."""

from __future__ import annotations

import logging
import os

import mrcfile
import numpy as np
import pytest

from unpick._shared import UnpickInputError
from unpick.io import Tomogram, _mrc, atomic_write, read_tomogram, write_mrc


def _volume(shape=(8, 9, 10), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _raw_mrc(path, data, voxel_size=None):
    """Write ``data`` with mrcfile directly (storage type as given)."""
    with mrcfile.new(path, data, overwrite=True) as mrc:
        if voxel_size is not None:
            mrc.voxel_size = voxel_size
    return path


def _files(directory):
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------- round trips


def test_float32_round_trip_keeps_values_voxel_size_and_name(tmp_path):
    volume = _volume()
    path = write_mrc(tmp_path / "rec_TS_01.mrc", volume, voxel_size_angstrom=7.25)
    tomo = read_tomogram(path)
    assert isinstance(tomo, Tomogram)
    np.testing.assert_array_equal(tomo.data, volume)
    assert tomo.data.dtype == np.float32
    assert tomo.voxel_size_angstrom == pytest.approx(7.25)
    assert tomo.voxel_size_source == "header"
    assert tomo.name == "TS_01"
    assert tomo.path == path
    assert tomo.shape == (8, 9, 10)
    with mrcfile.open(path) as mrc:  # header statistics computed slab by slab
        assert int(mrc.header.mode) == 2
        assert float(mrc.header.dmin) == pytest.approx(volume.min())
        assert float(mrc.header.dmax) == pytest.approx(volume.max())
        assert float(mrc.header.dmean) == pytest.approx(volume.mean(), abs=1e-6)
        assert float(mrc.header.rms) == pytest.approx(volume.std(), rel=1e-5)


def test_data_is_read_only(tmp_path):
    tomo = read_tomogram(write_mrc(tmp_path / "a.mrc", _volume(), voxel_size_angstrom=5))
    with pytest.raises(ValueError, match="read-only"):
        tomo.data[0, 0, 0] = 1.0


def test_write_streams_more_slabs_than_one(tmp_path):
    volume = _volume((40, 6, 7), seed=3)  # 40 slices: three 16-slice slabs
    tomo = read_tomogram(write_mrc(tmp_path / "deep.mrc", volume, voxel_size_angstrom=3))
    np.testing.assert_array_equal(tomo.data, volume)


def test_mmap_true_returns_memmap_without_copy(tmp_path):
    volume = _volume()
    path = write_mrc(tmp_path / "m.mrc", volume, voxel_size_angstrom=4)
    tomo = read_tomogram(path, mmap=True)
    assert isinstance(tomo.data, np.memmap)
    np.testing.assert_array_equal(tomo.data, volume)


def test_mmap_auto_follows_size_threshold(tmp_path, monkeypatch):
    path = write_mrc(tmp_path / "m.mrc", _volume(), voxel_size_angstrom=4)
    assert not isinstance(read_tomogram(path).data, np.memmap)
    monkeypatch.setattr(_mrc, "MMAP_THRESHOLD_BYTES", 1024)
    assert isinstance(read_tomogram(path).data, np.memmap)
    assert not isinstance(read_tomogram(path, mmap=False).data, np.memmap)


@pytest.mark.parametrize("dtype", [np.uint8, np.bool_])
def test_mask_round_trip_as_mode_0(tmp_path, dtype):
    mask = (_volume() > 0.3).astype(dtype)
    path = write_mrc(tmp_path / "mask.mrc", mask, voxel_size_angstrom=10)
    with mrcfile.open(path) as mrc:
        assert int(mrc.header.mode) == 0
        np.testing.assert_array_equal(mrc.data, mask.astype(np.int8))
        assert float(mrc.voxel_size.x) == pytest.approx(10)
    np.testing.assert_array_equal(read_tomogram(path).data, mask.astype(np.float32))
    with mrcfile.open(path, header_only=True) as mrc:  # statistics from the histogram, exact
        values = mask.astype(np.float64)
        stats = [float(mrc.header.dmin), float(mrc.header.dmax), float(mrc.header.dmean), float(mrc.header.rms)]
        np.testing.assert_allclose(stats, [values.min(), values.max(), values.mean(), values.std()], rtol=1e-6)


@pytest.mark.parametrize("top", [0, 1, 100])
def test_one_byte_statistics_are_exact_for_masks_and_for_many_values(tmp_path, top):
    """0/1 masks are counted without the 256-bin histogram, other one-byte volumes with it."""
    volume = np.minimum((np.abs(_volume()) * (top + 1)).astype(np.uint8), top)
    path = write_mrc(tmp_path / "v.mrc", volume, voxel_size_angstrom=10)
    values = volume.astype(np.float64)
    with mrcfile.open(path, header_only=True) as mrc:
        stats = [float(mrc.header.dmin), float(mrc.header.dmax), float(mrc.header.dmean), float(mrc.header.rms)]
    np.testing.assert_allclose(stats, [values.min(), values.max(), values.mean(), values.std()], rtol=1e-6, atol=1e-7)


def test_a_full_disk_is_one_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    """The memory map's blocks are reserved first: ENOSPC is an error naming the file, not SIGBUS,
    and neither the target nor a temporary file is left behind."""
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    target = tmp_path / "mask.mrc"
    with pytest.raises(UnpickInputError, match=r"mask\.mrc: cannot write \(No space left on device\); free disk space"):
        write_mrc(target, np.zeros((4, 8, 8), np.int8), voxel_size_angstrom=10)
    assert list(tmp_path.iterdir()) == []


def test_uint8_above_127_is_stored_losslessly(tmp_path):
    volume = np.arange(6 * 6 * 8, dtype=np.int64).reshape(6, 6, 8).astype(np.uint8)
    path = write_mrc(tmp_path / "u8.mrc", volume, voxel_size_angstrom=2)
    np.testing.assert_array_equal(read_tomogram(path).data, volume.astype(np.float32))


def test_integer_labels_written_exactly_and_huge_labels_rejected(tmp_path):
    labels = np.arange(6 * 6 * 6, dtype=np.int64).reshape(6, 6, 6) * 1000
    path = write_mrc(tmp_path / "labels.mrc", labels, voxel_size_angstrom=2)
    np.testing.assert_array_equal(read_tomogram(path).data, labels.astype(np.float32))
    with pytest.raises(UnpickInputError, match="cannot be stored exactly"):
        write_mrc(tmp_path / "big.mrc", labels + 2**30, voxel_size_angstrom=2)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16])
def test_other_storage_types_cast_to_float32(tmp_path, dtype):
    values = np.random.default_rng(1).integers(0, 100, size=(6, 7, 8)).astype(dtype)
    path = _raw_mrc(tmp_path / "typed.mrc", values, voxel_size=5.0)
    tomo = read_tomogram(path, mmap=True)
    assert tomo.data.dtype == np.float32
    assert not isinstance(tomo.data, np.memmap)
    np.testing.assert_array_equal(tomo.data, values.astype(np.float32))


def test_float16_fractional_values_equal_after_cast(tmp_path):
    values = (_volume() / 4).astype(np.float16)
    path = _raw_mrc(tmp_path / "half.mrc", values, voxel_size=10.0)
    np.testing.assert_array_equal(read_tomogram(path).data, values.astype(np.float32))


# ---------------------------------------------------------------- voxel size


@pytest.mark.parametrize("header_value", [None, 1.0])
def test_unknown_header_voxel_size_asks_for_voxel_size(tmp_path, header_value):
    path = _raw_mrc(tmp_path / "nov.mrc", _volume(), voxel_size=header_value)
    with pytest.raises(UnpickInputError, match=r"nov\.mrc.*no voxel size.*--voxel-size"):
        read_tomogram(path)
    tomo = read_tomogram(path, voxel_size_angstrom=12.5)
    assert tomo.voxel_size_angstrom == 12.5
    assert tomo.voxel_size_source == "override"


def test_override_wins_over_header_and_is_logged(tmp_path, caplog):
    path = write_mrc(tmp_path / "a.mrc", _volume(), voxel_size_angstrom=10)
    with caplog.at_level(logging.INFO, logger="unpick.io._mrc"):
        tomo = read_tomogram(path, voxel_size_angstrom=8)
    assert (tomo.voxel_size_angstrom, tomo.voxel_size_source) == (8.0, "override")
    assert "from the override (header says 10" in caplog.text


def test_anisotropic_header_uses_x_and_warns(tmp_path, caplog):
    path = _raw_mrc(tmp_path / "aniso.mrc", _volume(), voxel_size=(4.0, 4.0, 6.0))
    with caplog.at_level(logging.WARNING, logger="unpick.io._mrc"):
        tomo = read_tomogram(path)
    assert tomo.voxel_size_angstrom == pytest.approx(4.0)
    assert "header voxel sizes differ" in caplog.text


@pytest.mark.parametrize("bad", [0, -3.0, float("nan"), float("inf"), "ten"])
def test_bad_voxel_size_override(tmp_path, bad):
    path = write_mrc(tmp_path / "a.mrc", _volume(), voxel_size_angstrom=10)
    with pytest.raises(UnpickInputError, match=r"a\.mrc: voxel size \(--voxel-size\): expected a positive"):
        read_tomogram(path, voxel_size_angstrom=bad)


# ---------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(UnpickInputError, match=r"nope\.mrc: tomogram file not found"):
        read_tomogram(tmp_path / "nope.mrc")


def test_directory(tmp_path):
    with pytest.raises(UnpickInputError, match="is a directory, expected an MRC"):
        read_tomogram(tmp_path)


def test_file_shorter_than_header(tmp_path):
    (tmp_path / "tiny.mrc").write_bytes(b"not an mrc")
    with pytest.raises(UnpickInputError, match="not an MRC file: 10 bytes is shorter than the 1024-byte"):
        read_tomogram(tmp_path / "tiny.mrc")


def test_garbage_bytes(tmp_path):
    (tmp_path / "junk.mrc").write_bytes(np.random.default_rng(5).bytes(5000))
    with pytest.raises(UnpickInputError, match=r"junk\.mrc: not an MRC file \(map ID"):
        read_tomogram(tmp_path / "junk.mrc")


def _patched_header(tmp_path, offset, values, *, keep_data=True):
    path = write_mrc(tmp_path / "hdr.mrc", _volume(), voxel_size_angstrom=5)
    raw = bytearray(path.read_bytes() if keep_data else path.read_bytes()[:1024])
    raw[offset : offset + 4 * len(values)] = np.asarray(values, dtype="<i4").tobytes()
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("mmap", [False, True])
def test_negative_dimensions_in_header(tmp_path, mmap):
    path = _patched_header(tmp_path, 0, [-5])
    with pytest.raises(UnpickInputError, match=r"corrupt header: dimensions nx, ny, nz = \(-5, 9, 8\)"):
        read_tomogram(path, mmap=mmap)


@pytest.mark.parametrize("mmap", [False, True])
def test_header_declaring_huge_volume_is_reported_not_allocated(tmp_path, mmap):
    path = _patched_header(tmp_path, 0, [100_000, 100_000, 100_000], keep_data=False)
    with pytest.raises(UnpickInputError, match="declares 100000x100000x100000 voxels of mode 2"):
        read_tomogram(path, mmap=mmap)


def test_a_missing_map_id_reads_with_a_warning_when_the_sizes_agree(tmp_path, caplog):
    path = write_mrc(tmp_path / "id.mrc", _volume(), voxel_size_angstrom=5)
    raw = bytearray(path.read_bytes())
    raw[208:212] = b"\0\0\0\0"  # an older writer that left the ID out; mrcfile's permissive mode reads it
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="unpick.io"):
        np.testing.assert_array_equal(read_tomogram(path).data, _volume())
    assert "no MRC map ID" in caplog.text
    path.write_bytes(bytes(raw[:-100]))  # no ID and a size the header does not explain: not an MRC file
    with pytest.raises(UnpickInputError, match=r"not an MRC file \(map ID b'\\x00"):
        read_tomogram(path)


@pytest.mark.parametrize("mmap", [False, True])
def test_truncated_file(tmp_path, mmap):
    path = write_mrc(tmp_path / "cut.mrc", _volume(), voxel_size_angstrom=5)
    full = path.read_bytes()
    path.write_bytes(full[:-100])
    expected = rf"truncated or corrupt.*\({len(full)} bytes\).*has {len(full) - 100} bytes"
    with pytest.raises(UnpickInputError, match=expected):
        read_tomogram(path, mmap=mmap)


def test_unsupported_mode(tmp_path):
    path = write_mrc(tmp_path / "mode.mrc", _volume(), voxel_size_angstrom=5)
    raw = bytearray(path.read_bytes())
    raw[12:16] = np.int32(3).tobytes()  # mode 3 (complex int16) is not readable
    path.write_bytes(bytes(raw))
    with pytest.raises(UnpickInputError, match="unsupported MRC mode 3"):
        read_tomogram(path)


def test_complex_data(tmp_path):
    path = _raw_mrc(tmp_path / "fft.mrc", _volume().astype(np.complex64), voxel_size=5.0)
    with pytest.raises(UnpickInputError, match="complex data"):
        read_tomogram(path)


@pytest.mark.parametrize("shape", [(9, 10), (1, 9, 10)])
def test_two_dimensional(tmp_path, shape):
    path = _raw_mrc(tmp_path / "flat.mrc", np.zeros(shape, np.float32), voxel_size=5.0)
    with pytest.raises(UnpickInputError, match="single 2-D image.*expected a 3-D"):
        read_tomogram(path)


def test_volume_stack(tmp_path):
    path = _raw_mrc(tmp_path / "stack.mrc", np.zeros((2, 6, 6, 6), np.float32), voxel_size=5.0)
    with pytest.raises(UnpickInputError, match="stack of 2 volumes.*split the stack"):
        read_tomogram(path)


def test_too_small(tmp_path):
    path = write_mrc(tmp_path / "thin.mrc", np.zeros((4, 64, 64), np.float32), voxel_size_angstrom=5)
    with pytest.raises(UnpickInputError, match=r"thin\.mrc: shape \(4, 64, 64\) is smaller than the 5-voxel"):
        read_tomogram(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_voxel(tmp_path, bad):
    volume = _volume((20, 6, 6))
    volume[18, 2, 3] = bad  # in the second slab of the scan
    path = write_mrc(tmp_path / "nan.mrc", volume, voxel_size_angstrom=5)
    with pytest.raises(UnpickInputError, match=r"nan\.mrc: 1 voxels are NaN or infinite"):
        read_tomogram(path, mmap=True)


# ---------------------------------------------------------------- writing


def test_write_mrc_bad_inputs(tmp_path):
    with pytest.raises(UnpickInputError, match="voxel_size_angstrom: expected a positive"):
        write_mrc(tmp_path / "a.mrc", _volume(), voxel_size_angstrom=0)
    with pytest.raises(UnpickInputError, match="expected a 3-D"):
        write_mrc(tmp_path / "a.mrc", np.zeros((5, 5)), voxel_size_angstrom=1)
    with pytest.raises(UnpickInputError, match="cannot be written to MRC"):
        write_mrc(tmp_path / "a.mrc", np.zeros((5, 5, 5), np.complex64), voxel_size_angstrom=1)
    with pytest.raises(UnpickInputError, match="output directory .* does not exist"):
        write_mrc(tmp_path / "missing" / "a.mrc", _volume(), voxel_size_angstrom=1)
    assert _files(tmp_path) == []


def test_overwrite_false_keeps_existing_file(tmp_path):
    path = write_mrc(tmp_path / "a.mrc", _volume(seed=1), voxel_size_angstrom=5)
    before = path.read_bytes()
    with pytest.raises(UnpickInputError, match="already exists; pass overwrite=True"):
        write_mrc(path, _volume(seed=2), voxel_size_angstrom=5, overwrite=False)
    assert path.read_bytes() == before
    write_mrc(path, _volume(seed=2), voxel_size_angstrom=5)
    np.testing.assert_array_equal(read_tomogram(path).data, _volume(seed=2))


class _FailsAfterFirstSlab(np.ndarray):
    """A volume whose second z-slab cannot be read, to kill a write half way."""

    def __getitem__(self, key):
        if isinstance(key, slice) and (key.start or 0) > 0:
            raise RuntimeError("disk on fire")
        return np.asarray(self)[key]


def test_failed_write_leaves_no_file_and_keeps_old_one(tmp_path):
    volume = _volume((40, 6, 6)).view(_FailsAfterFirstSlab)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_mrc(tmp_path / "new.mrc", volume, voxel_size_angstrom=5)
    assert _files(tmp_path) == []
    old = write_mrc(tmp_path / "old.mrc", _volume(seed=4), voxel_size_angstrom=5)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_mrc(old, volume, voxel_size_angstrom=5)
    assert _files(tmp_path) == ["old.mrc"]
    np.testing.assert_array_equal(read_tomogram(old).data, _volume(seed=4))


def test_atomic_write_success_and_failure(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and not tmp.exists()
        tmp.write_text("complete")
        assert not target.exists()
    assert target.read_text() == "complete"
    assert _files(tmp_path) == ["out.txt"]
    with pytest.raises(KeyError), atomic_write(target) as tmp:
        tmp.write_text("partial")
        raise KeyError("killed")
    assert target.read_text() == "complete"
    assert _files(tmp_path) == ["out.txt"]


def test_a_read_only_destination_is_one_clear_error_even_when_the_cleanup_fails(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    target = tmp_path / "summary.csv"
    target.write_text("old")

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Path, "unlink", refuse)  # the cleanup fails too, and must not hide the cause
    with pytest.raises(UnpickInputError, match=r"summary\.csv: cannot write \(Read-only file system\)"), \
            atomic_write(target) as tmp:
        open(tmp, "w").close()
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert target.read_text() == "old"


def test_atomic_write_requires_something_written_and_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_write(tmp_path / "empty.txt"):
        pass
    assert _files(tmp_path) == []
    with pytest.raises(UnpickInputError, match="is a directory"), atomic_write(tmp_path):
        pass


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [("rec_TS_01.mrc", "TS_01"), ("rec_.mrc", "rec_"), ("rec_...mrc", "rec_.."), ("TS.rec", "TS")],
)
def test_tomogram_names_are_always_one_folder_inside_out(file_name, expected):
    from unpick.io import tomogram_name

    assert tomogram_name(file_name) == expected


def test_a_name_that_would_leave_out_is_refused_and_rec_dots_stay_inside(tmp_path, capsys):
    from unpick.cli import main
    from unpick.synthetic import SimulationConfig, simulate_tomogram

    volume = simulate_tomogram(SimulationConfig(shape_zyx=(24, 48, 48), n_particles=4, seed=1)).volume
    out = tmp_path / "runs" / "out"
    dotted = tmp_path / "rec_...mrc"
    write_mrc(dotted, volume, voxel_size_angstrom=10.0)
    assert main(["-q", "pick", str(dotted), "--out", str(out), "--no-report", "--no-masks"]) == 0
    assert (out / "rec_.." / "job.json").is_file()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["out"]  # nothing beside OUT
    bare = tmp_path / "...mrc"
    write_mrc(bare, volume, voxel_size_angstrom=10.0)
    assert main(["-q", "pick", str(bare), "--out", str(out), "--no-report", "--no-masks"]) == 2
    assert "gives no usable tomogram name" in capsys.readouterr().err


def test_pick_refuses_two_tomograms_with_one_name_before_any_work(tmp_path, capsys):
    from unpick.cli import main
    from unpick.synthetic import SimulationConfig, simulate_tomogram

    volume = simulate_tomogram(SimulationConfig(shape_zyx=(24, 48, 48), n_particles=4, seed=1)).volume
    first, second = tmp_path / "dupA" / "TS.mrc", tmp_path / "dupB" / "rec_TS.mrc"
    for path in (first, second):
        path.parent.mkdir()
        write_mrc(path, volume, voxel_size_angstrom=10.0)
    out = tmp_path / "out"
    assert main(["-q", "pick", str(first), str(second), "--out", str(out), "--no-report", "--no-masks"]) == 2
    assert "both map to the output folder 'TS'" in capsys.readouterr().err
    assert not out.exists()



def test_name_replaces_the_file_stem_for_one_tomogram(tmp_path, capsys):
    import json

    from unpick.cli import main
    from unpick.io import read_picks_csv
    from unpick.synthetic import SimulationConfig, simulate_tomogram

    volume = simulate_tomogram(SimulationConfig(shape_zyx=(24, 48, 48), n_particles=4, seed=1)).volume
    src = write_mrc(tmp_path / "rec_0001.mrc", volume, voxel_size_angstrom=10.0)
    out = tmp_path / "out"
    base = ["-q", "pick", "--no-report", "--no-masks", "-w", "intensities-gmm-cc", "--out", str(out)]
    assert main([*base, str(src), "--name", "TS_99"]) == 0
    assert json.loads((out / "TS_99" / "job.json").read_text())["tomogram"] == "TS_99"
    picks = read_picks_csv(out / "TS_99" / "picks" / "intensities-gmm-cc.csv")
    assert set(picks["tomogram"]) <= {"TS_99"}
    assert main([*base, str(src), str(src), "--name", "TS_99"]) == 2
    assert "names one tomogram, got 2" in capsys.readouterr().err
    assert main([*base, str(src), "--name", "../up"]) == 2
    assert "cannot name a tomogram" in capsys.readouterr().err


def test_imod_mode_0_bytes_are_unsigned_unless_flagged_signed(tmp_path):
    values = np.tile(np.array([0, 100, 200, 255], dtype=np.uint8), (6, 6, 2))  # 6 x 6 x 8

    def imod_file(name: str, flags: int) -> os.PathLike:
        path = tmp_path / name
        with mrcfile.new(path) as mrc:
            mrc.set_data(values.view(np.int8))
        raw = bytearray(path.read_bytes())
        raw[152:160] = np.array([_mrc.IMOD_STAMP, flags], dtype="<i4").tobytes()
        path.write_bytes(bytes(raw))
        return path

    np.testing.assert_array_equal(read_tomogram(imod_file("u.mrc", 0), voxel_size_angstrom=10).data, values)
    signed = read_tomogram(imod_file("s.mrc", 1), voxel_size_angstrom=10).data
    np.testing.assert_array_equal(signed, values.view(np.int8))  # the flag says signed: -56 stays -56
