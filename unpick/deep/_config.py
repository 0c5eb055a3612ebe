"""Configuration of the PU-trained deep picker (no torch import here)."""

from __future__ import annotations

import dataclasses

from .._shared import StageConfig, UnpickInputError, check_choice, check_int

LOSSES = ("pn", "nnpu", "gekl")
NORMS = ("group", "instance")
TORCH_DEVICES = ("cpu", "gpu", "auto")


def _check_fraction(value: object, name: str, *, low: float, high: float, closed_high: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (low <= value <= high if closed_high else low <= value < high)
    if not ok:
        bracket = "]" if closed_high else ")"
        raise UnpickInputError(f"DeepConfig.{name}: expected a number in [{low}, {high}{bracket}, got {value!r}")


def _check_positive_number(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UnpickInputError(f"DeepConfig.{name}: expected a positive number, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DeepConfig(StageConfig):
    """Settings of the 3-D ResUNet picker trained with positive-unlabelled learning.

    Model
        ``widths``: channels of the 4 levels (DeepETPicker uses (24, 48, 72, 108); the light
        default (8, 16, 24, 36) trains on a CPU). ``norm``: 'group' or 'instance'.
        ``coord_channels``: add 3 patch-coordinate input channels (CoordConv).
        ``pyramid``: feed the average-pooled input to every encoder level (image pyramid).
    Training
        ``patch_size`` (voxels, multiple of 8), ``batch_size``, ``epochs`` x
        ``iterations_per_epoch`` optimiser steps, AdamW ``learning_rate``/``weight_decay``,
        ``loss`` in 'pn' (the default), 'nnpu', 'gekl'; ``gekl_slack`` is the GE-KL weight lambda.
        benchmarks/README.md ("When PU learning matters"): with a teacher's picks of the whole
        tomogram PN trains the best student on average (polnet tomo_01, 120 iterations, 3 seeds:
        PN 0.945, GE-KL 0.942, nnPU 0.929); with 5 % or 20 % of them labelled GE-KL is best: use
        it for sparse labels or a weak teacher.
        ``positive_patch_fraction`` of each batch is centred on a pick, the rest uniform.
        ``augment``: random flips of every axis and 90-degree rotations about z.
    Targets and prior
        ``positive_core_fraction``: radius of the positive core as a fraction of the particle
        radius (the shell out to the radius is ignored). The class prior comes from ``prior``
        (fraction of all voxels inside a particle core) or ``expected_count`` (particles per
        tomogram, on average), else from the teacher: ``expected_count_factor`` x picks.
        ``score_weighting``: weight each pseudo-positive by the rank of its teacher score,
        from ``min_positive_weight`` to 1. ``drop_high_loss_fraction``: fraction of positive
        voxels with the highest loss left out of each batch (false pseudo-positives).
    Inference
        ``tile_size``/``tile_overlap`` (voxels) of the overlap-tile prediction;
        ``peak_threshold`` on peak scores (None: chosen from the pseudo-labels, see
        ``choose_peak_threshold``). ``test_time_flips``: average the map with that of the
        volume flipped on all three axes (twice the inference time; polnet after 400 iterations:
        +0.004 / +0.001 / +0.009 F1 on tomo_01-03, but -0.08 after 40 iterations: off by default).
        ``self_training_rounds``: rounds that add confident new peaks (score >=
        ``self_training_min_score``, default the peak threshold chosen from the pseudo-labels,
        found again on a flipped copy) and re-estimate the prior.
    ``seed`` seeds every random choice; ``device`` is 'cpu', 'gpu' (CUDA) or 'auto'.
    """

    widths: tuple[int, ...] = (8, 16, 24, 36)
    norm: str = "group"
    coord_channels: bool = False
    pyramid: bool = True
    patch_size: int = 48
    batch_size: int = 4
    epochs: int = 10
    iterations_per_epoch: int = 40
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    loss: str = "pn"
    gekl_slack: float = 10.0
    positive_core_fraction: float = 0.4
    positive_patch_fraction: float = 0.5
    augment: bool = True
    prior: float | None = None
    expected_count: float | None = None
    expected_count_factor: float = 1.5
    score_weighting: bool = True
    min_positive_weight: float = 0.25
    drop_high_loss_fraction: float = 0.1
    tile_size: int = 64
    tile_overlap: int = 16
    peak_threshold: float | None = None
    test_time_flips: bool = False
    self_training_rounds: int = 0
    self_training_min_score: float | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        widths = self.widths
        if (
            not isinstance(widths, tuple)
            or len(widths) != 4
            or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)
        ):
            raise UnpickInputError(f"DeepConfig.widths: expected 4 positive integers (one per level), got {widths!r}")
        check_choice(self.norm, "DeepConfig.norm", NORMS)
        check_choice(self.loss, "DeepConfig.loss", LOSSES)
        check_choice(self.device, "DeepConfig.device", TORCH_DEVICES)
        for name in ("coord_channels", "pyramid", "augment", "score_weighting", "test_time_flips"):
            if not isinstance(getattr(self, name), bool):
                raise UnpickInputError(f"DeepConfig.{name}: expected true or false, got {getattr(self, name)!r}")
        for name in ("patch_size", "tile_size"):
            value = getattr(self, name)
            check_int(value, f"DeepConfig.{name}", minimum=16)
            if value % 8:
                raise UnpickInputError(
                    f"DeepConfig.{name}: expected a multiple of 8 voxels (3 down-samplings), got {value}; "
                    f"use {value + 8 - value % 8}"
                )
        check_int(self.batch_size, "DeepConfig.batch_size", minimum=1)
        check_int(self.epochs, "DeepConfig.epochs", minimum=1)
        check_int(self.iterations_per_epoch, "DeepConfig.iterations_per_epoch", minimum=1)
        check_int(self.tile_overlap, "DeepConfig.tile_overlap", minimum=0)
        if self.tile_overlap * 2 > self.tile_size:
            raise UnpickInputError(
                f"DeepConfig.tile_overlap: expected at most half the tile size ({self.tile_size // 2}), "
                f"got {self.tile_overlap}"
            )
        check_int(self.self_training_rounds, "DeepConfig.self_training_rounds", minimum=0)
        check_int(self.seed, "DeepConfig.seed", minimum=0)
        for name in ("learning_rate", "gekl_slack", "expected_count_factor"):
            _check_positive_number(getattr(self, name), name)
        _check_fraction(self.weight_decay, "weight_decay", low=0.0, high=1.0)
        _check_fraction(self.positive_core_fraction, "positive_core_fraction", low=0.05, high=1.0, closed_high=True)
        _check_fraction(self.positive_patch_fraction, "positive_patch_fraction", low=0.0, high=1.0, closed_high=True)
        _check_fraction(self.min_positive_weight, "min_positive_weight", low=0.0, high=1.0, closed_high=True)
        _check_fraction(self.drop_high_loss_fraction, "drop_high_loss_fraction", low=0.0, high=0.9, closed_high=True)
        if self.self_training_min_score is not None:
            _check_fraction(
                self.self_training_min_score, "self_training_min_score", low=0.0, high=1.0, closed_high=True
            )
        if self.prior is not None:
            _check_fraction(self.prior, "prior", low=1e-9, high=0.5, closed_high=True)
        if self.expected_count is not None:
            _check_positive_number(self.expected_count, "expected_count")
        if self.prior is not None and self.expected_count is not None:
            raise UnpickInputError("DeepConfig: give prior or expected_count, not both (they set the same class prior)")
        if self.peak_threshold is not None:
            _check_fraction(self.peak_threshold, "peak_threshold", low=0.0, high=1.0, closed_high=True)
