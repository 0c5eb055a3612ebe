"""Reading tomograms from MRC files (validated, memory-mapped when large); writing is ``_mrc_write``."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from .._shared import UnpickInputError, check_positive, check_volume
from ._names import tomogram_name
from ._zarr import is_zarr, open_zarr_volume

logger = logging.getLogger(__name__)

#: Files larger than this many bytes are memory-mapped when ``mmap=None``.
MMAP_THRESHOLD_BYTES = 256 * 2**20

_HEADER_BYTES = 1024
_MAP_ID_OFFSET = 208  # word 53 of the MRC2014 header
_SLAB = 16  # z-slices per block when streaming statistics or data

# Voxel sizes an MRC header uses for "not set": 0 (never filled in) and 1 (cella == grid size).
_UNKNOWN_VOXEL_SIZES = (0.0, 1.0)

# dtypes written unchanged, and their MRC modes (2014 standard; mode 12 = float16).
_MODE_OF_DTYPE = {
    np.dtype(np.int8): 0,
    np.dtype(np.int16): 1,
    np.dtype(np.float32): 2,
    np.dtype(np.uint16): 6,
    np.dtype(np.float16): 12,
}


@dataclasses.dataclass(frozen=True, eq=False)
class Tomogram:
    """A tomogram loaded from an MRC file.

    Attributes
    ----------
    data : numpy.ndarray or numpy.memmap
        Read-only ``(Z, Y, X)`` float32 density. A memory-mapped float32 file stays memory-mapped;
        any other storage type is cast to an in-memory float32 copy. Read-only so that no stage can
        modify the input in place: copy before changing it.
    voxel_size_angstrom : float
        Edge of one voxel in Å.
    voxel_size_source : str
        ``"header"`` (read from the MRC header) or ``"override"`` (given by the caller).
    path : pathlib.Path
        The file it was read from.
    name : str
        File stem with a leading ``rec_`` removed (``rec_TS_01.mrc`` -> ``TS_01``).
    """

    data: np.ndarray = dataclasses.field(repr=False)
    voxel_size_angstrom: float
    voxel_size_source: str
    path: Path
    name: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)`` size in voxels."""
        return tuple(int(n) for n in self.data.shape)


def read_tomogram(
    path: str | os.PathLike,
    *,
    voxel_size_angstrom: float | None = None,
    mmap: bool | None = None,
) -> Tomogram:
    """Read and validate a tomogram from an MRC file.

    Parameters
    ----------
    path : str or os.PathLike
        MRC file holding one 3-D volume (modes 0, 1, 2, 6, 12; cast to float32).
    voxel_size_angstrom : float, optional
        Voxel size in Å. When given it overrides the header; required when the header holds no
        voxel size (0 or 1, which MRC writers use for "unset").
    mmap : bool, optional
        Return float32 data memory-mapped (no copy, read on demand) instead of read into memory.
        ``None`` (default) maps files larger than 256 MiB. Other storage types are always cast into
        an in-memory float32 copy.

    Returns
    -------
    Tomogram
        Read-only ``(Z, Y, X)`` float32 data with its voxel size, path and name.

    Raises
    ------
    UnpickInputError
        With the file name and a fix, when the file is missing, a directory, not an MRC file,
        truncated, not a 3-D volume (2-D image or volume stack), smaller than 5 voxels on an axis,
        contains NaN/inf, or has no voxel size and none was given.
    """
    path = Path(path)
    if not path.exists():
        raise UnpickInputError(f"{path}: tomogram file not found; check the path")
    override = None
    if voxel_size_angstrom is not None:
        try:
            override = check_positive(voxel_size_angstrom, "voxel size (--voxel-size)", unit="Å")
        except UnpickInputError as err:
            raise UnpickInputError(f"{path}: {err}") from err
    if is_zarr(path):
        return _read_zarr(path, override)
    if path.is_dir():
        raise UnpickInputError(f"{path}: is a directory, expected an MRC tomogram file or an OME-Zarr image")
    n_bytes = path.stat().st_size
    if n_bytes < _HEADER_BYTES:
        raise UnpickInputError(
            f"{path}: not an MRC file: {n_bytes} bytes is shorter than the {_HEADER_BYTES}-byte MRC "
            f"header; pass a tomogram in MRC format"
        )
    use_mmap = n_bytes > MMAP_THRESHOLD_BYTES if mmap is None else bool(mmap)
    _check_map_id(path)
    data, header_voxel_size = _read_mrc(path, n_bytes=n_bytes, use_mmap=use_mmap)
    voxel_size, source = _choose_voxel_size(path, header_voxel_size, override)
    return Tomogram(data=data, voxel_size_angstrom=voxel_size, voxel_size_source=source, path=path,
                    name=tomogram_name(path))


