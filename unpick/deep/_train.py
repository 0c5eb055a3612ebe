"""PU training of the ResUNet on pseudo-positive picks: ``train_picker`` checks the inputs and
keeps the per-epoch training state on disk (``_state``), ``_fit_picker`` trains on arrays alone."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._shared import UnpickInputError, check_positive, check_volume
from ._config import DeepConfig
from ._losses import drop_high_loss_positives, gekl_loss, nnpu_loss, pn_loss
from ._model import ResUNet3d, channels_last, resolve_device
from ._normalise import normalise_volume
from ._sampling import PatchSampler
from ._state import STATE_FILE, TrainingState, load_training_state, save_training_state
from ._targets import ClassPriors, build_targets, check_coords, estimate_priors, rank_weights
from ._threshold import PeakThreshold

logger = logging.getLogger(__name__)

NORMALISATION = "median-mad-clip5"


@dataclass
class TrainedPicker:
    """A trained ResUNet with everything needed to apply it to a new tomogram.

    Attributes
    ----------
    model : ResUNet3d
        In eval mode, on the device it was trained on.
    config : DeepConfig
    radius_voxels : float
        Particle radius used for the targets (and default for peak finding), in voxels.
    priors : ClassPriors
        The class priors of the last training round.
    normalisation : list of dict
        ``median``/``scale`` of each training tomogram; every tomogram is normalised the same
        way (``normalise_volume``) before inference.
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean objective), ``unlabelled_rate`` (mean
        predicted positive probability on unlabelled voxels), ``seconds``.
    voxel_size_angstrom : float or None
        Voxel size of the training tomograms, when known.
    peak_threshold : PeakThreshold or None
        Peak-score threshold chosen on the training tomograms from the pseudo-labels
        (``refine_picks``); ``unpick infer`` carries it to new tomograms that have no teacher.
    teacher : dict or None
        The unsupervised workflow whose picks taught the model: ``workflow`` (its name) and
        ``config`` (its ``PickConfig.to_dict()``), set by ``unpick refine``. ``unpick infer``
        runs it on each new tomogram and chooses that tomogram's threshold from its picks.
    """

    model: ResUNet3d
    config: DeepConfig
    radius_voxels: float
    priors: ClassPriors
    normalisation: list[dict[str, float]] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    voxel_size_angstrom: float | None = None
    peak_threshold: PeakThreshold | None = None
    teacher: dict[str, Any] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def build_model(config: DeepConfig) -> ResUNet3d:
    """The ResUNet described by ``config``, initialised from ``config.seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return ResUNet3d(config.widths, norm=config.norm, coord_channels=config.coord_channels, pyramid=config.pyramid)


def _objective(config: DeepConfig, priors: ClassPriors) -> Callable[..., torch.Tensor]:
    if config.loss == "pn":
        return lambda logits, labels, weights: pn_loss(logits, labels, weights, prior=priors.full)
    if config.loss == "gekl":
        return lambda logits, labels, weights: gekl_loss(
            logits, labels, weights, prior=priors.unlabelled, slack=config.gekl_slack
        )
    return lambda logits, labels, weights: nnpu_loss(
        logits, labels, weights, prior=priors.unlabelled, labelled_fraction=priors.labelled_fraction
    )


