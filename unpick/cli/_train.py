"""``unpick train``: tomograms + pseudo-label picks -> a PU-trained ResUNet checkpoint."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._options import add_device_option, add_progress_option, add_seed_option, add_voxel_size_option, show_progress

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train the deep picker on pseudo-label picks (positive-unlabelled learning)",
        description=(
            "Train a 3-D ResUNet with PN, nnPU or GE-KL on pseudo-positive picks (e.g. the output of "
            "'unpick pick'), one picks file per tomogram in the same order. Writes CHECKPOINT.pt "
            "(config, weights, priors, normalisation, the peak threshold chosen on the training tomograms from "
            "the picks, versions); the per-epoch training state goes "
            "to CHECKPOINT.pt.state/ so that --resume can continue or extend a run."
        ),
    )
    parser.add_argument("tomograms", nargs="+", metavar="TOMO.mrc", help="training tomogram file(s), MRC/REC")
    parser.add_argument(
        "--picks", nargs="+", required=True, metavar="PICKS",
        help="pseudo-label picks per tomogram, same order (CSV/TSV/STAR/copick JSON/ndjson; x, y, z in voxels or Å)",
    )  # fmt: skip
    parser.add_argument("--particle-radius", type=float, required=True, metavar="Å", help="particle radius in Å")
    parser.add_argument("--out", required=True, metavar="CHECKPOINT.pt", help="checkpoint file to write")
    parser.add_argument("--config", metavar="FILE", help="a DeepConfig YAML/JSON; options given here override it")
    parser.add_argument("--epochs", type=int, metavar="N", help="training epochs")
    parser.add_argument("--iterations", type=int, metavar="N", help="optimiser steps per epoch")
    parser.add_argument(
        "--loss", choices=("nnpu", "gekl", "pn"),
        help="training objective (default pn: best with a teacher's picks of the whole tomogram; gekl for sparse labels)",
    )  # fmt: skip
    parser.add_argument(
        "--expected-count", type=float, metavar="N",
        help="expected particles per tomogram, sets the class prior (default: 1.5 x the picks per tomogram)",
    )  # fmt: skip
    add_voxel_size_option(parser)
    add_seed_option(parser, what="the training (the same model on the same machine)", saved="the --config file")
    add_device_option(parser, what="the network (torch)", saved="the --config file")
    parser.add_argument("--resume", action="store_true", help="continue from CHECKPOINT.pt.state/ if present")
    add_tta_option(parser)
    parser.add_argument(
        "--no-calibrate", dest="calibrate", action="store_false",
        help="skip predicting the training tomograms to choose the peak threshold from the picks "
        "('unpick infer' then needs --threshold)",
    )  # fmt: skip
    add_progress_option(parser)
    parser.set_defaults(run=run)
    return parser


def add_tta_option(parser: argparse.ArgumentParser) -> None:
    """``--tta``, shared by train, refine and infer."""
    parser.add_argument(
        "--tta", action="store_true",
        help="test-time augmentation: average each score map with that of the flipped tomogram "
        "(twice the inference time; helps a well-trained model a little, hurts a short training)",
    )  # fmt: skip


def state_dir(out: Path) -> Path:
    """Folder holding the per-epoch training state of checkpoint ``out``."""
    return out.with_name(out.name + ".state")


def config_from_args(args: argparse.Namespace):
    from ..deep import DeepConfig

    config = DeepConfig.from_file(args.config) if args.config else DeepConfig()
    changes = {
        "epochs": args.epochs,
        "iterations_per_epoch": args.iterations,
        "loss": args.loss,
        "seed": args.seed,
        "device": args.device,
        "test_time_flips": True if getattr(args, "tta", False) else None,
    }
    if args.expected_count is not None:
        changes.update(expected_count=args.expected_count, prior=None)
    return config.replace(**{k: v for k, v in changes.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._shared import UnpickInputError, check_positive, picks_zyx
    from ..deep import save_checkpoint, train_picker
    from ..deep import STATE_FILE
    from ..io import read_tomogram, read_truth

    radius_angstrom = check_positive(args.particle_radius, "--particle-radius", unit="Å")
    if len(args.picks) != len(args.tomograms):
        raise UnpickInputError(
            f"--picks: expected one picks file per tomogram ({len(args.tomograms)}), got {len(args.picks)}; "
            f"list them in the same order as the tomograms"
        )
    config = config_from_args(args)
    volumes, coords, scores, voxel_sizes = [], [], [], []
    for tomo_path, picks_path in zip(args.tomograms, args.picks):
        tomogram = read_tomogram(tomo_path, voxel_size_angstrom=args.voxel_size)
        table = read_truth(
            picks_path, voxel_size_angstrom=tomogram.voxel_size_angstrom, volume_shape_zyx=tomogram.shape
        )
        volumes.append(tomogram.data)
        coords.append(picks_zyx(table))
        scores.append(table["score"].to_numpy(dtype=float) if "score" in table.columns else None)
        voxel_sizes.append(tomogram.voxel_size_angstrom)
        logger.info("%s: %d pseudo-positive picks from %s", tomogram.name, len(table), picks_path)
    if max(voxel_sizes) > 1.01 * min(voxel_sizes):
        raise UnpickInputError(
            f"tomograms: voxel sizes differ ({', '.join(f'{v:g}' for v in voxel_sizes)} Å); the picker learns one "
            f"scale, so bin the tomograms to one voxel size first"
        )
    out = Path(args.out)
    state = state_dir(out)
    if not args.resume and (state / STATE_FILE).is_file():
        logger.info("starting afresh: removing the previous training state in %s (use --resume to continue it)", state)
        (state / STATE_FILE).unlink()
    trained = train_picker(
        volumes,
        coords,
        config=config,
        radius_voxels=radius_angstrom / voxel_sizes[0],
        scores=None if any(s is None for s in scores) else scores,
        voxel_size_angstrom=voxel_sizes[0],
        progress=show_progress(args),
        checkpoint_dir=state,
    )
    if args.calibrate:
        from ..deep import calibrate_peak_threshold, cleared_score_maps

        calibrate_peak_threshold(trained, cleared_score_maps(trained, volumes), coords)
    save_checkpoint(out, trained)
    final = trained.history[-1]
    print(
        f"trained {len(trained.history)} epochs ({config.loss}, final loss {final['loss']:.4f}, "
        f"pi_U {trained.priors.unlabelled:.3g}); checkpoint: {out}"
    )
    return 0 if np.isfinite(final["loss"]) else 1
