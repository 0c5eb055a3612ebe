"""The intensities decision of a z-chunk as one FFT correlation per weight vector (CPU).

A linear decision on the 125 intensities features is a 5³ correlation of the volume
(``FeatureBank.linear_responses``). Directly it costs 125 multiply-adds per voxel; through the
FFT it costs one forward transform of the padded chunk, shared by every weight vector, and one
product and one inverse transform per vector, whatever the kernel size: about 2x faster for one
clusterer and 2.5x for two on two cores (benchmarks/README.md, session 10). The transform is
circular, but the output keeps only the "valid" voxels, whose 5³ neighbourhoods lie inside the
padded chunk, so no wrapped value reaches them. The result equals the direct sum within float32
rounding of the transform (about 1e-6 of the largest response).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ._kernels import HALO, OFFSETS_ZYX

_SIDE = 2 * HALO + 1
#: Bytes of one transform of a chunk (about six such buffers live at once): 20 slices of a
#: 1000×1000 plane, 78 of a 512×512 one.
FFT_SPECTRUM_BYTES = 96e6
#: ... but never fewer slices than this, so the halo costs at most a quarter more transform.
MIN_FFT_SLICES = 12


class FFTCorrelator:
    """Correlates padded chunks of one shape (or shorter along z) with fixed 5³ kernels.

    Parameters
    ----------
    padded_shape : (int, int, int)
        The largest padded chunk, (Zc + 4, Y + 4, X + 4); every chunk passed to :meth:`correlate`
        is at most this deep and exactly this wide. The transform size is the next fast length
        of each axis, so the kernels' spectra are computed once for all chunks.
    weights : (K, 125) array
        One weight vector per row, weight r on the voxel at offset ``OFFSETS_ZYX[r]``.
    workers : int
        CPU threads of each transform (independent 1-D transforms: the result does not depend on it).
    """

    def __init__(self, padded_shape: tuple[int, int, int], weights: np.ndarray, *, workers: int) -> None:
        self._shape = tuple(scipy.fft.next_fast_len(int(n), real=True) for n in padded_shape)
        self._workers = workers
        kernels = np.zeros((len(weights), _SIDE, _SIDE, _SIDE), dtype=np.float32)
        index = tuple((OFFSETS_ZYX + HALO).T)
        for kernel, w in zip(kernels, np.asarray(weights, dtype=np.float32)):
            kernel[index] = w
        # correlation = convolution with the kernel reversed on every axis
        self._spectra = [self._forward(kernel[::-1, ::-1, ::-1]) for kernel in kernels]

    def _forward(self, array: np.ndarray) -> np.ndarray:
        return scipy.fft.rfftn(array, s=self._shape, workers=self._workers)

    def correlate(self, padded: np.ndarray) -> list[np.ndarray]:
        """``(Zc, Y, X)`` float32 responses of the valid voxels of ``padded`` (Zc + 4, Y + 4, X + 4),
        one per weight vector: ``sum_r w[r] * padded[z + 2 + dz_r, y + 2 + dy_r, x + 2 + dx_r]``."""
        depth, height, width = (n - 2 * HALO for n in padded.shape)
        spectrum = self._forward(np.asarray(padded, dtype=np.float32))
        product = np.empty_like(spectrum) if len(self._spectra) > 1 else spectrum
        outs = []
        for k, kernel in enumerate(self._spectra):
            last = k == len(self._spectra) - 1
            np.multiply(spectrum, kernel, out=spectrum if last else product)
            # the product is made again for each vector, so the inverse may work in it
            full = scipy.fft.irfftn(spectrum if last else product, s=self._shape, workers=self._workers, overwrite_x=True)
            # the convolution at n sums padded[n - m] over kernel offsets m in 0..4: valid from n = 4
            outs.append(np.ascontiguousarray(full[2 * HALO : 2 * HALO + depth, 2 * HALO : 2 * HALO + height,
                                                  2 * HALO : 2 * HALO + width]))  # fmt: skip
            del full
        return outs


def fft_chunk_depth(plane_zyx: tuple[int, int]) -> int:
    """The most z-slices per chunk whose padded transform stays within ``FFT_SPECTRUM_BYTES`` for a
    (Y, X) plane, and at least ``MIN_FFT_SLICES`` (the 4 halo slices are transformed too): the
    transform's buffers (the chunk's spectrum, one per weight vector, the product and the
    inverse) are each about that size."""
    height, width = (scipy.fft.next_fast_len(int(n) + 2 * HALO, real=True) for n in plane_zyx)
    per_slice = height * (width // 2 + 1) * np.dtype(np.complex64).itemsize
    return max(MIN_FFT_SLICES, int(FFT_SPECTRUM_BYTES // per_slice) - 2 * HALO)
