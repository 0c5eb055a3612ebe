"""Robust per-tomogram intensity normalisation applied before training and inference."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import as_rng, check_volume

MAD_TO_SIGMA = 1.4826  # median absolute deviation of a Gaussian, in standard deviations
CLIP_SIGMAS = 5.0
MAX_SAMPLES = 2_000_000


def normalise_volume(volume: Any, *, rng: int | np.random.Generator | None = 0) -> tuple[np.ndarray, dict[str, float]]:
    """Centre on the median and scale by the MAD, then clip to +-5 robust standard deviations.

    The median and MAD come from a seeded sample of at most 2e6 voxels, so gold fiducials and
    a memory-mapped volume cost nothing extra; the clip keeps fiducials from dominating.

    Parameters
    ----------
    volume : (Z, Y, X) array
    rng : int or Generator
        Seeds the voxel sample.

    Returns
    -------
    normalised : float32 array (Z, Y, X)
    stats : dict
        ``median`` and ``scale`` (1.4826 x MAD, in the input's units) that were used.
    """
    volume = check_volume(volume, name="volume")
    flat_size = int(np.prod(volume.shape))
    generator = as_rng(rng)
    if flat_size > MAX_SAMPLES:
        index = generator.choice(flat_size, size=MAX_SAMPLES, replace=False)
        index.sort()
        sample = np.asarray(volume).reshape(-1)[index].astype(np.float64)
    else:
        sample = np.asarray(volume, dtype=np.float64).reshape(-1)
    median = float(np.median(sample))
    scale = MAD_TO_SIGMA * float(np.median(np.abs(sample - median)))
    if not scale > 0:
        scale = float(sample.std()) or 1.0
    out = np.array(volume, dtype=np.float32)  # always a copy: the caller's array is untouched
    out -= np.float32(median)
    out /= np.float32(scale)
    np.clip(out, -CLIP_SIGMAS, CLIP_SIGMAS, out=out)
    return out, {"median": median, "scale": scale}
