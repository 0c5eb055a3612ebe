"""FeatureBank: the features of one mode, streamed chunk by chunk or gathered at chosen voxels."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .._shared import (
    CPU,
    Backend,
    UnpickInputError,
    as_rng,
    available_threads,
    check_volume,
    check_z_range,
    thread_map,
)
from ._config import FeatureConfig
from ._fft_correlation import FFTCorrelator, fft_chunk_depth
from ._gabor_selection import select_gabor_filters
from ._kernels import HALO, N_VOXELS, OFFSETS_ZYX, MagnitudeSpec, fft_spec, gabor_spec, neighbourhood_magnitudes
from ._sampling import check_interior, iter_neighbourhoods
from ._separable import (
    accumulate_magnitudes,
    correlate_intensities,
    fill_intensities,
    fill_magnitudes,
    max_z_frequencies,
)

CPU_TILE_BYTES = 4_000_000  # features per CPU tile: the tile and its intermediates stay in cache
CPU_TILE_VOXELS = (4_096, 65_536)  # bounds on voxels per tile (Python overhead below, cache above)
#: Voxels per tile of a linear decision (fewer Python steps and halo voxels; its buffers a few MB),
#: twice as many where no (x, y) frequency pair has more than LINEAR_FEW_Z frequencies along z
#: (Gabor banks after selection): the z pass's products then stay small, and the larger tiles ran
#: 13-20 % faster (polnet tomo_01, the speed benchmark's volume) where the fft bank (5 per pair)
#: ran 10 % slower (benchmarks/README.md, session 10).
LINEAR_TILE_VOXELS = 131_072
LINEAR_FEW_Z = 3
LINEAR_CHUNK_DIVISOR = 4  # a linear-response chunk holds chunk_depth x F / this slices (a few float32 volumes)


class FeatureBank:
    """The features of one mode for one tomogram.

    Build with :func:`build_feature_bank`. Feature ``j`` of voxel ``p`` is defined by column j of
    :meth:`kernel_matrix`: the value (intensities) or magnitude (fft, gabor) of the dot product of
    the 5×5×5 neighbourhood of ``p`` (C order over dz, dy, dx = -2..2) with that column.

    Attributes
    ----------
    config : FeatureConfig
    names : list of str
        One name per feature: ``"intensity d=(dz,dy,dx)"``, ``"fft k=(kz,ky,kx)"`` or
        ``"gabor f=(fz,fy,fx)"`` (cycles/voxel).
    frequencies_zyx : np.ndarray or None
        (F, 3) float64 frequencies in cycles/voxel (None for intensities).
    selected : tuple of dict
        Gabor only: per kept filter its ``name``, ``frequency_zyx`` and ``response_std`` on the
        selection sample, by decreasing std; empty for the other modes.
    """

    def __init__(
        self,
        config: FeatureConfig,
        *,
        spec: MagnitudeSpec | None,
        names: list[str],
        selected: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.config = config
        self._spec = spec
        self.names = list(names)
        self.selected = selected

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def frequencies_zyx(self) -> np.ndarray | None:
        return None if self._spec is None else self._spec.frequencies_zyx.copy()

    def kernel_matrix(self) -> np.ndarray:
        """(125, F) kernels: float64 identity for intensities, complex128 for fft and gabor."""
        if self._spec is None:
            return np.eye(N_VOXELS)
        return self._spec.kernels()

    def to_record(self) -> dict[str, Any]:
        """JSON-serialisable description of the bank (config, feature names, Gabor selection)."""
        return {
            "mode": self.config.mode,
            "n_features": self.n_features,
            "names": list(self.names),
            "config": self.config.to_dict(),
            "selected": [dict(item) for item in self.selected],
        }

    def chunk_depth(self, shape_zyx: tuple[int, int, int]) -> int:
        """Slices per chunk so one chunk of float32 features is about ``chunk_megabytes``."""
        bytes_per_slice = shape_zyx[1] * shape_zyx[2] * self.n_features * 4
        return max(1, int(self.config.chunk_megabytes * 1e6 // bytes_per_slice))

    def compute_chunk(
        self, volume: Any, z0: int, z1: int, *, backend: Backend = CPU, n_threads: int | None = None
    ) -> Any:
        """Features of every voxel in slices ``[z0, z1)`` by the fast separable passes.

        Parameters
        ----------
        volume : np.ndarray
            (Z, Y, X) preprocessed volume on the host (a memmap is fine); only the slab
            ``[z0 - 2, z1 + 2)`` is read and moved to the backend.
        z0, z1 : int
            Half-open slice range, ``0 <= z0 < z1 <= Z``.
        backend : Backend
            Where to compute.
        n_threads : int, optional
            CPU threads working on tiles of the chunk (None: every core joblib sees; 1: serial).
            Results do not depend on it.

        Returns
        -------
        xp.ndarray
            ((z1 - z0) * Y * X, F) float32 on the backend, rows in C order over (z, y, x).
            Voxels within 2 of a face see a reflected neighbourhood (their features are defined but
            not meaningful; the clusterer treats them as background).
        """
        _check_shape(volume)
        depth, height, width = volume.shape
        if not (isinstance(z0, (int, np.integer)) and isinstance(z1, (int, np.integer)) and 0 <= z0 < z1 <= depth):
            raise UnpickInputError(f"z0, z1: expected integers with 0 <= z0 < z1 <= {depth}, got {z0!r}, {z1!r}")
        xp = backend.xp
        padded = self._padded_slab(volume, z0, z1, backend=backend)
        n_slices = z1 - z0
        out = xp.empty((n_slices, height, width, self.n_features), dtype=xp.float32)
        if backend.name == "cpu":
            voxels = int(np.clip(CPU_TILE_BYTES // (4 * self.n_features), *CPU_TILE_VOXELS))
            rows = max(1, voxels // (n_slices * width))
        else:
            rows = height  # one tile: the device parallelises inside each operation
        tiles = [(y0, min(y0 + rows, height)) for y0 in range(0, height, rows)]

        def fill(y0: int, y1: int) -> None:
            tile = padded[:, y0 : y1 + 2 * HALO]
            if self._spec is None:
                fill_intensities(tile, out[:, y0:y1])
            else:
                fill_magnitudes(tile, self._spec, out[:, y0:y1], xp=xp)

        _run_tiles(fill, tiles, backend=backend, n_threads=n_threads)
        return out.reshape(-1, self.n_features)

    def linear_responses(
        self,
        volume: Any,
        weights: list[np.ndarray],
        *,
        z_range: tuple[int, int] | None = None,
        backend: Backend = CPU,
        n_threads: int | None = None,
    ) -> Iterator[tuple[int, int, list[Any]]]:
        """Yield ``(z0, z1, responses)``: for each weight vector ``w`` (F,), ``features @ w`` of
        every voxel in slices ``[z0, z1)`` as a flat float32 array on the backend (rows as
        :meth:`compute_chunk`), over the half-open ``z_range``.

        A linear decision needs only this, and it never builds the (n, F) features. For
        intensities, feature ``j`` is the voxel at offset ``OFFSETS_ZYX[j]``, so ``features @ w``
        is one 5³ correlation of the volume with ``w``: on the CPU through the FFT
        (``FFTCorrelator``: one forward transform per chunk shared by the vectors), on a GPU as 125
        multiply-adds per voxel. For fft and gabor, each magnitude is computed once per tile by the
        separable passes and accumulated, weighted, in place. Tiles stay in cache and run on CPU
        threads. Equal to ``compute_chunk(...) @ w`` within float32 rounding (tests/test_workflows.py).
        """
        _check_shape(volume)
        start, stop = check_z_range(z_range, volume.shape[0], name="z_range")
        kernels = [np.asarray(w, dtype=np.float32).reshape(-1) for w in weights]
        if any(len(w) != self.n_features for w in kernels):
            raise UnpickInputError(f"weights: expected vectors of {self.n_features} values, one per feature")
        stacked = np.stack(kernels)
        # no (n, F) chunk is materialised, so a chunk can hold as many voxels as the features of several slices
        step = max(1, min(stop - start, self.chunk_depth(volume.shape) * self.n_features // LINEAR_CHUNK_DIVISOR))
        fft = None
        if self._spec is None and backend.name == "cpu":
            step = min(step, fft_chunk_depth(volume.shape[1:]))
            padded_shape = (step + 2 * HALO, volume.shape[1] + 2 * HALO, volume.shape[2] + 2 * HALO)
            fft = FFTCorrelator(padded_shape, stacked, workers=n_threads or available_threads())
        for z0 in range(start, stop, step):
            z1 = min(z0 + step, stop)
            if fft is not None:
                responses = fft.correlate(self._padded_slab(volume, z0, z1, backend=backend))
                yield z0, z1, [response.reshape(-1) for response in responses]
            else:
                yield z0, z1, self._linear_chunk(volume, z0, z1, stacked, backend=backend, n_threads=n_threads)

    def _linear_chunk(
        self, volume: Any, z0: int, z1: int, weights: np.ndarray, *, backend: Backend, n_threads: int | None
    ) -> list[Any]:
        """``features @ w`` for each row ``w`` of ``weights`` in slices ``[z0, z1)``, tile by tile
        (the magnitude modes, and intensities on a GPU)."""
        xp = backend.xp
        padded = self._padded_slab(volume, z0, z1, backend=backend)
        depth, height, width = z1 - z0, volume.shape[1], volume.shape[2]
        outs = [xp.zeros((depth, height, width), dtype=xp.float32) for _ in weights]
        if backend.name == "cpu":
            few_z = self._spec is not None and max_z_frequencies(self._spec) <= LINEAR_FEW_Z
            voxels = LINEAR_TILE_VOXELS * (2 if few_z else 1)
            side = max(1, math.isqrt(voxels // width))  # a tile of side x side x width voxels
            tiles = [
                (za, min(za + side, depth), ya, min(ya + side, height))
                for za in range(0, depth, side)
                for ya in range(0, height, side)
            ]
        else:
            tiles = [(0, depth, 0, height)]  # one tile: the device parallelises inside each operation

        def fill(za: int, zb: int, ya: int, yb: int) -> None:
            tile = padded[za : zb + 2 * HALO, ya : yb + 2 * HALO]
            views = [out[za:zb, ya:yb] for out in outs]
            if self._spec is None:
                correlate_intensities(tile, weights, views, xp=xp)
            else:
                accumulate_magnitudes(tile, self._spec, weights, views, xp=xp)

        with threadpool_limits(limits=1, user_api="blas"):  # the tiles' small matrix products: one core each
            _run_tiles(fill, tiles, backend=backend, n_threads=n_threads)
        return [out.reshape(-1) for out in outs]

    def _padded_slab(self, volume: Any, z0: int, z1: int, *, backend: Backend) -> Any:
        """Slices ``[z0 - 2, z1 + 2)`` on the backend, reflected where they leave the volume and
        padded by 2 in y and x (as every feature of a face voxel sees it)."""
        xp = backend.xp
        depth = volume.shape[0]
        lo, hi = max(z0 - HALO, 0), min(z1 + HALO, depth)
        slab = backend.asarray(np.asarray(volume[lo:hi], dtype=np.float32))
        return xp.pad(slab, ((lo - (z0 - HALO), (z1 + HALO) - hi), (HALO, HALO), (HALO, HALO)), mode="reflect")

    def iter_chunks(
        self,
        volume: Any,
        *,
        z_range: tuple[int, int] | None = None,
        backend: Backend = CPU,
        n_threads: int | None = None,
    ) -> Iterator[tuple[int, int, Any]]:
        """Yield ``(z0, z1, features)`` chunk by chunk over the half-open ``z_range`` (default all).

        ``features`` is as returned by :meth:`compute_chunk`; chunks hold :meth:`chunk_depth` slices.
        The next chunk is computed while the caller still holds the previous one, so peak memory is
        about two chunks unless the caller drops its reference (``del features``) first.
        """
        _check_shape(volume)
        start, stop = check_z_range(z_range, volume.shape[0], name="z_range")
        step = self.chunk_depth(volume.shape)
        for z0 in range(start, stop, step):
            z1 = min(z0 + step, stop)
            yield z0, z1, self.compute_chunk(volume, z0, z1, backend=backend, n_threads=n_threads)

    def at_voxels(self, volume: Any, idx_zyx: Any) -> np.ndarray:
        """Features at chosen interior voxels by explicit neighbourhoods times :meth:`kernel_matrix`.

        Parameters
        ----------
        volume : np.ndarray
            (Z, Y, X) preprocessed volume (a memmap is fine).
        idx_zyx : array_like
            (N, 3) integer zyx indices, each at least 2 voxels from every face.

        Returns
        -------
        np.ndarray
            (N, F) float32, equal to :meth:`compute_chunk` at those voxels within float32 rounding.
        """
        _check_shape(volume)
        idx = check_interior(idx_zyx, volume.shape)
        out = np.empty((len(idx), self.n_features), dtype=np.float32)
        kernels = None if self._spec is None else self._spec.real_imag()
        for rows, neighbourhoods in iter_neighbourhoods(volume, idx):
            if kernels is None:
                out[rows] = neighbourhoods
            else:
                neighbourhood_magnitudes(neighbourhoods, kernels, out=out[rows])
        return out


def _run_tiles(fill: Any, tiles: list[tuple[int, ...]], *, backend: Backend, n_threads: int | None) -> None:
    """``fill(*tile)`` for every tile: on CPU threads (``n_threads``, None: every core joblib
    sees), on a device in turn. Tiles write disjoint outputs, so the result does not depend on
    the thread count."""
    thread_map(lambda tile: fill(*tile), tiles, n_threads=n_threads if backend.name == "cpu" else 1)


def _check_shape(volume: Any) -> None:
    """Cheap per-call check (no scan of the data): a 3-D array at least 5 voxels on every axis."""
    check_volume(volume, name="volume", check_finite=False)


def build_feature_bank(
    volume_pre: Any,
    *,
    config: FeatureConfig,
    rng: int | np.random.Generator | None = 0,
    fit_z_range: tuple[int, int] | None = None,
    backend: Backend = CPU,
) -> FeatureBank:
    """Build the feature bank of ``config.mode`` for one preprocessed tomogram.

    Intensities and fft need no data. Gabor scores every filter of the bank by the standard
    deviation of its |response| on a seeded sample of ``config.gabor_selection_voxels`` interior
    voxels inside ``fit_z_range`` (half-open slices) of ``volume_pre`` (explicit path; this tomogram
    only, never another's choice), takes the ``config.n_gabor_features`` largest, ties broken by
    bank order, and drops each of them whose |response| correlates above
    ``config.gabor_max_correlation`` with one kept before it (a near-duplicate).

    Parameters
    ----------
    volume_pre : np.ndarray
        (Z, Y, X) preprocessed volume.
    config : FeatureConfig
    rng : int, Generator or None
        Seed or generator of the Gabor selection sample.
    fit_z_range : (int, int), optional
        Slices the selection sample is drawn from.
    backend : Backend
        Accepted for symmetry with the other stages; selection runs on the host (it is small).
    """
    if not isinstance(config, FeatureConfig):
        raise UnpickInputError(f"config: expected a FeatureConfig, got {type(config).__name__}")
    _check_shape(volume_pre)
    del backend  # selection is a small host computation
    if config.mode == "intensities":
        names = [f"intensity d=({dz},{dy},{dx})" for dz, dy, dx in OFFSETS_ZYX.tolist()]
        return FeatureBank(config, spec=None, names=names)
    if config.mode == "fft":
        spec, names = fft_spec(config.fft_dc_scale)
        return FeatureBank(config, spec=spec, names=names)
    spec, names, selected = select_gabor_filters(volume_pre, config, rng=as_rng(rng), fit_z_range=fit_z_range)
    return FeatureBank(config, spec=spec, names=names, selected=selected)


def kernel_matrix(config_or_bank: FeatureConfig | FeatureBank) -> np.ndarray:
    """The (125, F) kernels that define the features exactly.

    For a :class:`FeatureBank`, its features (for gabor, the selected filters); for a
    :class:`FeatureConfig`, every feature of the mode (for gabor, the whole bank before
    selection). Rows are the neighbourhood offsets in C order over (dz, dy, dx) = -2..2; feature =
    ``neighbourhood @ K`` (intensities, float64 identity) or ``|neighbourhood @ K|`` (fft, gabor;
    complex128).
    """
    if isinstance(config_or_bank, FeatureBank):
        return config_or_bank.kernel_matrix()
    if not isinstance(config_or_bank, FeatureConfig):
        raise UnpickInputError(f"config_or_bank: expected a FeatureConfig or FeatureBank, got {type(config_or_bank).__name__}")
    config = config_or_bank
    if config.mode == "intensities":
        return np.eye(N_VOXELS)
    if config.mode == "fft":
        return fft_spec(config.fft_dc_scale)[0].kernels()
    return gabor_spec(config.gabor_frequencies_per_axis, sigma=config.gabor_sigma, signed=config.gabor_signed)[0].kernels()
