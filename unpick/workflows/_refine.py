"""The deep-picker bootstrap over one or many tomograms: teacher picks, one trained model, re-picks.

An unsupervised workflow picks each tomogram (the teacher), its picks become pseudo-positives
(teacher scores as weights), one ResUNet learns from all of them (``unpick.deep.refine_picks``), and
the trained model picks every tomogram again (score map -> peaks). Output layout under ``out_dir``::

    out_dir/teacher/<name>/picks/<workflow>.csv, job.json   the teacher (``run_pick`` layout)
    out_dir/refined/state/round<r>/training_state.pt        per-epoch training state (resumable)
    out_dir/refined/model.pt                                the trained picker (``unpick infer`` reads it)
    out_dir/refined/<name>_scores.mrc                       particle-probability map
    out_dir/refined/<name>_picks.<ext>                      refined picks, workflow ``refined-<teacher>``
    out_dir/refined/refine.json                             what was decided; written last
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._shared import UnpickInputError, make_picks, picks_zyx
from ._config import PickConfig
from ._names import DEFAULT_TEACHER, parse_selection
from ._record import finished_run
from ._run import PICK_FORMATS, pick_settings, run_pick

logger = logging.getLogger(__name__)

TEACHER_DIR, REFINED_DIR, STATE_DIR, RECORD_FILE = "teacher", "refined", "state", "refine.json"


@dataclasses.dataclass
class RefineRun:
    """What ``refine_tomograms`` made.

    Attributes
    ----------
    out_dir : Path
        The run's folder (layout in the module docstring).
    teacher_workflow : str
        The workflow whose picks taught the model.
    teacher_picks, refined_picks : dict of str to DataFrame
        Per tomogram name, the teacher's and the trained model's picks tables.
    result : unpick.deep.RefineResult
        The training and inference result (model, thresholds, score maps).
    """

    out_dir: Path
    teacher_workflow: str
    teacher_picks: dict[str, pd.DataFrame]
    refined_picks: dict[str, pd.DataFrame]
    result: Any

    @property
    def model_path(self) -> Path:
        return self.out_dir / REFINED_DIR / "model.pt"


def teacher_name(teacher_workflow: str) -> str:
    """The one workflow name (or 'consensus' / 'auto') of ``teacher_workflow``, checked."""
    workflows, combined = parse_selection(teacher_workflow)
    if len(combined) + (0 if combined else len(workflows)) != 1:
        raise UnpickInputError(
            f"--teacher-workflow: expected one workflow name, 'consensus' or 'auto', got {teacher_workflow!r}; "
            f"pick the single set of picks that should teach the deep picker"
        )
    return combined[0] if combined else workflows[0].name


def refine_tomograms(
    tomograms: Sequence[Any],
    out_dir: str | Path,
    *,
    teacher_config: PickConfig,
    teacher_workflow: str = DEFAULT_TEACHER,
    deep_config: Any,
    threshold: float | None = None,
    device: str = "auto",
    formats: tuple[str, ...] = ("csv",),
    resume: bool = False,
    n_jobs: int = 1,
    copick_target: Any = None,
    progress: bool = False,
) -> RefineRun:
    """Bootstrap a deep picker on ``tomograms`` and pick them again with it (``unpick refine``).

    Parameters
    ----------
    tomograms : sequence of unpick.io.Tomogram
        Read with ``read_tomogram``; one voxel size, distinct names.
    out_dir : path
        Output folder (layout in the module docstring); ``refine.json`` there, written last, marks
        a finished run.
    teacher_config : PickConfig
        The teacher's settings; needs a particle radius. Its contaminant switches
        (``exclude_fiducials``, ``exclude_empty_slabs``) also apply to the refined picks.
    teacher_workflow : str
        One workflow name, 'consensus' or 'auto' (default ``DEFAULT_TEACHER``, 'consensus').
    deep_config : unpick.deep.DeepConfig
        The network, loss and training schedule.
    threshold : float, optional
        Peak score threshold (0-1); default: chosen from the teacher's picks.
    device : {'cpu', 'gpu', 'auto'}
        Where the teachers run (CuPy); the network uses ``deep_config.device``.
    formats : tuple of str
        Pick files written per tomogram (``PICK_FORMATS`` keys).
    resume : bool
        Reuse finished teacher runs with the same settings and continue an interrupted training.
    n_jobs : int
        Teachers run at once (joblib processes).
    copick_target : unpick.io.CopickTarget, optional
        Also write the refined picks into this copick project.
    progress : bool
        Progress bars.
    """
    from joblib import Parallel, delayed

    from ..deep import STATE_FILE, refine_picks, save_checkpoint
    from ..io import atomic_write, write_mrc, write_picks

    workflow = teacher_name(teacher_workflow)
    radius_angstrom = teacher_config.particle_radius_angstrom
    if radius_angstrom is None:
        raise UnpickInputError("teacher_config: needs a particle radius (--particle-radius Å) for the deep picker")
    if threshold is not None and not 0 <= threshold <= 1:
        raise UnpickInputError(f"--threshold: expected a probability in [0, 1], got {threshold}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise UnpickInputError(f"--jobs: expected a positive number of processes, got {n_jobs}")
    if not tomograms:
        raise UnpickInputError("tomograms: none given; name tomogram files, a folder of them or a copick project")
    voxel_sizes = [t.voxel_size_angstrom for t in tomograms]
    if max(voxel_sizes) > 1.01 * min(voxel_sizes):
        raise UnpickInputError(
            f"tomograms: voxel sizes differ ({', '.join(f'{v:g}' for v in voxel_sizes)} Å); the picker learns one "
            f"scale, so bin the tomograms to one voxel size first"
        )
    names = [t.name for t in tomograms]
    if len(set(names)) != len(names):
        raise UnpickInputError(f"tomograms: two files share a name ({', '.join(names)}); their outputs would collide")
    out_dir = Path(out_dir)

    level, parent = _console_level(), os.getpid()
    outcomes = Parallel(n_jobs=min(n_jobs, len(tomograms)))(
        delayed(_teacher_in_worker)(tomogram, out_dir, workflow, teacher_config, device, resume, progress, level, parent)
        for tomogram in tomograms
    )
    tables, reused = zip(*outcomes)
    for tomogram, table in zip(tomograms, tables):
        logger.info("%s: %d pseudo-positive picks from %s", tomogram.name, len(table), workflow)

    refined = out_dir / REFINED_DIR
    (refined / RECORD_FILE).unlink(missing_ok=True)  # until this run finishes, its outputs are not complete
    state = refined / STATE_DIR
    if not all(reused):  # without resume, or new pseudo-labels: a saved training state is stale
        for stale in sorted(state.glob(f"round*/{STATE_FILE}")):
            logger.info("starting the training afresh: removing %s", stale)
            stale.unlink()
    voxel = voxel_sizes[0]
    result = refine_picks(
        [t.data for t in tomograms],
        [picks_zyx(table) for table in tables],
        config=deep_config,
        radius_voxels=radius_angstrom / voxel,
        scores=[table["score"].to_numpy(dtype=float) for table in tables],
        voxel_size_angstrom=voxel,
        threshold=threshold,
        keep_fiducials=not teacher_config.exclude_fiducials,
        keep_empty_slabs=not teacher_config.exclude_empty_slabs,
        progress=progress,
        checkpoint_dir=state,
    )
    result.trained.teacher = {"workflow": workflow, "config": json.loads(json.dumps(teacher_config.to_dict()))}
    save_checkpoint(refined / "model.pt", result.trained)
    refined_picks = {}
    for tomogram, coords, scores, score_map in zip(tomograms, result.coords, result.scores, result.score_maps):
        picks = make_picks(
            coords, voxel_size_angstrom=voxel, score=scores, workflow=f"refined-{workflow}", tomogram=tomogram.name
        )
        write_mrc(refined / f"{tomogram.name}_scores.mrc", score_map, voxel_size_angstrom=voxel)
        for fmt in formats:
            write_picks(refined / f"{tomogram.name}_picks{PICK_FORMATS[fmt]}", picks, volume_shape_zyx=tomogram.shape)
        if copick_target is not None:
            copick_target.write(tomogram.name, picks, workflow=f"refined-{workflow}")
        refined_picks[tomogram.name] = picks
    with atomic_write(refined / RECORD_FILE) as tmp:
        tmp.write_text(json.dumps(_record(workflow, tomograms, tables, result), indent=2))
    return RefineRun(out_dir, workflow, dict(zip(names, tables)), refined_picks, result)


def _teacher_picks(
    tomogram: Any, out_dir: Path, workflow: str, config: PickConfig, device: str, resume: bool, progress: bool
) -> tuple[pd.DataFrame, bool]:
    """The teacher's picks table of one tomogram and whether it was reused: run the workflow, or
    with ``resume`` read back the picks of a finished run of this tomogram with the same settings
    (``finished_run``: the same file unchanged, the same settings, its outputs all there)."""
    from ..io import read_picks_csv

    teacher_root = out_dir / TEACHER_DIR
    folder = teacher_root / tomogram.name
    request = dict(workflows=workflow, config=config, voxel_size_angstrom=tomogram.voxel_size_angstrom,
                   formats=("csv",), write_masks=False, report=True)  # fmt: skip
    saved = f"picks/{workflow}.csv"
    if resume:
        record = finished_run(folder, inputs=[tomogram.path], settings=pick_settings(**request))
        if record is not None and saved in record.outputs:
            logger.info("%s: teacher %s finished earlier (%s); reusing its picks", tomogram.name, workflow, folder)
            return read_picks_csv(folder / saved), True
        logger.info("%s: no current teacher run in %s; running the teacher", tomogram.name, folder)
    outcome = run_pick(tomogram.path, teacher_root, device=device, progress=progress, **request)
    picks = outcome.result.picks[workflow]
    if len(picks) == 0:
        raise UnpickInputError(
            f"{tomogram.path}: the teacher {workflow} found no particles, so there is nothing to learn from; "
            f"check --particle-radius or choose another --teacher-workflow"
        )
    return picks, False


def _teacher_in_worker(
    tomogram: Any, out_dir: Path, workflow: str, config: PickConfig, device: str, resume: bool, progress: bool,
    level: int, parent: int,
) -> tuple[pd.DataFrame, bool]:
    """``_teacher_picks``; in a worker process of its own (not the caller's, ``parent``) with no
    log handler, its records reach the console at ``level``, the caller's console level. The
    caller's own logging is never configured here."""
    if os.getpid() != parent and not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return _teacher_picks(tomogram, out_dir, workflow, config, device, resume, progress)


def _console_level() -> int:
    """The lowest level the caller's console shows: the root logger's, raised by its handlers' own."""
    root = logging.getLogger()
    return max(root.getEffectiveLevel(), min((handler.level for handler in root.handlers), default=logging.NOTSET))


def _record(workflow: str, tomograms: Sequence[Any], tables: Sequence[pd.DataFrame], result: Any) -> dict[str, Any]:
    """``refine.json``: the teacher, the chosen peak threshold and its evidence, the priors, the
    threshold and pick counts of each tomogram."""
    trained = result.trained
    return {
        "teacher_workflow": workflow,
        "peak_threshold": None if trained.peak_threshold is None else trained.peak_threshold.to_record(),
        "priors": dataclasses.asdict(trained.priors),
        "final_loss": float(trained.history[-1]["loss"]),
        "self_training_added": result.added_per_round,
        "tomograms": {
            t.name: {"teacher_picks": len(table), "refined_picks": len(coords), "threshold": cut}
            for t, table, coords, cut in zip(tomograms, tables, result.coords, result.thresholds)
        },
    }