def _read_zarr(path: Path, override: float | None) -> Tomogram:
    """A tomogram from an OME-Zarr image (level chosen by ``override``, else level 0) or Zarr array."""
    data, metadata_voxel, level = open_zarr_volume(path, voxel_size_angstrom=override)
    check_volume(data, name=str(path))
    if metadata_voxel is None and override is None:
        raise UnpickInputError(
            f"{path}: the Zarr store has no voxel size (no OME-Zarr scale in Å or nm); pass it with --voxel-size in Å"
        )
    voxel, source = (metadata_voxel, "metadata") if metadata_voxel is not None else (override, "override")
    logger.info("%s: %s, shape %s, voxel size %g Å from the %s", path, level, data.shape, voxel, source)
    return Tomogram(data=data, voxel_size_angstrom=voxel, voxel_size_source=source, path=path, name=tomogram_name(path))


def _read_mrc(path: Path, *, n_bytes: int, use_mmap: bool) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Map ``path`` with mrcfile (permissive), validate it, return float32 data and header voxel size.

    The file is always opened memory-mapped, so a header declaring more data than the file holds is
    reported instead of allocated; without ``use_mmap`` the data is then read into memory.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
                header = mrc.header
                data = mrc.data
                if data is None:
                    raise UnpickInputError(f"{path}: {_data_problem(header, n_bytes, caught)}")
                voxel_size = _header_voxel_size(header)
        except UnpickInputError:
            raise
        except (ValueError, OSError, EOFError) as err:
            raise UnpickInputError(
                f"{path}: not a readable MRC file ({err}); pass a tomogram in MRC format"
            ) from err
    for warning in caught:
        logger.warning("%s: mrcfile: %s", path, warning.message)
    _check_dimensions(path, data)
    if data.dtype.kind == "c":
        raise UnpickInputError(
            f"{path}: holds complex data ({data.dtype}), expected a real-valued tomogram; pass the "
            f"real-space reconstruction"
        )
    if data.dtype == np.int8 and _imod_unsigned_bytes(path):
        logger.info("%s: IMOD mode-0 file without its signed-bytes flag: reading the bytes as unsigned (0-255)", path)
        data = np.asarray(data).view(np.uint8)
    if data.dtype != np.float32 or not data.dtype.isnative:
        logger.debug("%s: casting %s data to float32", path, data.dtype)
        data = np.asarray(data).astype(np.float32)  # a plain in-memory array, not a memmap subclass
    elif not use_mmap:
        data = np.array(data)
    data.flags.writeable = False
    check_volume(data, name=str(path))
    return data, voxel_size


def _check_map_id(path: Path) -> None:
    """Reject files without the MRC map ID before mrcfile parses (possibly huge) garbage dimensions,
    unless the header's dimensions and mode account for the file size exactly (an older MRC
    writer that left the ID out, which mrcfile's permissive mode reads): then a WARNING."""
    with open(path, "rb") as handle:
        header = handle.read(_HEADER_BYTES)
    map_id = header[_MAP_ID_OFFSET : _MAP_ID_OFFSET + 4]
    if map_id != b"MAP " and _sizes_agree(header, path.stat().st_size):
        logger.warning(
            "%s: no MRC map ID (b'MAP ') in the header, but its dimensions and mode match the file size; reading it "
            "as MRC (rewrite it with a current tool to silence this)", path,
        )  # fmt: skip
        return
    if map_id != b"MAP ":
        raise UnpickInputError(
            f"{path}: not an MRC file (map ID {map_id!r}, expected b'MAP '); the file is another "
            f"format or corrupt: convert it to MRC or write it again"
        )


#: IMOD marks its files with this stamp (header bytes 152-155); bit 0 of its flags (156-159) means signed bytes.
IMOD_STAMP = 1146047817


def _imod_unsigned_bytes(path: Path) -> bool:
    """True for an IMOD file (its stamp in the header) whose flags do not mark bytes as signed: IMOD
    writes mode 0 as unsigned bytes, which MRC2014 and mrcfile read as signed int8."""
    with open(path, "rb") as handle:
        header = handle.read(_HEADER_BYTES)
    stamp, flags = np.frombuffer(header[152:160], dtype="<i4")
    return int(stamp) == IMOD_STAMP and not int(flags) & 1


