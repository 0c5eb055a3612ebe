"""Configuration of the preprocessing and feature stages (frozen, validated, serialisable)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from .._shared import StageConfig, UnpickInputError, check_choice, check_int

MODES = ("intensities", "fft", "gabor")
_GABOR_OPTIONS = (
    "gabor_frequencies_per_axis", "gabor_signed", "gabor_sigma", "n_gabor_features", "gabor_max_correlation",
    "gabor_selection_voxels",
)  # fmt: skip


def _check_float(value: Any, name: str, *, minimum: float, strict: bool, unit: str = "") -> float:
    """Return ``value`` as a finite float > ``minimum`` (``strict``) or >= ``minimum``."""
    relation = ">" if strict else ">="
    suffix = f" {unit}" if unit else ""
    if isinstance(value, str):  # '1.0' in a YAML file is a string: say so rather than guess
        raise UnpickInputError(f"{name}: expected a number {relation} {minimum}{suffix}, got the text {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"{name}: expected a number {relation} {minimum}{suffix}, got {value!r}") from err
    if isinstance(value, bool) or not math.isfinite(number) or number < minimum or (strict and number == minimum):
        raise UnpickInputError(f"{name}: expected a number {relation} {minimum}{suffix}, got {value!r}")
    return number


@dataclasses.dataclass(frozen=True)
class PreprocessConfig(StageConfig):
    """Options of :func:`unpick.features.preprocess`.

    Attributes
    ----------
    blur_sigma : float
        Standard deviation of the Gaussian blur in voxels; 0 disables the blur.
    low_percentile, high_percentile : float
        Percentiles (0-100) of the blurred volume mapped to 0 and 1; values outside are clipped,
        so a few very bright or dark voxels (gold fiducials) do not compress the range.
    percentile_sample_voxels : int
        Size of the seeded random voxel sample the percentiles are estimated on.
    """

    blur_sigma: float = 1.0
    low_percentile: float = 0.5
    high_percentile: float = 99.5
    percentile_sample_voxels: int = 2_000_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "blur_sigma", _check_float(self.blur_sigma, "blur_sigma", minimum=0.0, strict=False, unit="voxels"))
        low = _check_float(self.low_percentile, "low_percentile", minimum=0.0, strict=False)
        high = _check_float(self.high_percentile, "high_percentile", minimum=0.0, strict=False)
        if not low < high <= 100.0:
            raise UnpickInputError(
                f"low_percentile/high_percentile: expected 0 <= low < high <= 100, got {low!r} and {high!r}"
            )
        object.__setattr__(self, "low_percentile", low)
        object.__setattr__(self, "high_percentile", high)
        object.__setattr__(
            self, "percentile_sample_voxels", check_int(self.percentile_sample_voxels, "percentile_sample_voxels", minimum=100)
        )


@dataclasses.dataclass(frozen=True)
class FeatureConfig(StageConfig):
    """Options of one feature mode (:func:`unpick.features.build_feature_bank`).

    Every feature is a correlation of the preprocessed volume with a 5×5×5 kernel (centred offsets
    -2..2 on each axis), followed by the identity (``intensities``) or the magnitude (``fft``,
    ``gabor``).

    ``fft_dc_scale`` is read by the fft mode only and the ``gabor_*`` options (with
    ``n_gabor_features``) by the gabor mode only (``ONLY_FOR``): another mode's config refuses a
    value for them other than the default, and ``to_dict`` leaves them out, so a written config
    holds only what its mode reads.

    Attributes
    ----------
    mode : {"intensities", "fft", "gabor"}
        ``intensities``: the 125 neighbourhood values. ``fft``: magnitudes of the local 5³ DFT, only
        the 63 distinct ones for real input (k and -k mod 5 are conjugate). ``gabor``: magnitudes of
        complex Gabor filters, the ``n_gabor_features`` with the largest response spread on this
        tomogram.
    fft_dc_scale : float
        Factor on the DC magnitude (the neighbourhood sum). Raw, the DC term is ~sqrt(125) times
        larger than the AC magnitudes; the default 1/sqrt(125) puts it on their scale
        (sqrt(125) × local mean). The clusterers z-score every feature, so any positive value gives
        the same clustering; 0 drops the DC feature (62 features).
    gabor_frequencies_per_axis : int
        Number of frequencies per axis, uniformly spaced over [0, 0.5] cycles/voxel (both ends
        included; 0.5 is the Nyquist frequency).
    gabor_signed : bool
        True: orientations with mixed signs, e.g. (fz, fy, fx) and (fz, -fy, fx), are different
        filters and both are in the bank (each direction once: f and -f give the same magnitude).
        With 10 frequencies per axis this is 2,920 filters. False: only non-negative frequency
        triples, as PickET (1,000 filters with 10 per axis); they see only half of the
        orientations.
    gabor_sigma : float
        Standard deviation of the isotropic Gaussian envelope in voxels, on the centred grid
        {-2..2}; the envelope is 1 at the centre.
    n_gabor_features : int
        At most this many Gabor filters are kept: the top-N by standard deviation of |response| on
        a seeded voxel sample of the tomogram being processed, less their near-duplicates.
    gabor_max_correlation : float
        A top-N filter whose |response| correlates above this, on the same sample, with a filter
        kept before it (larger spread first) is dropped as a near-duplicate. On a 5³ support the
        largest spreads are all low-frequency filters that measure the local mean (on polnet
        tomo_01 the 24 of them correlate at 0.994 or more with the DC filter; 9 correlate above
        0.999 with a kept one); dropping them costs nothing and saves their passes. 1 keeps all
        N (PickET's rule). Lower values were measured to be worse (benchmarks/README.md): the
        band-pass filters they admit carry mostly noise texture and out-vote the density.
    gabor_selection_voxels : int
        Size of that sample.
    chunk_megabytes : float
        Target size (10⁶ bytes) of one chunk of streamed features; the chunk depth in slices is
        derived from it (at least one slice).
    """

    VARIANT_FIELD: ClassVar[str] = "mode"
    #: The options only some modes read, with those modes; every other option applies to all three.
    ONLY_FOR: ClassVar[dict[str, tuple[str, ...]]] = {"fft_dc_scale": ("fft",), **dict.fromkeys(_GABOR_OPTIONS, ("gabor",))}

    mode: str = "gabor"
    fft_dc_scale: float = 1.0 / math.sqrt(125.0)
    gabor_frequencies_per_axis: int = 10
    gabor_signed: bool = True
    gabor_sigma: float = 1.0
    n_gabor_features: int = 24
    gabor_max_correlation: float = 0.999
    gabor_selection_voxels: int = 20_000
    chunk_megabytes: float = 256.0

    def __post_init__(self) -> None:
        check_choice(self.mode, "mode", MODES)
        object.__setattr__(self, "fft_dc_scale", _check_float(self.fft_dc_scale, "fft_dc_scale", minimum=0.0, strict=False))
        n_freq = check_int(self.gabor_frequencies_per_axis, "gabor_frequencies_per_axis", minimum=2)
        object.__setattr__(self, "gabor_frequencies_per_axis", n_freq)
        if not isinstance(self.gabor_signed, bool):
            raise UnpickInputError(f"gabor_signed: expected true or false, got {self.gabor_signed!r}")
        object.__setattr__(self, "gabor_sigma", _check_float(self.gabor_sigma, "gabor_sigma", minimum=0.0, strict=True, unit="voxels"))
        n_keep = check_int(self.n_gabor_features, "n_gabor_features", minimum=1)
        bank_size = gabor_bank_size(n_freq, signed=self.gabor_signed)
        if n_keep > bank_size:
            raise UnpickInputError(
                f"n_gabor_features: expected at most the {bank_size} filters of the bank "
                f"({n_freq} frequencies per axis, signed={self.gabor_signed}), got {n_keep}; "
                f"lower it or raise gabor_frequencies_per_axis"
            )
        object.__setattr__(self, "n_gabor_features", n_keep)
        max_corr = _check_float(self.gabor_max_correlation, "gabor_max_correlation", minimum=0.0, strict=True)
        if max_corr > 1.0:
            raise UnpickInputError(f"gabor_max_correlation: expected a correlation in (0, 1], got {max_corr!r}")
        object.__setattr__(self, "gabor_max_correlation", max_corr)
        object.__setattr__(
            self, "gabor_selection_voxels", check_int(self.gabor_selection_voxels, "gabor_selection_voxels", minimum=10)
        )
        object.__setattr__(
            self, "chunk_megabytes", _check_float(self.chunk_megabytes, "chunk_megabytes", minimum=0.0, strict=True, unit="MB")
        )
        super().__post_init__()


def gabor_bank_size(frequencies_per_axis: int, *, signed: bool) -> int:
    """Number of distinct-magnitude Gabor filters for ``frequencies_per_axis`` per axis.

    Unsigned: n³. Signed: the grid has 2n - 2 values per axis (0 and 0.5 have no sign), and f
    and -f are one filter; only the 8 triples made of 0 and 0.5 are their own negatives.
    """
    n = frequencies_per_axis
    if not signed:
        return n**3
    return ((2 * n - 2) ** 3 + 8) // 2
