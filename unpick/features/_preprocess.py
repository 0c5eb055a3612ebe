"""Preprocessing: cast to float32, Gaussian blur, robust percentile scaling to [0, 1]."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._shared import CPU, Backend, UnpickInputError, as_rng, check_volume, to_numpy
from ._blur import blur_volume
from ._config import PreprocessConfig

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = PreprocessConfig()


def preprocess(
    volume: Any,
    *,
    config: PreprocessConfig = DEFAULT_CONFIG,
    backend: Backend = CPU,
    rng: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Blur and robustly rescale a tomogram to [0, 1]: :func:`blur_tomogram` then :func:`rescale_robustly`.

    The volume is cast to float32 first (a new array: integer input is never blurred in place and
    the caller's array is never modified), blurred with a Gaussian of ``config.blur_sigma`` voxels,
    then mapped linearly so the ``low_percentile`` and ``high_percentile`` of the blurred values go
    to 0 and 1, and clipped. Percentiles are estimated on a seeded random sample of
    ``percentile_sample_voxels`` voxels, so a few extreme voxels (gold fiducials) neither set the
    range nor cost a full sort.

    Parameters
    ----------
    volume : array_like
        (Z, Y, X) tomogram of any real dtype (a memmap is read chunk by chunk).
    config : PreprocessConfig
    backend : Backend
        Where the blur and scaling run; the result is always returned on the host.
    rng : int, Generator or None
        Seed or generator of the percentile sample.

    Returns
    -------
    np.ndarray
        (Z, Y, X) float32 in [0, 1]. Peak memory on the CPU: the result and a few blurred
        z-chunks (the input is read chunk by chunk, not copied whole).

    Raises
    ------
    UnpickInputError
        When the volume is not a finite 3-D array of at least 5 voxels per axis, or has no contrast
        (the two percentiles coincide, e.g. a constant volume).
    """
    blurred = blur_tomogram(volume, config=config, backend=backend)
    return rescale_robustly(blurred, config=config, backend=backend, rng=rng)


def blur_tomogram(volume: Any, *, config: PreprocessConfig = DEFAULT_CONFIG, backend: Backend = CPU) -> Any:
    """The first step of :func:`preprocess`: ``volume`` checked, cast to float32 and blurred by
    ``config.blur_sigma`` voxels, as one new array on the backend.

    Separate so that a caller can look at the blurred, not yet clipped, values before they are
    rescaled in place (the fiducial finder needs the same blur and the extreme values).
    """
    check_volume(volume, name="volume")
    if not isinstance(config, PreprocessConfig):
        raise UnpickInputError(f"config: expected a PreprocessConfig, got {type(config).__name__}")
    if not (np.issubdtype(volume.dtype, np.integer) or np.issubdtype(volume.dtype, np.floating)):
        raise UnpickInputError(f"volume: expected real integer or floating-point voxels, got dtype {volume.dtype}")
    if config.blur_sigma > 0 and backend.name == "cpu":
        return blur_volume(volume, config.blur_sigma)  # chunks cast and blurred on threads: one new array
    data = backend.asarray(np.array(volume, dtype=np.float32, copy=True))
    if config.blur_sigma > 0:
        data = backend.ndi.gaussian_filter(data, config.blur_sigma, mode="reflect", truncate=4.0)
    return data


def rescale_robustly(
    blurred: Any,
    *,
    config: PreprocessConfig = DEFAULT_CONFIG,
    backend: Backend = CPU,
    rng: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """The second step of :func:`preprocess`: map ``blurred`` (float32, on the backend) linearly,
    in place, so its robust percentiles go to 0 and 1, clip it, and return it on the host."""
    generator = as_rng(rng)
    xp = backend.xp
    flat = blurred.reshape(-1)
    if flat.size > config.percentile_sample_voxels:
        picks = generator.integers(0, flat.size, size=config.percentile_sample_voxels)
        sample = flat[backend.asarray(picks)]
    else:
        sample = flat
    low, high = (float(v) for v in to_numpy(xp.percentile(sample.astype(xp.float64), xp.asarray([config.low_percentile, config.high_percentile]))))
    spread = high - low
    if not spread > 8 * np.finfo(np.float32).eps * max(abs(low), abs(high), 1e-30):
        raise UnpickInputError(
            f"volume: no contrast after blurring: the {config.low_percentile} and {config.high_percentile} "
            f"percentiles are both {low:.6g}; check that the tomogram is not blank or constant, or widen the "
            f"percentiles (low_percentile/high_percentile)"
        )
    logger.debug("preprocess: percentiles %.4g/%.4g -> 0/1", low, high)
    blurred -= xp.float32(low)
    blurred *= xp.float32(1.0 / spread)
    xp.clip(blurred, 0.0, 1.0, out=blurred)
    return to_numpy(blurred)
