"""The training state saved after every epoch, from which ``train_picker`` resumes.

A state is a plain dict (``torch.load(weights_only=True)`` reads it back): ``config`` (the
``DeepConfig.to_dict()`` it was trained with), ``model`` and ``optimiser`` (their state dicts),
``numpy_rng`` (the patch sampler's generator state) and ``history`` (one dict per epoch done).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._shared import UnpickInputError
from ._config import DeepConfig

#: The state's file name in a checkpoint directory.
STATE_FILE = "training_state.pt"
#: Settings that may differ when resuming: more epochs, another device, inference-only options.
RESUMABLE_CHANGES = ("epochs", "device", "test_time_flips")

TrainingState = dict[str, Any]


def load_training_state(path: Path, config: DeepConfig) -> TrainingState | None:
    """The state saved at ``path``, or None when there is none; a state made with other settings
    than ``config`` (apart from ``RESUMABLE_CHANGES``) is an error naming them."""
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


def save_training_state(path: Path, state: TrainingState) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file renamed over it), so an interrupted
    save leaves the previous epoch's state whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
