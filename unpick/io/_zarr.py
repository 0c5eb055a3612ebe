"""Reading tomograms from OME-Zarr (the CZ cryoET Data Portal's and copick's format) and plain Zarr.

An OME-Zarr image is a Zarr group whose ``multiscales`` metadata lists one array per resolution
level, each with a ``scale`` transformation in the units of its axes. The level is chosen by voxel
size; the array stays lazy (read chunk by chunk by the pickers, never copied whole).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._shared import UnpickInputError
from ._names import ZARR_SUFFIXES

#: Length units OME-Zarr axes may carry, in Å.
_ANGSTROM_PER_UNIT = {"angstrom": 1.0, "nanometer": 10.0, "micrometer": 1e4, "picometer": 0.01}
#: A requested voxel size matches a level within this relative tolerance.
LEVEL_TOLERANCE = 0.05


def is_zarr(path: str | os.PathLike) -> bool:
    """True for a Zarr store on disk: a ``*.zarr`` folder or any folder with Zarr metadata."""
    path = Path(path)
    if not path.is_dir():
        return False
    return path.name.endswith(ZARR_SUFFIXES) or any(
        (path / marker).is_file() for marker in (".zgroup", ".zarray", "zarr.json")
    )


def open_zarr_volume(path: Path, *, voxel_size_angstrom: float | None) -> tuple[Any, float | None, str]:
    """The lazy (Z, Y, X) array of a Zarr store, its voxel size in Å (None when unknown) and a
    description of the level chosen.

    For an OME-Zarr image, ``voxel_size_angstrom`` chooses the multiscale level whose voxel size
    matches it (within ``LEVEL_TOLERANCE``); without it, the full-resolution level 0 is read.
    A plain Zarr array has no voxel size: the caller must give one.
    """
    try:
        import zarr
    except ImportError as err:
        raise UnpickInputError(
            f"{path}: reading Zarr needs the zarr package; install it with pip install 'unpick[zarr]'"
        ) from err
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise UnpickInputError(f"{path}: not a readable Zarr store ({err}); pass an OME-Zarr image or an MRC file") from err
    if hasattr(node, "shape"):  # a bare array
        return Float32View(node), None, "Zarr array"
    multiscales = node.attrs.get("multiscales")
    if not multiscales:
        raise UnpickInputError(
            f"{path}: a Zarr group without OME-Zarr 'multiscales' metadata; pass an OME-Zarr image "
            f"(e.g. a copick or CZ cryoET Data Portal tomogram) or the path of its array"
        )
    levels = _levels(path, multiscales[0])
    if voxel_size_angstrom is None:
        chosen = levels[0]
    else:
        matching = [lv for lv in levels if lv[1] is not None and abs(lv[1] / voxel_size_angstrom - 1) <= LEVEL_TOLERANCE]
        if not matching:
            if all(lv[1] is None for lv in levels):  # no scales in the metadata: the caller's size holds
                return Float32View(node[levels[0][0]]), None, f"OME-Zarr level {levels[0][0]!r}"
            available = ", ".join(f"{lv[0]}: {lv[1]:g} Å" for lv in levels if lv[1] is not None)
            raise UnpickInputError(
                f"{path}: no multiscale level has a voxel size of {voxel_size_angstrom:g} Å (levels {available}); "
                f"give one of these with --voxel-size, or omit it for level 0"
            )
        chosen = matching[0]
    dataset, voxel = chosen
    array = node[dataset]
    if len(array.shape) != 3:
        raise UnpickInputError(f"{path}: level {dataset} has shape {tuple(array.shape)}; expected a 3-D (Z, Y, X) volume")
    return Float32View(array), voxel, f"OME-Zarr level {dataset!r} of {len(levels)}"


def _levels(path: Path, multiscale: dict[str, Any]) -> list[tuple[str, float | None]]:
    """(dataset path, isotropic voxel size in Å or None) per level, full resolution first."""
    axes = multiscale.get("axes", [])
    spatial = [i for i, axis in enumerate(axes) if isinstance(axis, dict) and axis.get("type") == "space"]
    units = {axes[i].get("unit") for i in spatial}
    factor = _ANGSTROM_PER_UNIT.get(next(iter(units))) if len(units) == 1 else None
    levels = []
    for dataset in multiscale.get("datasets", []):
        scale = next((t["scale"] for t in dataset.get("coordinateTransformations", []) if t.get("type") == "scale"), None)
        voxel = None
        if scale is not None and factor is not None and spatial:
            sizes = [float(scale[i]) * factor for i in spatial]
            if max(sizes) - min(sizes) > LEVEL_TOLERANCE * max(sizes):
                raise UnpickInputError(
                    f"{path}: level {dataset.get('path')!r} has anisotropic voxels {sizes} Å; unpick needs "
                    f"isotropic voxels (resample the tomogram)"
                )
            voxel = sizes[0]
        levels.append((str(dataset["path"]), voxel))
    if not levels:
        raise UnpickInputError(f"{path}: the OME-Zarr 'multiscales' metadata lists no datasets")
    return levels


class Float32View:
    """A read-only, lazy float32 view of a Zarr array: slicing reads (and casts) only that part.

    It has what the pickers use of an array (``shape``, ``ndim``, ``dtype``, slicing,
    ``numpy.asarray``), so a tomogram larger than memory is streamed by z-chunks as a memory-mapped
    MRC is.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, array: Any) -> None:
        self._array = array
        self.shape = tuple(int(n) for n in array.shape)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._array[key], dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self._array[...], dtype=dtype or np.float32)

    def __len__(self) -> int:
        return self.shape[0]
