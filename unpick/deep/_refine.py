"""Teacher picks -> PU-trained ResUNet -> refined picks, with optional self-training rounds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy.spatial import cKDTree

from .._shared import UnpickInputError
from ._config import DeepConfig
from ._infer import predict_score_map
from ._peaks import find_peaks
from ._train import TrainedPicker, train_picker

logger = logging.getLogger(__name__)


@dataclass
class RefineResult:
    """Output of ``refine_picks``, one entry per tomogram in ``coords``/``scores``/``score_maps``.

    ``coords``: (N, 3) zyx voxel centres; ``scores``: (N,) pooled probabilities;
    ``score_maps``: float32 (Z, Y, X) probability maps; ``trained``: the final model.
    """

    trained: TrainedPicker
    coords: list[np.ndarray]
    scores: list[np.ndarray]
    score_maps: list[np.ndarray]


def _score_maps(trained: TrainedPicker, volumes: list[np.ndarray]) -> list[np.ndarray]:
    return [predict_score_map(trained, volume) for volume in volumes]


def _confident_new_peaks(
    trained: TrainedPicker, volume: np.ndarray, score_map: np.ndarray, known_zyx: np.ndarray, radius: float
) -> np.ndarray:
    """Peaks above ``self_training_min_score`` in both the map and the map of the flipped volume,
    farther than ``radius`` from every known pick."""
    flipped = predict_score_map(trained, np.ascontiguousarray(volume[::-1, ::-1, ::-1]))[::-1, ::-1, ::-1]
    consistent = np.minimum(score_map, flipped)
    coords, _ = find_peaks(consistent, radius_voxels=radius, threshold=trained.config.self_training_min_score)
    if len(coords) and len(known_zyx):
        distance, _ = cKDTree(known_zyx).query(coords)
        coords = coords[distance > radius]
    return coords


def refine_picks(
    volumes: Any,
    teacher_picks: Any,
    *,
    config: DeepConfig,
    radius_voxels: float,
    scores: Any = None,
    voxel_size_angstrom: float | None = None,
    threshold: float | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
) -> RefineResult:
    """Train a PU picker on a teacher's picks and pick every tomogram with it.

    Parameters
    ----------
    volumes : (Z, Y, X) array or list of them
    teacher_picks : (N, 3) zyx array or list of them (one per volume)
        Pseudo-positives, e.g. the picks of an unsupervised workflow or a consensus.
    config : DeepConfig
        ``self_training_rounds`` > 0 adds, each round, the peaks that score at least
        ``self_training_min_score`` on the tomogram and on its flipped copy (augmentation
        consistency) to the pseudo-positives, re-estimates the prior from the number of peaks
        the current model picks (at least 1.1 x the pseudo-positives), and fine-tunes the model.
    radius_voxels : float
    scores : (N,) array or list of them, optional
        Teacher scores (rank-weighted); new self-training picks rank above all of them.
    voxel_size_angstrom : float, optional
    threshold : float, optional
        Peak threshold; default ``config.peak_threshold``, else data-driven (``find_peaks``).
    progress : bool
    checkpoint_dir : path, optional
        Training state of round r goes to ``checkpoint_dir/round<r>`` (resumable).

    Returns
    -------
    RefineResult
    """
    if isinstance(volumes, np.ndarray) and volumes.ndim == 3:
        volumes, teacher_picks = [volumes], [teacher_picks]
        scores = None if scores is None else [scores]
    if not isinstance(volumes, (list, tuple)) or not isinstance(teacher_picks, (list, tuple)):
        raise UnpickInputError("volumes/teacher_picks: expected one volume and picks array, or two lists of them")
    threshold = config.peak_threshold if threshold is None else threshold
    picks = [np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in teacher_picks]
    score_lists = None if scores is None else [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    trained: TrainedPicker | None = None
    round_config = config
    for round_index in range(config.self_training_rounds + 1):
        trained = train_picker(
            list(volumes),
            picks,
            config=round_config,
            radius_voxels=radius_voxels,
            scores=score_lists,
            voxel_size_angstrom=voxel_size_angstrom,
            progress=progress,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"round{round_index}",
            init=trained,
        )
        maps = _score_maps(trained, list(volumes))
        if round_index == config.self_training_rounds:
            break
        found = [find_peaks(m, radius_voxels=radius_voxels, threshold=threshold)[0] for m in maps]
        added = [_confident_new_peaks(trained, v, m, p, radius_voxels) for v, m, p in zip(volumes, maps, picks)]
        if score_lists is not None:
            top = max((float(s.max()) for s in score_lists if len(s)), default=0.0) + 1.0
            score_lists = [np.concatenate([s, np.full(len(a), top)]) for s, a in zip(score_lists, added)]
        picks = [np.concatenate([p, a]) for p, a in zip(picks, added)]
        expected = max(float(np.mean([len(f) for f in found])), 1.1 * float(np.mean([len(p) for p in picks])))
        round_config = round_config.replace(prior=None, expected_count=expected)
        logger.info(
            "self-training round %d: %d confident new pseudo-positives; prior re-estimated from %.0f picks/tomogram",
            round_index + 1,
            sum(len(a) for a in added),
            expected,
        )
    peaks = [find_peaks(m, radius_voxels=radius_voxels, threshold=threshold) for m in maps]
    return RefineResult(
        trained=cast(TrainedPicker, trained),
        coords=[c for c, _ in peaks],
        scores=[s for _, s in peaks],
        score_maps=maps,
    )