def _check_inputs(
    volumes: list[Any], pseudo_picks: list[Any], scores: list[Any] | None
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    if not isinstance(volumes, (list, tuple)) or not volumes:
        raise UnpickInputError("volumes: expected a non-empty list of (Z, Y, X) tomograms")
    if not isinstance(pseudo_picks, (list, tuple)) or len(pseudo_picks) != len(volumes):
        got = len(pseudo_picks) if isinstance(pseudo_picks, (list, tuple)) else type(pseudo_picks).__name__
        raise UnpickInputError(f"pseudo_picks: expected one (N, 3) zyx array per volume ({len(volumes)}), got {got}")
    coords = [check_coords(p, f"pseudo_picks[{i}]") for i, p in enumerate(pseudo_picks)]
    if sum(len(c) for c in coords) == 0:
        raise UnpickInputError("pseudo_picks: no picks at all; a PU picker needs some pseudo-positives")
    for i, volume in enumerate(volumes):
        check_volume(volume, name=f"volumes[{i}]")
    if scores is None:
        return coords, [None] * len(coords)
    if len(scores) != len(coords):
        raise UnpickInputError(f"scores: expected one array per volume ({len(coords)}), got {len(scores)}")
    checked = []
    for i, (s, c) in enumerate(zip(scores, coords)):
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        if len(s) != len(c):
            raise UnpickInputError(f"scores[{i}]: expected one score per pick ({len(c)}), got {len(s)}")
        checked.append(s)
    return coords, checked


def _pick_weights(config: DeepConfig, coords: list[np.ndarray], scores: list[np.ndarray | None]) -> list[np.ndarray]:
    """Rank weights pooled over all tomograms, or ones."""
    if not config.score_weighting or any(s is None for s in scores):
        return [np.ones(len(c)) for c in coords]
    pooled = rank_weights(np.concatenate(scores), min_weight=config.min_positive_weight)
    bounds = np.cumsum([0] + [len(c) for c in coords])
    return [pooled[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def train_picker(
    volumes: list[np.ndarray],
    pseudo_picks: list[np.ndarray],
    *,
    config: DeepConfig,
    radius_voxels: float,
    scores: list[np.ndarray] | None = None,
    voxel_size_angstrom: float | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    init: TrainedPicker | None = None,
) -> TrainedPicker:
    """Train a ResUNet voxel classifier with PN, nnPU or GE-KL on pseudo-positive picks.

    Checks the inputs, resumes from the training state in ``checkpoint_dir`` when there is one, and
    hands the arrays to the training loop (``_fit_picker``, which touches no file), saving its state
    there after every epoch.

    Parameters
    ----------
    volumes : list of (Z, Y, X) arrays
        Tomograms; each is normalised with ``normalise_volume``.
    pseudo_picks : list of (N_i, 3) arrays
        Pseudo-positive centres (zyx voxels) per tomogram, e.g. an unsupervised workflow's picks.
    config : DeepConfig
    radius_voxels : float
        Particle radius in voxels (positive core ``config.positive_core_fraction`` of it, ignore
        shell out to it).
    scores : list of (N_i,) arrays, optional
        Teacher scores; with ``config.score_weighting`` they weight each pick by rank.
    voxel_size_angstrom : float, optional
        Recorded with the model so inference can convert the radius for other voxel sizes.
    progress : bool
        Show a tqdm bar over iterations.
    checkpoint_dir : path, optional
        The training state is saved there after every epoch (atomically) and training resumes
        from it when present (settings other than ``epochs`` and ``device`` must match).
    init : TrainedPicker, optional
        Start from this model's weights (self-training rounds) instead of a fresh model.

    Returns
    -------
    TrainedPicker
    """
    if not isinstance(config, DeepConfig):
        raise UnpickInputError(f"config: expected a DeepConfig, got {type(config).__name__}")
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    coords, score_lists = _check_inputs(volumes, pseudo_picks, scores)
    state_path = Path(checkpoint_dir) / STATE_FILE if checkpoint_dir is not None else None
    resume = load_training_state(state_path, config) if state_path is not None else None
    if resume is not None:
        logger.info("resuming from %s after epoch %d", state_path, len(resume["history"]))
    return _fit_picker(
        volumes, coords, _pick_weights(config, coords, score_lists), config=config, radius_voxels=radius,
        voxel_size_angstrom=voxel_size_angstrom, progress=progress, init=init, resume=resume,
        on_epoch=None if state_path is None else functools.partial(save_training_state, state_path),
    )  # fmt: skip


def _fit_picker(
    volumes: list[np.ndarray],
    coords: list[np.ndarray],
    pick_weights: list[np.ndarray],
    *,
    config: DeepConfig,
    radius_voxels: float,
    voxel_size_angstrom: float | None,
    progress: bool,
    init: TrainedPicker | None,
    resume: TrainingState | None,
    on_epoch: Callable[[TrainingState], None] | None,
) -> TrainedPicker:
    """The training itself, on checked arrays: targets, priors, model, then the epochs.

    Starts from ``resume`` (a state ``on_epoch`` was given before) when not None, and calls
    ``on_epoch`` with the state after every epoch; the state is what training needs to go on
    exactly as if uninterrupted (``_state``). Its tensors and history are the live ones, so
    ``on_epoch`` saves or copies them before it returns. Reads and writes no file.
    """
    device = resolve_device(config.device)
    rng = np.random.default_rng(config.seed)
    sampler, priors, stats = _training_data(volumes, coords, pick_weights, config=config, radius_voxels=radius_voxels)
    model = _initial_model(config, priors, init=init, device=device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: list[dict[str, float]] = []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimiser.load_state_dict(resume["optimiser"])
        rng.bit_generator.state = resume["numpy_rng"]
        history = list(resume["history"])

    from tqdm.auto import tqdm

    total = config.epochs * config.iterations_per_epoch
    done = len(history) * config.iterations_per_epoch
    bar = tqdm(total=total, initial=min(done, total), desc="training", unit="it", disable=not progress)
    objective = _objective(config, priors)
    model.train()
    for epoch in range(len(history), config.epochs):
        entry = _train_epoch(model, optimiser, objective, sampler, rng, config=config, device=device, bar=bar)
        history.append({"epoch": epoch + 1, **entry})
        logger.info(
            "epoch %d/%d: %s loss %.4f, mean P(particle) on unlabelled %.4f (pi_U %.4f), %.1f s",
            epoch + 1, config.epochs, config.loss, history[-1]["loss"], history[-1]["unlabelled_rate"],
            priors.unlabelled, history[-1]["seconds"],
        )  # fmt: skip
        if on_epoch is not None:
            on_epoch(
                {
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "history": history,
                }
            )
    bar.close()
    model.eval()
    return TrainedPicker(
        model=model,
        config=config,
        radius_voxels=radius_voxels,
        priors=priors,
        normalisation=stats,
        history=history,
        voxel_size_angstrom=voxel_size_angstrom,
    )


def _training_data(
    volumes: list[np.ndarray], coords: list[np.ndarray], pick_weights: list[np.ndarray], *, config: DeepConfig,
    radius_voxels: float,
) -> tuple[PatchSampler, ClassPriors, list[dict[str, float]]]:
    """The patch sampler over the normalised tomograms and their targets, the class priors, and
    each tomogram's normalisation."""
    images, stats, labels, weights = [], [], [], []
    for i, (volume, picks, pick_w) in enumerate(zip(volumes, coords, pick_weights)):
        image, stat = normalise_volume(volume, rng=config.seed + i)
        lab, wt = build_targets(
            image.shape, picks, radius_voxels=radius_voxels, core_fraction=config.positive_core_fraction, weights=pick_w
        )
        images.append(image)
        stats.append(stat)
        labels.append(lab)
        weights.append(wt)
    priors = estimate_priors(
        labels,
        n_picks=sum(len(c) for c in coords),
        radius_voxels=radius_voxels,
        core_fraction=config.positive_core_fraction,
        prior=config.prior,
        expected_count=config.expected_count,
        expected_count_factor=config.expected_count_factor,
    )
    sampler = PatchSampler(
        images, labels, weights, coords, config.patch_size, config.positive_patch_fraction, config.augment
    )
    return sampler, priors, stats


def _initial_model(config: DeepConfig, priors: ClassPriors, *, init: TrainedPicker | None, device: torch.device) -> ResUNet3d:
    """A fresh model whose output starts at the prior, or ``init``'s weights, on ``device``."""
    model = build_model(config)
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    else:
        # start every voxel at the prior (RetinaNet's prior initialisation): otherwise the output
        # starts near 0.5 and hundreds of steps go into pulling the background down
        with torch.no_grad():
            model.head.bias.fill_(math.log(priors.full / (1.0 - priors.full)))
    return channels_last(model.to(device))


def _train_epoch(
    model: ResUNet3d,
    optimiser: torch.optim.Optimizer,
    objective: Callable[..., torch.Tensor],
    sampler: PatchSampler,
    rng: np.random.Generator,
    *,
    config: DeepConfig,
    device: torch.device,
    bar: Any,
) -> dict[str, float]:
    """One epoch of ``config.iterations_per_epoch`` steps; its history entry (without ``epoch``)."""
    start, losses, rates = time.perf_counter(), [], []
    for _ in range(config.iterations_per_epoch):
        image, label, weight = (torch.from_numpy(a).to(device) for a in sampler.sample(rng, config.batch_size))
        logits = model(channels_last(image))
        if config.drop_high_loss_fraction > 0:
            weight = drop_high_loss_positives(logits, label, weight, fraction=config.drop_high_loss_fraction)
        loss = objective(logits, label, weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        with torch.no_grad():
            unlabelled = label == 0
            if bool(unlabelled.any()):
                rates.append(float(torch.sigmoid(logits[unlabelled]).mean()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return {
        "loss": float(np.mean(losses)),
        "unlabelled_rate": float(np.mean(rates)) if rates else math.nan,
        "seconds": time.perf_counter() - start,
    }
