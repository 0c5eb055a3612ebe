"""``unpick refine``: the whole bootstrap in one command.

An unsupervised workflow picks each tomogram (the teacher), its picks become pseudo-positives
(teacher scores as weights), a PU-trained ResUNet learns from them, and the trained model picks
every tomogram again (score map -> peaks). Output layout under ``--out DIR``::

    DIR/teacher/<name>/picks/<workflow>.csv, job.json   the teacher (``unpick pick`` layout)
    DIR/refined/state/round<r>/training_state.pt        per-epoch training state (resumable)
    DIR/refined/model.pt                                the trained picker (``unpick infer`` reads it)
    DIR/refined/<name>_scores.mrc                       particle-probability map
    DIR/refined/<name>_picks.<ext>                      refined picks, workflow ``refined-<teacher>``
    DIR/refined/refine.json                             what was decided (threshold, priors, counts); written last
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._copick import add_copick_options, copick_inputs, copick_target
from ._options import (
    add_device_option,
    add_formats_option,
    add_progress_option,
    add_seed_option,
    add_voxel_size_option,
    device_from_args,
    format_list,
    show_progress,
)
from ._pick import add_contaminant_options, add_membrane_option, apply_contaminant_options
from ._train import add_tta_option

logger = logging.getLogger(__name__)

TEACHER_DIR, REFINED_DIR, STATE_DIR, RECORD_FILE = "teacher", "refined", "state", "refine.json"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..workflows import DEFAULT_WORKFLOW

    parser = subparsers.add_parser(
        "refine",
        help="bootstrap a deep picker from an unsupervised workflow's picks and re-pick with it",
        description=(
            "Run an unsupervised workflow on each tomogram (the teacher), train a 3-D ResUNet with "
            "positive-unlabelled learning on the teacher's picks (scores as weights), and pick every "
            "tomogram with it. Writes DIR/teacher/<tomogram>/ (as 'unpick pick'), DIR/refined/model.pt, "
            "DIR/refined/<tomogram>_scores.mrc and DIR/refined/<tomogram>_picks.<ext>. With --resume a "
            "finished teacher run with the same settings is reused and an interrupted training continues "
            "from its last epoch (a teacher that runs again restarts the training)."
        ),
    )
    parser.add_argument(
        "tomograms", nargs="*", metavar="TOMO.mrc",
        help="tomogram file(s), MRC/REC or OME-Zarr, or folders of them (a data set: one model for all); or --copick",
    )  # fmt: skip
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N",
        help="teachers run in parallel on N processes (joblib; default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--teacher-workflow", default=DEFAULT_WORKFLOW, metavar="NAME",
        help="the unsupervised workflow whose picks are the pseudo-labels, or 'consensus' / 'auto' "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--teacher-config", metavar="FILE",
        help="a PickConfig YAML/JSON for the teacher (its particle radius is set from --particle-radius)",
    )  # fmt: skip
    parser.add_argument("--particle-radius", type=float, required=True, metavar="Å", help="particle radius in Å")
    parser.add_argument("--config", metavar="FILE", help="a DeepConfig YAML/JSON; options given here override it")
    parser.add_argument(
        "--loss", choices=("nnpu", "gekl", "pn"),
        help="training objective (default pn: best with a teacher's picks of the whole tomogram; gekl for sparse labels)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, metavar="N", help="training epochs")
    parser.add_argument("--iterations", type=int, metavar="N", help="optimiser steps per epoch")
    parser.add_argument(
        "--expected-count", type=float, metavar="N",
        help="expected particles per tomogram, sets the class prior (default: 1.5 x the teacher's picks)",
    )  # fmt: skip
    parser.add_argument(
        "--self-training-rounds", type=int, metavar="N",
        help="rounds adding confident, flip-consistent new peaks to the pseudo-labels (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--threshold", type=float, metavar="P",
        help="minimum peak score (pooled probability, 0-1); default: chosen from the teacher's picks "
        "(the PU criterion recall^2 / share of peaks kept), saved with the model",
    )  # fmt: skip
    add_voxel_size_option(parser)
    add_seed_option(parser, what="the deep picker's training", saved="the --config file")
    add_device_option(parser, what="the teacher (CuPy) and the network (torch)", saved="the --config file")
    add_formats_option(parser)
    add_contaminant_options(parser)
    add_membrane_option(parser)
    add_tta_option(parser)
    parser.add_argument(
        "--resume", action="store_true",
        help="reuse finished teacher runs (same settings) and continue an interrupted training",
    )  # fmt: skip
    add_copick_options(parser)
    add_progress_option(parser)
    parser.set_defaults(run=run)
    return parser


def teacher_config(args: argparse.Namespace, radius_angstrom: float):
    """The teacher's ``PickConfig``: ``--teacher-config`` or the defaults, with the particle
    radius and the contaminant options of the command line."""
    from ..workflows import PickConfig

    config = PickConfig.from_file(args.teacher_config) if args.teacher_config else PickConfig()
    return apply_contaminant_options(config.with_particle_radius(radius_angstrom), args)


def teacher_picks(args: argparse.Namespace, tomogram, workflow: str, radius_angstrom: float):
    """The teacher's picks table of one ``Tomogram`` and whether it was reused: run the workflow,
    or on --resume read back the picks of a finished run (its ``job.json`` exists and records the
    same settings)."""
    import json

    from .._shared import UnpickInputError
    from ..io import read_picks_csv
    from ..workflows import JOB_FILE, run_pick

    config = teacher_config(args, radius_angstrom)
    teacher_root = Path(args.out) / TEACHER_DIR
    done = teacher_root / tomogram.name
    saved = done / "picks" / f"{workflow}.csv"
    if args.resume and (done / JOB_FILE).is_file() and saved.is_file():
        record = json.loads((done / JOB_FILE).read_text())
        if record.get("config") == json.loads(json.dumps(config.to_dict())):
            logger.info("%s: teacher %s finished earlier (%s); reusing its picks", tomogram.name, workflow, saved)
            return read_picks_csv(saved), True
        logger.info("%s: teacher settings changed since %s; running the teacher again", tomogram.name, done / JOB_FILE)
    outcome = run_pick(
        tomogram.path,
        teacher_root,
        workflows=args.teacher_workflow,
        config=config,
        voxel_size_angstrom=args.voxel_size,
        device=device_from_args(args),
        formats=("csv",),
        write_masks=False,
        progress=show_progress(args),
    )
    picks = outcome.result.picks[workflow]
    if len(picks) == 0:
        raise UnpickInputError(
            f"{tomogram.path}: the teacher {workflow} found no particles, so there is nothing to learn from; "
            f"check --particle-radius or choose another --teacher-workflow"
        )
    return picks, False


def _teacher_in_worker(args: argparse.Namespace, tomogram, workflow: str, radius_angstrom: float, level: int):
    """``teacher_picks`` in a joblib worker process, whose log records reach the console at the
    parent's level (a fresh process has no handler)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return teacher_picks(args, tomogram, workflow, radius_angstrom)


