"""PU training of the ResUNet on pseudo-positive picks, with per-epoch checkpoints and resume."""

from __future__ import annotations

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
from ._targets import ClassPriors, build_targets, check_coords, estimate_priors, rank_weights
from ._threshold import PeakThreshold

logger = logging.getLogger(__name__)

STATE_FILE = "training_state.pt"
NORMALISATION = "median-mad-clip5"
# settings that may differ when resuming: more epochs, another device, inference-only options
RESUMABLE_CHANGES = ("epochs", "device", "test_time_flips")


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


def _load_state(path: Path, config: DeepConfig) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = {k: v for k, v in state["config"].items() if k not in RESUMABLE_CHANGES}
    wanted = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise UnpickInputError(
            f"{path}: training state was made with different settings ({', '.join(changed)}); "
            f"use another checkpoint directory or delete it to start again"
        )
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


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
    device = resolve_device(config.device)
    rng = np.random.default_rng(config.seed)

    images, stats, labels, weights = [], [], [], []
    for i, (volume, picks, pick_w) in enumerate(zip(volumes, coords, _pick_weights(config, coords, score_lists))):
        check_volume(volume, name=f"volumes[{i}]")
        image, stat = normalise_volume(volume, rng=config.seed + i)
        lab, wt = build_targets(
            image.shape, picks, radius_voxels=radius, core_fraction=config.positive_core_fraction, weights=pick_w
        )
        images.append(image)
        stats.append(stat)
        labels.append(lab)
        weights.append(wt)
    priors = estimate_priors(
        labels,
        n_picks=sum(len(c) for c in coords),
        radius_voxels=radius,
        core_fraction=config.positive_core_fraction,
        prior=config.prior,
        expected_count=config.expected_count,
        expected_count_factor=config.expected_count_factor,
    )
    sampler = PatchSampler(
        images, labels, weights, coords, config.patch_size, config.positive_patch_fraction, config.augment
    )
    model = build_model(config)
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    else:
        # start every voxel at the prior (RetinaNet's prior initialisation): otherwise the output
        # starts near 0.5 and hundreds of steps go into pulling the background down
        with torch.no_grad():
            model.head.bias.fill_(math.log(priors.full / (1.0 - priors.full)))
    model = channels_last(model.to(device))
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    objective = _objective(config, priors)
    history: list[dict[str, float]] = []
    state_path = Path(checkpoint_dir) / STATE_FILE if checkpoint_dir is not None else None
    state = _load_state(state_path, config) if state_path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        history = list(state["history"])
        logger.info("resuming from %s after epoch %d", state_path, len(history))

    from tqdm.auto import tqdm

    total = config.epochs * config.iterations_per_epoch
    done = len(history) * config.iterations_per_epoch
    bar = tqdm(total=total, initial=min(done, total), desc="training", unit="it", disable=not progress)
    model.train()
    for epoch in range(len(history), config.epochs):
        start, losses, rates = time.perf_counter(), [], []
        for _ in range(config.iterations_per_epoch):
            batch = [torch.from_numpy(a).to(device) for a in sampler.sample(rng, config.batch_size)]
            image, label, weight = batch
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
        entry = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "unlabelled_rate": float(np.mean(rates)) if rates else math.nan,
            "seconds": time.perf_counter() - start,
        }
        history.append(entry)
        logger.info(
            "epoch %d/%d: %s loss %.4f, mean P(particle) on unlabelled %.4f (pi_U %.4f), %.1f s",
            epoch + 1,
            config.epochs,
            config.loss,
            entry["loss"],
            entry["unlabelled_rate"],
            priors.unlabelled,
            entry["seconds"],
        )
        if state_path is not None:
            _save_state(
                state_path,
                {
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "history": history,
                },
            )
    bar.close()
    model.eval()
    return TrainedPicker(
        model=model,
        config=config,
        radius_voxels=radius,
        priors=priors,
        normalisation=stats,
        history=history,
        voxel_size_angstrom=voxel_size_angstrom,
    )
