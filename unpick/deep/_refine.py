"""Teacher picks -> PU-trained ResUNet -> refined picks, with optional self-training rounds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy.spatial import cKDTree

from .._shared import UnpickInputError
from ._config import DeepConfig
from ._contaminants import clear_contaminants
from ._infer import predict_score_map
from ._peaks import find_peaks, log_otsu_threshold
from ._threshold import threshold_from_pseudo_labels
from ._train import TrainedPicker, train_picker

logger = logging.getLogger(__name__)


@dataclass
class RefineResult:
    """Output of ``refine_picks``, one entry per tomogram in ``coords``/``scores``/``score_maps``.

    ``coords``: (N, 3) zyx voxel centres; ``scores``: (N,) pooled probabilities;
    ``score_maps``: float32 (Z, Y, X) probability maps; ``trained``: the final model, with the
    peak threshold chosen from the teacher's picks (``trained.peak_threshold``);
    ``pseudo_positives``: the (N, 3) zyx pseudo-labels of the last round (teacher picks plus
    self-training additions); ``added_per_round``: new pseudo-positives of each self-training round;
    ``thresholds``: the peak threshold applied to each tomogram.
    """

    trained: TrainedPicker
    coords: list[np.ndarray]
    scores: list[np.ndarray]
    score_maps: list[np.ndarray]
    pseudo_positives: list[np.ndarray] = field(default_factory=list)
    added_per_round: list[int] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)


def cleared_score_maps(
    trained: TrainedPicker, volumes: list[np.ndarray], *, keep_fiducials: bool = False, keep_empty_slabs: bool = False
) -> list[np.ndarray]:
    """Score maps of ``volumes``, cleared on gold beads and outside the specimen slab
    (``clear_contaminants``), as ``unpick infer`` makes them: the maps a threshold is chosen on."""
    maps = []
    for i, volume in enumerate(volumes):
        score_map = predict_score_map(trained, volume)
        clear_contaminants(
            volume, score_map, radius_voxels=trained.radius_voxels, fiducials=not keep_fiducials,
            empty_slabs=not keep_empty_slabs, name=f"tomogram {i}",
        )  # fmt: skip
        maps.append(score_map)
    return maps


def _confident_new_peaks(
    trained: TrainedPicker,
    volume: np.ndarray,
    score_map: np.ndarray,
    known_zyx: np.ndarray,
    radius: float,
    min_score: float,
) -> np.ndarray:
    """Peaks scoring at least ``min_score`` in both the map and the map of the volume flipped in y,
    farther than ``radius`` from every known pick. (y, not all three axes: the map may already
    average the all-axes flip, ``test_time_flips``, and would then agree with itself.)"""
    flipped = predict_score_map(trained, np.ascontiguousarray(volume[:, ::-1, :]), flips=False)[:, ::-1, :]
    consistent = np.minimum(score_map, flipped)
    coords, _ = find_peaks(consistent, radius_voxels=radius, threshold=min_score)
    if len(coords) and len(known_zyx):
        distance, _ = cKDTree(known_zyx).query(coords)
        coords = coords[distance > radius]
    return coords


def calibrate_peak_threshold(
    trained: TrainedPicker, score_maps: list[np.ndarray], pseudo_picks: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """All candidate peaks of each score map; sets ``trained.peak_threshold`` from the
    pseudo-positives they were trained on (``choose_peak_threshold``), so that a saved model
    carries the operating point to new tomograms. A model with no peak on any pseudo-positive
    gets none, with a WARNING."""
    radius = trained.radius_voxels
    candidates = [find_peaks(m, radius_voxels=radius, threshold=0.0) for m in score_maps]
    try:
        trained.peak_threshold = threshold_from_pseudo_labels(candidates, pseudo_picks, radius)
    except UnpickInputError as err:
        trained.peak_threshold = None
        logger.warning("%s", err)
    return candidates


def _cuts(
    trained: TrainedPicker,
    candidates: list[tuple[np.ndarray, np.ndarray]],
    pseudo_picks: list[np.ndarray | None] | None = None,
    radius_voxels: float | None = None,
) -> list[float]:
    """The peak threshold of each tomogram.

    With pseudo-positives of that tomogram (its teacher's picks), the PU criterion on its own
    peaks (``threshold_from_pseudo_labels``): polnet tomo_02-04 through ``unpick infer``, 0.960 /
    0.912 / 0.926 F1 with the carried threshold against 0.968 / 0.931 / 0.929 (benchmarks/README.md).
    Else the threshold chosen on the training tomograms carried to the map
    (``PeakThreshold.for_scores``), else Otsu on the log scores of all candidates.
    """
    own = pseudo_picks if pseudo_picks is not None else [None] * len(candidates)
    radius = trained.radius_voxels if radius_voxels is None else radius_voxels
    pooled_otsu: float | None = None  # computed once, for the tomograms that need it
    cuts: list[float] = []
    for (coords, scores), picks in zip(candidates, own):
        if picks is not None and len(picks):
            try:
                cuts.append(threshold_from_pseudo_labels([(coords, scores)], [picks], radius).threshold)
                continue
            except UnpickInputError as err:
                logger.warning("%s; the threshold of the training tomograms is carried instead", err)
        if trained.peak_threshold is not None:
            cuts.append(trained.peak_threshold.for_scores(scores))
            continue
        if pooled_otsu is None:
            pooled_otsu = log_otsu_threshold(np.concatenate([s for _, s in candidates]))
        cuts.append(pooled_otsu)
    return cuts


def peaks_at_threshold(
    trained: TrainedPicker,
    score_map: np.ndarray,
    *,
    radius_voxels: float | None = None,
    threshold: float | None = None,
    pseudo_positives: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Picks of one score map: coords (N, 3) zyx, scores and the threshold used.

    The threshold is ``threshold``, else ``trained.config.peak_threshold``, else chosen on this
    map from ``pseudo_positives`` (N, 3 zyx; e.g. the teacher workflow's picks of this
    tomogram) by the PU criterion, else the one chosen on the training tomograms carried to
    this map (``PeakThreshold.for_scores``), else Otsu on the log peak scores (a model saved
    without one). ``radius_voxels`` defaults to the training radius.
    """
    radius = trained.radius_voxels if radius_voxels is None else radius_voxels
    threshold = trained.config.peak_threshold if threshold is None else threshold
    coords, scores = find_peaks(score_map, radius_voxels=radius, threshold=0.0)
    if threshold is None:
        own = None if pseudo_positives is None else np.asarray(pseudo_positives, dtype=np.float64).reshape(-1, 3)
        threshold = _cuts(trained, [(coords, scores)], [own], radius)[0]
    keep = scores >= threshold
    return coords[keep], scores[keep], float(threshold)


def refine_picks(
    volumes: Any,
    teacher_picks: Any,
    *,
    config: DeepConfig,
    radius_voxels: float,
    scores: Any = None,
    voxel_size_angstrom: float | None = None,
    threshold: float | None = None,
    keep_fiducials: bool = False,
    keep_empty_slabs: bool = False,
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
        ``self_training_min_score`` (default: the chosen peak threshold) on the tomogram and on
        a copy flipped in y (augmentation
        consistency) to the pseudo-positives, re-estimates the prior from the number of peaks
        the current model picks (at least 1.1 x the pseudo-positives), and fine-tunes the model.
    radius_voxels : float
    scores : (N,) array or list of them, optional
        Teacher scores (rank-weighted); new self-training picks rank above all of them.
    voxel_size_angstrom : float, optional
    threshold : float, optional
        Peak threshold; default ``config.peak_threshold``, else chosen on each tomogram from
        its teacher's picks (``choose_peak_threshold``: the PU criterion recall^2 / share of
        candidate peaks). The threshold saved with the model (``trained.peak_threshold``) is
        chosen on the pooled peaks of all tomograms, for tomograms without a teacher.
    keep_fiducials, keep_empty_slabs : bool
        Keep peaks on gold beads / outside the specimen slab (``clear_contaminants``).
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
    teacher = list(picks)
    score_lists = None if scores is None else [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    trained: TrainedPicker | None = None
    round_config = config
    added_per_round: list[int] = []
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
        maps = cleared_score_maps(
            trained, list(volumes), keep_fiducials=keep_fiducials, keep_empty_slabs=keep_empty_slabs
        )
        candidates = calibrate_peak_threshold(trained, maps, teacher)
        cuts = _cuts(trained, candidates, teacher) if threshold is None else [threshold] * len(candidates)
        peaks = [(c[s >= cut], s[s >= cut]) for (c, s), cut in zip(candidates, cuts)]
        if round_index == config.self_training_rounds:
            break
        found = [c for c, _ in peaks]
        floors = cuts if config.self_training_min_score is None else [config.self_training_min_score] * len(maps)
        added = [
            _confident_new_peaks(trained, v, m, p, radius_voxels, floor)
            for v, m, p, floor in zip(volumes, maps, picks, floors)
        ]
        if score_lists is not None:
            top = max((float(s.max()) for s in score_lists if len(s)), default=0.0) + 1.0
            score_lists = [np.concatenate([s, np.full(len(a), top)]) for s, a in zip(score_lists, added)]
        picks = [np.concatenate([p, a]) for p, a in zip(picks, added)]
        added_per_round.append(sum(len(a) for a in added))
        expected = max(float(np.mean([len(f) for f in found])), 1.1 * float(np.mean([len(p) for p in picks])))
        round_config = round_config.replace(prior=None, expected_count=expected)
        logger.info(
            "self-training round %d: %d confident new pseudo-positives; prior re-estimated from %.0f picks/tomogram",
            round_index + 1,
            added_per_round[-1],
            expected,
        )
    return RefineResult(
        trained=cast(TrainedPicker, trained),
        coords=[c for c, _ in peaks],
        scores=[s for _, s in peaks],
        score_maps=maps,
        pseudo_positives=picks,
        added_per_round=added_per_round,
        thresholds=[float(c) for c in cuts],
    )
