"""The Gram matrix of a float32 sample, in float64."""

from __future__ import annotations

import numpy as np

_BLOCK_ROWS = 1 << 16


def gram_matrix(samples: np.ndarray) -> np.ndarray:
    """``samples' @ samples`` (F, F) in float64, accumulated over row blocks: no float64 copy of
    the (N, F) sample is made, and float32 rounding does not build up over N rows."""
    n_features = samples.shape[1]
    gram = np.zeros((n_features, n_features))
    for start in range(0, len(samples), _BLOCK_ROWS):
        block = samples[start : start + _BLOCK_ROWS].astype(np.float64)
        gram += block.T @ block
    return gram
