"""Saving and loading a TrainedPicker: config, weights, priors, normalisation, versions."""

from __future__ import annotations

import dataclasses
import logging
import platform
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._shared import UnpickInputError
from ._config import DeepConfig
from ._model import resolve_device
from ._targets import ClassPriors
from ._threshold import PeakThreshold
from ._train import NORMALISATION, TrainedPicker, build_model

logger = logging.getLogger(__name__)

FORMAT = "unpick-deep-picker"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, trained: TrainedPicker) -> Path:
    """Write ``trained`` to ``path`` (a torch file of plain types; written atomically).

    Holds the config, the state dict (on the CPU), radius, priors, normalisation stats,
    training history, voxel size, the chosen peak threshold, the teacher workflow and the
    versions of unpick, torch, numpy and Python.
    """
    if not isinstance(trained, TrainedPicker):
        raise UnpickInputError(f"trained: expected a TrainedPicker, got {type(trained).__name__}")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": trained.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in trained.model.state_dict().items()},
        "radius_voxels": float(trained.radius_voxels),
        "voxel_size_angstrom": trained.voxel_size_angstrom,
        "priors": dataclasses.asdict(trained.priors),
        "normalisation": {"method": NORMALISATION, "training_stats": trained.normalisation},
        "history": trained.history,
        "peak_threshold": None if trained.peak_threshold is None else trained.peak_threshold.to_record(),
        "teacher": trained.teacher,
        "versions": {
            "unpick": __version__,
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, *, device: str | None = None) -> TrainedPicker:
    """Read a checkpoint written by ``save_checkpoint``; the model is in eval mode.

    ``device`` ('cpu', 'gpu', 'auto') defaults to the one in the saved config.
    """
    path = Path(path)
    if not path.is_file():
        raise UnpickInputError(f"{path}: checkpoint not found; give the file written by 'unpick train'")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise UnpickInputError(f"{path}: not a readable unpick checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UnpickInputError(f"{path}: not an unpick deep-picker checkpoint (no '{FORMAT}' header)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise UnpickInputError(
            f"{path}: checkpoint format version {payload.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION}); retrain with this unpick version"
        )
    config = DeepConfig.from_dict(payload["config"])
    if payload["versions"]["torch"] != torch.__version__:
        logger.info(
            "%s was saved with torch %s, loading with %s", path, payload["versions"]["torch"], torch.__version__
        )
    model = build_model(config)
    model.load_state_dict(payload["state_dict"])
    model.to(resolve_device(device or config.device)).eval()
    return TrainedPicker(
        model=model,
        config=config,
        radius_voxels=payload["radius_voxels"],
        priors=ClassPriors(**payload["priors"]),
        normalisation=list(payload["normalisation"]["training_stats"]),
        history=list(payload["history"]),
        voxel_size_angstrom=payload["voxel_size_angstrom"],
        peak_threshold=None if payload.get("peak_threshold") is None else PeakThreshold.from_record(
            payload["peak_threshold"]
        ),
        teacher=payload.get("teacher"),  # absent from checkpoints saved before it was recorded
    )
