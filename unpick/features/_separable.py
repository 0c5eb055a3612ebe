"""Fast separable filter passes over ``xp`` (NumPy or CuPy): only slicing and elementwise arithmetic.

A centred 5-tap kernel ``h(m) = g(m) exp(2πi f m)`` with a symmetric envelope ``g`` splits into an
even real part and an odd imaginary part, so along one axis

    (h ⋆ X)[p] = g0 X[p] + g1 cos(2πf) S1 + g2 cos(4πf) S2 + i (g1 sin(2πf) D1 + g2 sin(4πf) D2)

with the pair sums ``S_m = X[p+m] + X[p-m]`` and differences ``D_m = X[p+m] - X[p-m]`` shared by
every frequency of the pass, and ``+f``/``-f`` sharing the even and odd parts. Each pass is "valid":
it shortens its axis by 4 (the halo).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from ._kernels import HALO, OFFSETS_ZYX, MagnitudeSpec

_F32 = np.float32
_C64 = np.complex64


def _shifted(array: Any, axis: int, offset: int) -> Any:
    """View of ``array`` shifted by ``offset`` along ``axis``, cropped by the halo (valid mode)."""
    length = array.shape[axis] - 2 * HALO
    index = [slice(None)] * array.ndim
    index[axis] = slice(HALO + offset, HALO + offset + length)
    return array[tuple(index)]


def axis_pass(
    array: Any, axis: int, frequencies: list[float], envelope: np.ndarray, *, xp: ModuleType
) -> Iterator[tuple[float, Any]]:
    """Correlate ``array`` along ``axis`` with the centred kernel of each frequency (valid mode).

    Parameters
    ----------
    array : xp.ndarray
        float32 or complex64 array; ``axis`` has at least 5 samples.
    axis : int
        Axis of the pass.
    frequencies : list of float
        Frequencies in cycles/voxel, each in [-0.5, 0.5].
    envelope : np.ndarray
        (5,) symmetric envelope on the offsets -2..2.
    xp : module
        numpy or cupy.

    Yields
    ------
    (float, xp.ndarray)
        Each requested frequency with its response (complex64; float32 where the kernel is real),
        ``axis`` shortened by 4. The yielded array is a work buffer, overwritten on resumption.
    """
    g0, g1, g2 = (float(v) for v in envelope[HALO:])
    centre = _shifted(array, axis, 0)
    if g0 != 1.0:
        centre = centre * _F32(g0)
    s1 = _shifted(array, axis, 1) + _shifted(array, axis, -1)
    s2 = _shifted(array, axis, 2) + _shifted(array, axis, -2)
    even, scratch = xp.empty_like(s1), xp.empty_like(s1)  # work buffers shared by all frequencies
    magnitudes = sorted({abs(f) for f in frequencies})
    if any(0.0 < m < 0.5 for m in magnitudes):
        d1 = _shifted(array, axis, 1) - _shifted(array, axis, -1)
        d2 = _shifted(array, axis, 2) - _shifted(array, axis, -2)
        odd, odd_scratch, signed = (xp.empty(d1.shape, dtype=xp.complex64) for _ in range(3))
    wanted = set(frequencies)
    for mag in magnitudes:
        angle = 2.0 * np.pi * mag
        xp.multiply(s1, _F32(g1 * np.cos(angle)), out=even)
        xp.multiply(s2, _F32(g2 * np.cos(2.0 * angle)), out=scratch)
        even += scratch
        even += centre
        if not 0.0 < mag < 0.5:  # sin(2πf m) = 0 at every integer m: the kernel is real
            for f in sorted({mag, -mag} & wanted):  # {0.0, -0.0} is one frequency
                yield f, even
            continue
        xp.multiply(d1, _C64(1j * g1 * np.sin(angle)), out=odd)
        xp.multiply(d2, _C64(1j * g2 * np.sin(2.0 * angle)), out=odd_scratch)
        odd += odd_scratch
        if mag in wanted:
            yield mag, xp.add(even, odd, out=signed)
        if -mag in wanted:
            yield -mag, xp.subtract(even, odd, out=signed)


def iter_magnitude_responses(tile: Any, spec: MagnitudeSpec, *, xp: ModuleType) -> Iterator[tuple[list[int], Any]]:
    """Yield, for each distinct frequency triple of ``spec``, the feature columns it defines and its
    response on every voxel of a padded tile.

    ``tile`` is (Zt + 4, Yt + 4, Xt + 4) float32 (the voxels plus a halo of 2 on every side); the
    response is (Zt, Yt, Xt), complex64 (float32 where the kernel is real), a work buffer that is
    overwritten on resumption. The x pass runs once per x frequency, the y pass once per (x, y)
    pair: every triple sharing them reuses their output.
    """
    plan: dict[float, dict[float, dict[float, list[int]]]] = {}
    for j, (fz, fy, fx) in enumerate(spec.frequencies_zyx.tolist()):
        plan.setdefault(fx, {}).setdefault(fy, {}).setdefault(fz, []).append(j)
    for fx, x_response in axis_pass(tile, 2, list(plan), spec.envelope, xp=xp):
        by_y = plan[fx]
        for fy, xy_response in axis_pass(x_response, 1, list(by_y), spec.envelope, xp=xp):
            by_z = by_y[fy]
            for fz, response in axis_pass(xy_response, 0, list(by_z), spec.envelope, xp=xp):
                yield by_z[fz], response


def fill_magnitudes(tile: Any, spec: MagnitudeSpec, out: Any, *, xp: ModuleType) -> None:
    """Write the magnitude features of ``spec`` for every voxel of a padded tile into ``out``.

    Parameters
    ----------
    tile : xp.ndarray
        (Zt + 4, Yt + 4, Xt + 4) float32: the voxels plus a halo of 2 on every side.
    spec : MagnitudeSpec
        The bank.
    out : xp.ndarray
        (Zt, Yt, Xt, F) float32 (may be a view): receives feature j in ``out[..., j]``.
    """
    for columns, response in iter_magnitude_responses(tile, spec, xp=xp):
        for j in columns:
            column = out[..., j]
            xp.abs(response, out=column)
            if spec.scale[j] != 1.0:
                column *= _F32(spec.scale[j])


def accumulate_magnitudes(tile: Any, spec: MagnitudeSpec, weights: np.ndarray, outs: list[Any], *, xp: ModuleType) -> None:
    """Add ``features @ weights[k]`` of every voxel of a padded tile to ``outs[k]``, never holding
    more than one magnitude at a time.

    A linear decision in magnitude features is ``sum_j w_j scale_j |response_j|``: each magnitude
    is computed once and accumulated in place, so a tile needs (Zt, Yt, Xt) buffers, not
    (Zt, Yt, Xt, F) features. Equal to ``fill_magnitudes`` followed by the product within
    float32 rounding (the order of the sum differs).

    Parameters
    ----------
    tile : xp.ndarray
        (Zt + 4, Yt + 4, Xt + 4) float32, as for ``fill_magnitudes``.
    spec : MagnitudeSpec
    weights : np.ndarray
        (K, F) weights on the features (host).
    outs : list of xp.ndarray
        K float32 arrays (Zt, Yt, Xt) (may be views), added to.
    """
    combined = np.asarray(weights, dtype=np.float64) * spec.scale[None, :]
    magnitude = xp.empty(outs[0].shape, dtype=xp.float32)
    scratch = xp.empty_like(magnitude)
    for columns, response in iter_magnitude_responses(tile, spec, xp=xp):
        factors = combined[:, columns].sum(axis=1)
        if not factors.any():
            continue
        xp.abs(response, out=magnitude)
        for out, factor in zip(outs, factors.tolist()):
            if factor:
                xp.multiply(magnitude, _F32(factor), out=scratch)
                out += scratch


def fill_intensities(tile: Any, out: Any) -> None:
    """Write the 125 neighbourhood values of every voxel of a padded tile into ``out``.

    ``tile`` is (Zt + 4, Yt + 4, Xt + 4) float32, ``out`` (Zt, Yt, Xt, 125) float32; column r holds
    the voxel at offset ``OFFSETS_ZYX[r]``.
    """
    zt, yt, xt = out.shape[:3]
    for r, (dz, dy, dx) in enumerate(OFFSETS_ZYX.tolist()):
        out[..., r] = tile[HALO + dz : HALO + dz + zt, HALO + dy : HALO + dy + yt, HALO + dx : HALO + dx + xt]


def correlate_intensities(tile: Any, weights: np.ndarray, outs: list[Any], *, xp: ModuleType) -> None:
    """Add ``features @ weights[k]`` of every voxel of a padded tile to ``outs[k]`` for the
    intensities features: one 5³ correlation of the tile with each weight vector.

    Feature r is the voxel at offset ``OFFSETS_ZYX[r]``, so the product is 125 multiply-adds per
    voxel on shifted views of the tile, never the (Zt, Yt, Xt, 125) neighbourhoods. ``tile`` is
    (Zt + 4, Yt + 4, Xt + 4) float32, ``weights`` (K, 125) float32 (host), ``outs`` K float32
    (Zt, Yt, Xt) arrays (may be views).
    """
    zt, yt, xt = outs[0].shape
    scratch = xp.empty((zt, yt, xt), dtype=xp.float32)
    offsets = OFFSETS_ZYX.tolist()
    for out, kernel in zip(outs, np.asarray(weights, dtype=np.float32)):
        for r, (dz, dy, dx) in enumerate(offsets):
            shifted = tile[HALO + dz : HALO + dz + zt, HALO + dy : HALO + dy + yt, HALO + dx : HALO + dx + xt]
            xp.multiply(shifted, kernel[r], out=scratch)
            out += scratch
