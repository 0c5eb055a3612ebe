"""Fast separable filter passes over ``xp`` (NumPy or CuPy): only slicing and elementwise arithmetic.

A centred 5-tap kernel ``h(m) = g(m) exp(2πi f m)`` with a symmetric envelope ``g`` splits into an
even real part and an odd imaginary part, so along one axis

    (h ⋆ X)[p] = g0 X[p] + g1 cos(2πf) S1 + g2 cos(4πf) S2 + i (g1 sin(2πf) D1 + g2 sin(4πf) D2)

with the pair sums ``S_m = X[p+m] + X[p-m]`` and differences ``D_m = X[p+m] - X[p-m]`` shared by
every frequency of the pass, and ``+f``/``-f`` sharing the even and odd parts. Each pass is "valid":
it shortens its axis by 4 (the halo). Complex signals are held as real and imaginary float32
arrays, so every step is a real operation on contiguous memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from ._kernels import HALO, OFFSETS_ZYX, MagnitudeSpec

_F32 = np.float32


def _shifted(array: Any, axis: int, offset: int) -> Any:
    """View of ``array`` shifted by ``offset`` along ``axis``, cropped by the halo (valid mode)."""
    length = array.shape[axis] - 2 * HALO
    index = [slice(None)] * array.ndim
    index[axis] = slice(HALO + offset, HALO + offset + length)
    return array[tuple(index)]


def _weighted_sum(terms: list[tuple[float, Any]], out: Any, scratch: Any, *, xp: ModuleType) -> Any:
    """``out = sum of coefficient * array`` over ``terms`` (float32; a coefficient of 1 costs no multiply)."""
    first = True
    for coefficient, array in terms:
        if coefficient == 0.0:
            continue
        if first:
            if coefficient == 1.0:
                out[...] = array
            else:
                xp.multiply(array, _F32(coefficient), out=out)
            first = False
        elif coefficient == 1.0:
            out += array
        else:
            out += xp.multiply(array, _F32(coefficient), out=scratch)
    if first:
        out[...] = 0
    return out


def axis_pass(
    signal: tuple[Any, Any], axis: int, frequencies: list[float], envelope: np.ndarray, *, xp: ModuleType
) -> Iterator[tuple[float, tuple[Any, Any]]]:
    """Correlate a signal along ``axis`` with the centred kernel of each frequency (valid mode).

    Complex values are kept as separate real and imaginary float32 arrays: every step is a
    real, contiguous operation, and a real coefficient never costs a complex multiply.

    Parameters
    ----------
    signal : (xp.ndarray, xp.ndarray or None)
        Real and imaginary parts (float32, same shape; imaginary None for a real signal); ``axis``
        has at least 5 samples.
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
    (float, (xp.ndarray, xp.ndarray or None))
        Each requested frequency with the real and imaginary parts of its response (imaginary
        None where the signal and the kernel are real), ``axis`` shortened by 4. The arrays are
        work buffers, overwritten on resumption.
    """
    g0, g1, g2 = (float(v) for v in envelope[HALO:])
    parts = [part for part in signal if part is not None]
    centre = [_shifted(part, axis, 0) for part in parts]
    s1 = [_shifted(part, axis, 1) + _shifted(part, axis, -1) for part in parts]
    s2 = [_shifted(part, axis, 2) + _shifted(part, axis, -2) for part in parts]
    shape = s1[0].shape
    scratch = xp.empty(shape, dtype=xp.float32)
    even = [xp.empty(shape, dtype=xp.float32) for _ in parts]  # work buffers shared by all frequencies
    magnitudes = sorted({abs(f) for f in frequencies})
    if any(0.0 < m < 0.5 for m in magnitudes):
        d1 = [_shifted(part, axis, 1) - _shifted(part, axis, -1) for part in parts]
        d2 = [_shifted(part, axis, 2) - _shifted(part, axis, -2) for part in parts]
        odd = [xp.empty(shape, dtype=xp.float32) for _ in parts]
        signed = (xp.empty(shape, dtype=xp.float32), xp.empty(shape, dtype=xp.float32))
    wanted = set(frequencies)
    for mag in magnitudes:
        angle = 2.0 * np.pi * mag
        cos1, cos2 = g1 * np.cos(angle), g2 * np.cos(2.0 * angle)
        for out, c, a, b in zip(even, centre, s1, s2):
            _weighted_sum([(g0, c), (cos1, a), (cos2, b)], out, scratch, xp=xp)
        even_pair = (even[0], even[1] if len(even) > 1 else None)
        if not 0.0 < mag < 0.5:  # sin(2πf m) = 0 at every integer m: the kernel is real
            for f in sorted({mag, -mag} & wanted):  # {0.0, -0.0} is one frequency
                yield f, even_pair
            continue
        sin1, sin2 = g1 * np.sin(angle), g2 * np.sin(2.0 * angle)
        for out, a, b in zip(odd, d1, d2):
            _weighted_sum([(sin1, a), (sin2, b)], out, scratch, xp=xp)
        # response(+f) = even + i odd, response(-f) = even - i odd, with even and odd complex
        for f, sign in ((mag, 1.0), (-mag, -1.0)):
            if f not in wanted:
                continue
            if len(parts) == 1:  # real signal: even real, i odd imaginary
                yield f, (even[0], odd[0] if sign > 0 else xp.negative(odd[0], out=signed[1]))
                continue
            re, im = signed  # (eR + i eI) + sign i (oR + i oI) = (eR - sign oI) + i (eI + sign oR)
            if sign > 0:
                xp.subtract(even[0], odd[1], out=re)
                xp.add(even[1], odd[0], out=im)
            else:
                xp.add(even[0], odd[1], out=re)
                xp.subtract(even[1], odd[0], out=im)
            yield f, signed


def _frequency_plan(spec: MagnitudeSpec) -> dict[float, dict[float, dict[float, list[int]]]]:
    """The feature columns of ``spec`` by x, then y, then z frequency (in the bank's order)."""
    plan: dict[float, dict[float, dict[float, list[int]]]] = {}
    for j, (fz, fy, fx) in enumerate(spec.frequencies_zyx.tolist()):
        plan.setdefault(fx, {}).setdefault(fy, {}).setdefault(fz, []).append(j)
    return plan


def max_z_frequencies(spec: MagnitudeSpec) -> int:
    """The most z frequencies any (x, y) frequency pair of ``spec`` has: the rows of its z pass."""
    return max((len(by_z) for by_y in _frequency_plan(spec).values() for by_z in by_y.values()), default=0)


def iter_magnitude_responses(tile: Any, spec: MagnitudeSpec, *, xp: ModuleType) -> Iterator[tuple[list[int], Any]]:
    """Yield, for each distinct frequency triple of ``spec``, the feature columns it defines and the
    magnitude of its response on every voxel of a padded tile.

    ``tile`` is (Zt + 4, Yt + 4, Xt + 4) float32 (the voxels plus a halo of 2 on every side); the
    magnitude is (Zt, Yt, Xt) float32, a work buffer that is overwritten on resumption. The x pass
    runs once per x frequency, the y pass once per (x, y) pair: every triple sharing them reuses
    their output.
    """
    plan = _frequency_plan(spec)
    magnitude = square = None
    for fx, x_response in axis_pass((tile, None), 2, list(plan), spec.envelope, xp=xp):
        by_y = plan[fx]
        for fy, xy_response in axis_pass(x_response, 1, list(by_y), spec.envelope, xp=xp):
            by_z = by_y[fy]
            for fz, (re, im) in axis_pass(xy_response, 0, list(by_z), spec.envelope, xp=xp):
                if magnitude is None:
                    magnitude, square = xp.empty(re.shape, dtype=xp.float32), xp.empty(re.shape, dtype=xp.float32)
                if im is None:
                    xp.abs(re, out=magnitude)
                else:  # sqrt(re² + im²): hypot's overflow care costs 8x and these values are small
                    xp.multiply(re, re, out=magnitude)
                    magnitude += xp.multiply(im, im, out=square)
                    xp.sqrt(magnitude, out=magnitude)
                yield by_z[fz], magnitude


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
    for columns, magnitude in iter_magnitude_responses(tile, spec, xp=xp):
        for j in columns:
            column = out[..., j]
            if spec.scale[j] != 1.0:
                xp.multiply(magnitude, _F32(spec.scale[j]), out=column)
            else:
                column[...] = magnitude


def accumulate_magnitudes(tile: Any, spec: MagnitudeSpec, weights: np.ndarray, outs: list[Any], *, xp: ModuleType) -> None:
    """Add ``features @ weights[k]`` of every voxel of a padded tile to ``outs[k]``, never holding
    the (Zt, Yt, Xt, F) features.

    A linear decision in magnitude features is ``sum_j w_j scale_j |response_j|``. On the CPU the
    last (z) pass of each (x, y) frequency pair computes all its z frequencies at once as one
    small matrix product per slice (:func:`_z_pass_weighted`), and their magnitudes are weighted by
    a second one: a few passes over memory per pair instead of a dozen elementwise passes per
    magnitude (the decision is memory-bound on two cores). On a GPU each magnitude comes from the
    elementwise passes and is accumulated in place. Both equal ``fill_magnitudes`` followed by
    the product within float32 rounding (the order of the sums differs).

    Parameters
    ----------
    tile : xp.ndarray
        (Zt + 4, Yt + 4, Xt + 4) float32, as for ``fill_magnitudes``.
    spec : MagnitudeSpec
    weights : np.ndarray
        (K, F) weights on the features (host).
    outs : list of xp.ndarray
        K float32 arrays (Zt, Yt, Xt) (may be views), added to; on the CPU each z-slice of them
        must be contiguous (tiles span the whole x axis).
    """
    combined = np.asarray(weights, dtype=np.float64) * spec.scale[None, :]
    if xp is not np:
        scratch = xp.empty(outs[0].shape, dtype=xp.float32)
        for columns, magnitude in iter_magnitude_responses(tile, spec, xp=xp):
            for out, factor in zip(outs, combined[:, columns].sum(axis=1).tolist()):
                if factor:
                    xp.multiply(magnitude, _F32(factor), out=scratch)
                    out += scratch
        return
    plan = _frequency_plan(spec)
    for fx, x_response in axis_pass((tile, None), 2, list(plan), spec.envelope, xp=np):
        for fy, xy_response in axis_pass(x_response, 1, list(plan[fx]), spec.envelope, xp=np):
            by_z = plan[fx][fy]
            weights_z = np.stack([combined[:, columns].sum(axis=1) for columns in by_z.values()], axis=1)
            _z_pass_weighted(xy_response, list(by_z), spec.envelope, weights_z.astype(np.float32), outs)


def _z_pass_weighted(
    signal: tuple[np.ndarray, np.ndarray | None],
    frequencies: list[float],
    envelope: np.ndarray,
    weights: np.ndarray,
    outs: list[np.ndarray],
) -> None:
    """Add ``weights @ |z-pass responses|`` of a complex signal to ``outs`` (CPU).

    For output slice z the responses at the F ``frequencies`` are ``C @ B_z`` with ``C`` the
    (F, 5) kernels ``envelope[m] exp(2πi f m)`` and ``B_z`` the five slices ``z .. z + 4`` of the
    signal: realified, a (2F, 10) matrix times the slices' real and imaginary parts interleaved
    slice by slice, so ``B_z`` is a strided view (no copy) and NumPy hands every slice to one
    BLAS call. ``signal`` is (real, imaginary or None) float32 (Zt + 4, Yt, Xt); ``weights`` (K, F).
    """
    real, imag = signal
    depth, plane = real.shape[0] - 2 * HALO, real.shape[1] * real.shape[2]
    n = len(frequencies)
    offsets = np.arange(-HALO, HALO + 1)
    kernels = envelope[None, :] * np.exp(2j * np.pi * np.outer(frequencies, offsets))  # (F, 5)
    kernels.imag[np.isin(np.abs(frequencies), (0.0, 0.5))] = 0.0  # sin(π k m) = 0 exactly
    if imag is None:
        product = np.concatenate([kernels.real, kernels.imag]).astype(np.float32)  # (2F, 5)
        rows, parts = 5, np.ascontiguousarray(real)
    else:
        product = np.empty((2 * n, 10), dtype=np.float32)  # columns: slice m real, slice m imaginary
        product[:n, 0::2], product[:n, 1::2] = kernels.real, -kernels.imag
        product[n:, 0::2], product[n:, 1::2] = kernels.imag, kernels.real
        parts = np.empty((depth + 2 * HALO, 2, plane), dtype=np.float32)
        parts[:, 0], parts[:, 1] = real.reshape(-1, plane), imag.reshape(-1, plane)
        rows = 10
    itemsize = parts.itemsize
    strides = (rows // 5 * plane * itemsize, plane * itemsize, itemsize)  # slice z's window starts at slice z
    windows = np.lib.stride_tricks.as_strided(parts, shape=(depth, rows, plane), strides=strides, writeable=False)
    responses = np.matmul(product, windows)  # (Zt, 2F, plane): real parts, then imaginary parts
    magnitude, imaginary = responses[:, :n], responses[:, n:]
    np.multiply(magnitude, magnitude, out=magnitude)
    magnitude += np.multiply(imaginary, imaginary, out=imaginary)
    np.sqrt(magnitude, out=magnitude)
    weighted = np.matmul(weights, magnitude)  # (Zt, K, plane)
    for k, out in enumerate(outs):
        out += weighted[:, k].reshape(out.shape)


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