def write_record(path: Path, workflow: str, tomograms, tables, result) -> None:
    """``refine.json``: the teacher, the chosen peak threshold and its evidence, the priors, the
    threshold and pick counts of each tomogram. Written last: its presence means the run finished."""
    import dataclasses
    import json

    from ..io import atomic_write

    trained = result.trained
    record = {
        "teacher_workflow": workflow,
        "peak_threshold": None if trained.peak_threshold is None else trained.peak_threshold.to_record(),
        "priors": dataclasses.asdict(trained.priors),
        "final_loss": trained.history[-1]["loss"],
        "self_training_added": result.added_per_round,
        "tomograms": {
            t.name: {"teacher_picks": len(table), "refined_picks": len(coords), "threshold": cut}
            for t, table, coords, cut in zip(tomograms, tables, result.coords, result.thresholds)
        },
    }
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2))


def tomogram_paths(args: argparse.Namespace) -> list[Path]:
    """The tomogram files named on the command line, a folder standing for its MRC/REC files, or
    the tomograms of the copick project of ``--copick``."""
    from ..batch import discover_tomograms

    copick = copick_inputs(args, args.tomograms)
    if copick is not None:
        return [t.path for t in copick]
    paths: list[Path] = []
    for entry in map(Path, args.tomograms):
        if entry.is_dir():
            paths.extend(t.path for t in discover_tomograms(entry, exclude=args.out))
        else:
            paths.append(entry)
    return paths


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from .._shared import UnpickInputError, check_positive, make_picks, picks_zyx
    from ..deep import refine_picks, save_checkpoint
    from ..deep import STATE_FILE
    from ..io import read_tomogram, write_mrc, write_picks
    from ..workflows import PICK_FORMATS, parse_selection
    from ._train import config_from_args

    radius_angstrom = check_positive(args.particle_radius, "--particle-radius", unit="Å")
    workflows, combined = parse_selection(args.teacher_workflow)
    if len(combined) + (0 if combined else len(workflows)) != 1:
        raise UnpickInputError(
            f"--teacher-workflow: expected one workflow name, 'consensus' or 'auto', got {args.teacher_workflow!r}; "
            f"pick the single set of picks that should teach the deep picker"
        )
    workflow = combined[0] if combined else workflows[0].name
    formats = format_list(args.formats)
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UnpickInputError(f"--threshold: expected a probability in [0, 1], got {args.threshold}")
    config = config_from_args(args)
    if args.self_training_rounds is not None:
        config = config.replace(self_training_rounds=args.self_training_rounds)

    if isinstance(args.jobs, bool) or args.jobs < 1:
        raise UnpickInputError(f"--jobs: expected a positive number of processes, got {args.jobs}")
    tomograms = [read_tomogram(path, voxel_size_angstrom=args.voxel_size) for path in tomogram_paths(args)]
    target = copick_target(args)
    voxel_sizes = [t.voxel_size_angstrom for t in tomograms]
    if max(voxel_sizes) > 1.01 * min(voxel_sizes):
        raise UnpickInputError(
            f"tomograms: voxel sizes differ ({', '.join(f'{v:g}' for v in voxel_sizes)} Å); the picker learns one "
            f"scale, so bin the tomograms to one voxel size first"
        )
    names = [t.name for t in tomograms]
    if len(set(names)) != len(names):
        raise UnpickInputError(f"tomograms: two files share a name ({', '.join(names)}); their outputs would collide")
    from joblib import Parallel, delayed

    level = logging.getLogger().getEffectiveLevel()
    outcomes = Parallel(n_jobs=min(args.jobs, len(tomograms)))(
        delayed(_teacher_in_worker)(args, tomogram, workflow, radius_angstrom, level) for tomogram in tomograms
    )
    tables, reused = zip(*outcomes)
    for tomogram, table in zip(tomograms, tables):
        logger.info("%s: %d pseudo-positive picks from %s", tomogram.name, len(table), workflow)

    refined = Path(args.out) / REFINED_DIR
    (refined / RECORD_FILE).unlink(missing_ok=True)  # until this run finishes, its outputs are not complete
    state = refined / STATE_DIR
    if not all(reused):  # without --resume, or new pseudo-labels: a saved training state is stale
        for stale in sorted(state.glob(f"round*/{STATE_FILE}")):
            logger.info("starting the training afresh: removing %s", stale)
            stale.unlink()
    voxel = voxel_sizes[0]
    radius_voxels = radius_angstrom / voxel
    result = refine_picks(
        [t.data for t in tomograms],
        [picks_zyx(table) for table in tables],
        config=config,
        radius_voxels=radius_voxels,
        scores=[table["score"].to_numpy(dtype=float) for table in tables],
        voxel_size_angstrom=voxel,
        threshold=args.threshold,
        keep_fiducials=args.keep_fiducials,
        keep_empty_slabs=args.keep_empty_slabs,
        progress=show_progress(args),
        checkpoint_dir=state,
    )
    result.trained.teacher = {
        "workflow": workflow,
        "config": json.loads(json.dumps(teacher_config(args, radius_angstrom).to_dict())),
    }
    save_checkpoint(refined / "model.pt", result.trained)
    for tomogram, table, coords, scores, score_map in zip(
        tomograms, tables, result.coords, result.scores, result.score_maps
    ):
        picks = make_picks(
            coords, voxel_size_angstrom=voxel, score=scores, workflow=f"refined-{workflow}", tomogram=tomogram.name
        )
        write_mrc(refined / f"{tomogram.name}_scores.mrc", score_map, voxel_size_angstrom=voxel)
        for fmt in formats:
            write_picks(refined / f"{tomogram.name}_picks{PICK_FORMATS[fmt]}", picks, volume_shape_zyx=tomogram.shape)
        if target is not None:
            target.write(tomogram.name, picks, workflow=f"refined-{workflow}")
        print(f"{tomogram.name}: {len(table)} teacher picks -> {len(picks)} refined picks")
    write_record(refined / RECORD_FILE, workflow, tomograms, tables, result)
    final = result.trained.history[-1]
    print(
        f"trained {len(result.trained.history)} epochs ({config.loss}, final loss {final['loss']:.4f}, "
        f"pi_U {result.trained.priors.unlabelled:.3g}); outputs: {refined}"
    )
    return 0 if np.isfinite(final["loss"]) else 1