def _sizes_agree(header: bytes, n_bytes: int) -> bool:
    """True when a little-endian header's nx, ny, nz, mode and extended-header size give exactly ``n_bytes``."""
    if len(header) < _HEADER_BYTES:
        return False
    nx, ny, nz, mode = np.frombuffer(header[:16], dtype="<i4")
    nsymbt = int(np.frombuffer(header[92:96], dtype="<i4")[0])
    try:
        itemsize = mrcfile.utils.dtype_from_mode(int(mode)).itemsize
    except ValueError:
        return False
    if min(nx, ny, nz) <= 0 or nsymbt < 0:
        return False
    return _HEADER_BYTES + nsymbt + int(nx) * int(ny) * int(nz) * itemsize == n_bytes


def _data_problem(header: np.recarray, n_bytes: int, caught: list) -> str:
    """Explain why mrcfile could not read the data block."""
    mode = int(header.mode)
    try:
        itemsize = mrcfile.utils.dtype_from_mode(mode).itemsize
    except ValueError:
        return f"unsupported MRC mode {mode}; expected mode 0, 1, 2, 6 or 12 (convert the file)"
    shape = (int(header.nz), int(header.ny), int(header.nx))
    if min(shape) <= 0:
        return f"corrupt header: dimensions nx, ny, nz = {shape[::-1]} must be positive; write the file again"
    expected = _HEADER_BYTES + int(header.nsymbt) + int(np.prod(shape, dtype=np.int64)) * itemsize
    if n_bytes < expected:
        return (
            f"truncated or corrupt: the header declares {shape[2]}x{shape[1]}x{shape[0]} voxels of "
            f"mode {mode} ({expected} bytes) but the file has {n_bytes} bytes; copy or write it again"
        )
    details = "; ".join(str(w.message) for w in caught) or "no details"
    return f"corrupt MRC data block ({details}); copy or write the file again"


def _check_dimensions(path: Path, data: np.ndarray) -> None:
    """Reject 2-D images and 4-D volume stacks with a message naming the fix."""
    if data.ndim == 2 or (data.ndim == 3 and data.shape[0] == 1):
        raise UnpickInputError(
            f"{path}: holds a single 2-D image of shape {data.shape}, expected a 3-D (Z, Y, X) "
            f"tomogram; pass the reconstructed volume, not a slice or projection"
        )
    if data.ndim == 4:
        raise UnpickInputError(
            f"{path}: holds a stack of {data.shape[0]} volumes {data.shape}, expected one 3-D (Z, Y, X) "
            f"tomogram; split the stack and pass one volume per file"
        )
    if data.ndim != 3:
        raise UnpickInputError(f"{path}: holds {data.ndim}-D data, expected a 3-D (Z, Y, X) tomogram")


def _header_voxel_size(header: np.recarray) -> tuple[float, float, float]:
    """Voxel size (x, y, z) in Å from cella / grid sampling; 0 where the sampling is 0."""
    sizes = []
    for cell, n in ((header.cella.x, header.mx), (header.cella.y, header.my), (header.cella.z, header.mz)):
        sizes.append(float(cell) / int(n) if int(n) > 0 else 0.0)
    return sizes[0], sizes[1], sizes[2]


def _choose_voxel_size(
    path: Path, header_xyz: tuple[float, float, float], override: float | None
) -> tuple[float, str]:
    """Pick the override or the header voxel size, logging the choice."""
    header_x = header_xyz[0]
    known = math.isfinite(header_x) and header_x > 0 and not any(
        math.isclose(header_x, v, abs_tol=1e-4) for v in _UNKNOWN_VOXEL_SIZES
    )
    if override is not None:
        detail = f"header says {header_x:g} Å" if known else "header has none"
        logger.info("%s: voxel size %g Å from the override (%s)", path, override, detail)
        return override, "override"
    if not known:
        raise UnpickInputError(
            f"{path}: the MRC header has no voxel size (value {header_x:g}, which means unset); "
            f"pass it with --voxel-size (voxel_size_angstrom=) in Å"
        )
    if not all(math.isclose(header_x, v, rel_tol=1e-3) for v in header_xyz[1:]):
        logger.warning(
            "%s: header voxel sizes differ (x=%g, y=%g, z=%g Å); using x. Pass --voxel-size to override",
            path, *header_xyz,
        )
    logger.info("%s: voxel size %g Å from the MRC header", path, header_x)
    return header_x, "header"
