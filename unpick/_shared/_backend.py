"""The one place that imports CuPy: maps ``device`` to an array module and its ndimage."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.ndimage

from ._errors import UnpickInputError

logger = logging.getLogger(__name__)

DEVICES = ("cpu", "gpu", "auto")


@dataclass(frozen=True)
class Backend:
    """An array module ``xp`` and its matching ``ndi`` (scipy.ndimage or cupyx.scipy.ndimage)."""

    name: str
    xp: ModuleType
    ndi: ModuleType
    device_name: str

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """Move ``array`` to this backend (a copy only where needed)."""
        return self.xp.asarray(array, dtype=dtype)


@functools.lru_cache(maxsize=1)
def _cupy_backend() -> Backend | None:
    """Import CuPy lazily; ``None`` when it or a CUDA device is missing."""
    try:
        import cupy
        import cupyx.scipy.ndimage as cundi

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # ImportError, CUDARuntimeError, driver errors
        logger.debug("CuPy unavailable: %s", err)
        return None
    if count < 1:
        return None
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return Backend("gpu", cupy, cundi, name)


CPU = Backend("cpu", np, scipy.ndimage, "cpu")


def gpu_available() -> bool:
    """True when CuPy imports and sees a CUDA device."""
    return _cupy_backend() is not None


def get_backend(device: str = "cpu") -> Backend:
    """Return the backend for ``device`` ('cpu', 'gpu' or 'auto').

    'auto' uses the GPU when CuPy and a device are present, else the CPU; 'gpu' without
    them raises, naming the install fix.
    """
    if device not in DEVICES:
        raise UnpickInputError(f"device: expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return CPU
    gpu = _cupy_backend()
    if gpu is not None:
        return gpu
    if device == "gpu":
        raise UnpickInputError(
            "device 'gpu' was asked for but CuPy or a CUDA device is not available; "
            "install the GPU extra (pip install 'unpick[gpu]') or use --device cpu"
        )
    logger.info("device auto: no usable GPU, running on the CPU")
    return CPU


def to_numpy(array: Any) -> np.ndarray:
    """Return ``array`` as a NumPy array (copies device arrays to the host)."""
    if isinstance(array, np.ndarray):
        return array
    get = getattr(array, "get", None)
    if callable(get):
        return get()
    return np.asarray(array)
