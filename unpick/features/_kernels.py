"""The kernel banks: every feature is a correlation with a separable 5×5×5 kernel.

A magnitude bank (fft, gabor) is described by a :class:`MagnitudeSpec`: feature ``j`` at voxel
``p`` is ``scale[j] * |sum_m V[p + m] * h_j(m)|`` over the centred offsets ``m ∈ {-2..2}³`` with

    h_j(m) = prod over axes a in (z, y, x) of  envelope[m_a + 2] * exp(2πi f_ja m_a),

i.e. a 1-D kernel per axis, so the bank is three 1-D passes. ``fft`` uses a flat envelope and
frequencies k/5 (its magnitudes equal those of ``np.fft.fftn`` of the neighbourhood at index k:
shifting the grid to the centre or conjugating changes only a unit phase factor); ``gabor`` uses
a Gaussian envelope and frequencies on a uniform grid over [0, 0.5] cycles/voxel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._shared import NEIGHBOURHOOD

HALO = NEIGHBOURHOOD // 2  # 2: voxels closer than this to a face have no full neighbourhood
OFFSETS_1D = np.arange(-HALO, HALO + 1)  # centred offsets -2..2 along one axis
N_VOXELS = NEIGHBOURHOOD**3  # 125

# (125, 3) zyx offsets of the neighbourhood, C order: row r = ((dz+2)*5 + (dy+2))*5 + (dx+2)
OFFSETS_ZYX = np.stack(np.meshgrid(OFFSETS_1D, OFFSETS_1D, OFFSETS_1D, indexing="ij"), axis=-1).reshape(-1, 3)


@dataclasses.dataclass(frozen=True, eq=False)
class MagnitudeSpec:
    """A bank of separable complex 5³ kernels followed by magnitudes.

    Attributes
    ----------
    frequencies_zyx : np.ndarray
        (F, 3) float64 frequencies in cycles/voxel along z, y, x, each in [-0.5, 0.5].
    envelope : np.ndarray
        (5,) float64 1-D envelope on the offsets -2..2, the same on every axis.
    scale : np.ndarray
        (F,) float64 non-negative factor on each magnitude.
    """

    frequencies_zyx: np.ndarray
    envelope: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return len(self.frequencies_zyx)

    def subset(self, columns: np.ndarray) -> MagnitudeSpec:
        """The spec restricted to ``columns`` (in that order)."""
        columns = np.asarray(columns, dtype=np.int64)
        return MagnitudeSpec(self.frequencies_zyx[columns], self.envelope, self.scale[columns])

    def kernels(self) -> np.ndarray:
        """The (125, F) complex128 kernel matrix: feature = scale-included |neighbourhood @ kernels|.

        Rows follow :data:`OFFSETS_ZYX` (the C-order flattening of the 5×5×5 neighbourhood).
        """
        phase = 2j * np.pi * (OFFSETS_ZYX.astype(np.float64) @ self.frequencies_zyx.T)  # (125, F)
        env = np.prod(self.envelope[OFFSETS_ZYX + HALO], axis=1)  # (125,)
        return env[:, None] * np.exp(phase) * self.scale[None, :]

    def real_imag(self) -> np.ndarray:
        """(125, 2F) float32: the real parts of :meth:`kernels`, then their imaginary parts."""
        kernels = self.kernels()
        return np.concatenate([kernels.real, kernels.imag], axis=1).astype(np.float32)


def neighbourhood_magnitudes(neighbourhoods: np.ndarray, real_imag: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The magnitude features of (n, 125) neighbourhoods: |neighbourhoods @ kernels| from
    ``MagnitudeSpec.real_imag`` with a real float32 product (4x fewer flops than complex)."""
    product = neighbourhoods @ real_imag
    n = real_imag.shape[1] // 2
    return np.hypot(product[:, :n], product[:, n:], out=out)


def canonical_frequency_triples(nonnegative: np.ndarray, *, signed: bool) -> np.ndarray:
    """One representative (fz, fy, fx) of each magnitude-distinct frequency triple.

    ``nonnegative`` are the per-axis frequencies in [0, 0.5]. For real input, f and -f give
    conjugate responses (same magnitude), and 0 and 0.5 equal their own negatives (mod 1).
    Signed: representatives have fx >= 0; when fx is 0 or 0.5 also fy >= 0; when fy is too,
    also fz >= 0. Unsigned: all non-negative triples.

    Returns
    -------
    np.ndarray
        (M, 3) float64, ordered by fx, then fy, then fz (each ascending).
    """
    nonneg = np.asarray(nonnegative, dtype=np.float64)
    if not signed:
        fz, fy, fx = np.meshgrid(nonneg, nonneg, nonneg, indexing="ij")
        triples = np.stack([fz.ravel(), fy.ravel(), fx.ravel()], axis=1)
    else:
        self_conjugate = (nonneg == 0.0) | (nonneg == 0.5)
        full = np.sort(np.concatenate([-nonneg[~self_conjugate], nonneg]))
        rows = []
        for fx in nonneg:
            ys = nonneg if fx in (0.0, 0.5) else full
            for fy in ys:
                zs = nonneg if (fx in (0.0, 0.5) and fy in (0.0, 0.5)) else full
                rows.extend((fz, fy, fx) for fz in zs)
        triples = np.array(rows, dtype=np.float64)
    order = np.lexsort((triples[:, 0], triples[:, 1], triples[:, 2]))
    return triples[order]


def fft_spec(dc_scale: float) -> tuple[MagnitudeSpec, list[str]]:
    """The 63 distinct local-DFT magnitudes (62 when ``dc_scale`` is 0, which drops the DC term).

    Names are ``"fft k=(kz,ky,kx)"`` with k the index into ``np.fft.fftn`` of the 5³
    neighbourhood (0..4; k and 5-k give the same magnitude, one of them is kept).
    """
    freqs = canonical_frequency_triples(np.array([0.0, 0.2, 0.4]), signed=True)
    scale = np.ones(len(freqs))
    is_dc = ~freqs.any(axis=1)
    scale[is_dc] = dc_scale
    if dc_scale == 0.0:
        freqs, scale = freqs[~is_dc], scale[~is_dc]
    k = np.rint(freqs * NEIGHBOURHOOD).astype(np.int64) % NEIGHBOURHOOD
    names = [f"fft k=({a},{b},{c})" for a, b, c in k]
    return MagnitudeSpec(freqs, np.ones(NEIGHBOURHOOD), scale), names


def gabor_spec(frequencies_per_axis: int, *, sigma: float, signed: bool) -> tuple[MagnitudeSpec, list[str]]:
    """The full Gabor bank before selection, with names ``"gabor f=(fz,fy,fx)"`` in cycles/voxel.

    The envelope is ``exp(-m² / (2 sigma²))`` on the centred offsets m = -2..2 (1 at the centre,
    where the carrier phase is 0); frequencies are ``linspace(0, 0.5, frequencies_per_axis)``.
    """
    freqs = canonical_frequency_triples(np.linspace(0.0, 0.5, frequencies_per_axis), signed=signed)
    envelope = np.exp(-(OFFSETS_1D.astype(np.float64) ** 2) / (2.0 * sigma**2))
    names = [f"gabor f=({a:.4g},{b:.4g},{c:.4g})" for a, b, c in freqs + 0.0]
    return MagnitudeSpec(freqs, envelope, np.ones(len(freqs))), names
