"""``unpick refine``: the whole bootstrap in one command (``unpick.workflows.refine_tomograms``).

Output layout under ``--out DIR``: DIR/teacher/<name>/ (the teacher, ``unpick pick`` layout),
DIR/refined/model.pt, DIR/refined/<name>_scores.mrc, DIR/refined/<name>_picks.<ext> and
DIR/refined/refine.json, written last.
"""

from __future__ import annotations

import argparse
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


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..workflows import DEFAULT_TEACHER

    parser = subparsers.add_parser(
        "refine",
        help="bootstrap a deep picker from an unsupervised workflow's picks and re-pick with it",
        description=(
            "Run an unsupervised workflow on each tomogram (the teacher), train a 3-D ResUNet with "
            "positive-unlabelled learning on the teacher's picks (scores as weights), and pick every "
            "tomogram with it. Writes DIR/teacher/<tomogram>/ (as 'unpick pick'), DIR/refined/model.pt, "
            "DIR/refined/<tomogram>_scores.mrc and DIR/refined/<tomogram>_picks.<ext>. With --resume a "
            "finished teacher run of the unchanged tomogram with the same settings is reused and an interrupted "
            "training continues from its last epoch (a teacher that runs again restarts the training)."
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
        "--teacher-workflow", default=DEFAULT_TEACHER, metavar="NAME",
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
        help="reuse finished teacher runs (unchanged tomogram, same settings) and continue an interrupted training",
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
    import numpy as np

    from .._shared import check_positive
    from ..io import read_tomogram
    from ..workflows import refine_tomograms, teacher_name
    from ._train import config_from_args

    radius_angstrom = check_positive(args.particle_radius, "--particle-radius", unit="Å")
    teacher_name(args.teacher_workflow)  # a bad name is one clear error before any file is read
    formats = format_list(args.formats)
    config = config_from_args(args)
    if args.self_training_rounds is not None:
        config = config.replace(self_training_rounds=args.self_training_rounds)
    tomograms = [read_tomogram(path, voxel_size_angstrom=args.voxel_size) for path in tomogram_paths(args)]
    run = refine_tomograms(
        tomograms,
        args.out,
        teacher_workflow=args.teacher_workflow,
        teacher_config=teacher_config(args, radius_angstrom),
        deep_config=config,
        threshold=args.threshold,
        device=device_from_args(args),
        formats=formats,
        resume=args.resume,
        n_jobs=args.jobs,
        copick_target=copick_target(args),
        progress=show_progress(args),
    )
    for name, picks in run.refined_picks.items():
        print(f"{name}: {len(run.teacher_picks[name])} teacher picks -> {len(picks)} refined picks")
    trained = run.result.trained
    final = trained.history[-1]
    print(
        f"trained {len(trained.history)} epochs ({config.loss}, final loss {final['loss']:.4f}, "
        f"pi_U {trained.priors.unlabelled:.3g}); outputs: {run.model_path.parent}"
    )
    return 0 if np.isfinite(final["loss"]) else 1
