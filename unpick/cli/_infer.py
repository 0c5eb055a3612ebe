"""``unpick infer``: a trained checkpoint + tomograms -> score maps and picks."""

from __future__ import annotations

import argparse
import logging

from ._copick import add_copick_options, copick_inputs, copick_target
from ._options import add_device_option, add_formats_option, add_voxel_size_option, device_from_args, format_list
from ._pick import add_contaminant_options, check_distinct_names
from ._train import add_tta_option

logger = logging.getLogger(__name__)

THRESHOLD_SOURCES = ("teacher", "training")
RECORD_FILE = "infer.json"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "infer",
        help="pick tomograms with a trained deep-picker checkpoint",
        description=(
            "Predict a particle-probability map of each tomogram (overlap-tile, blended seams), find "
            "its peaks (mean-pool + max-pool NMS, de-duplication within the particle radius, score "
            "threshold; none on gold fiducials or in empty slabs) and write OUT_DIR/<tomogram>_scores.mrc "
            "and OUT_DIR/<tomogram>_picks.<ext>; OUT_DIR/infer.json, written last, records each "
            "tomogram's threshold and how it was chosen."
        ),
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT.pt", help="checkpoint written by 'unpick train'")
    parser.add_argument(
        "tomograms", nargs="*", metavar="TOMO.mrc", help="tomogram file(s): MRC/REC or OME-Zarr (or --copick)"
    )
    parser.add_argument(
        "--out", "--out-dir", dest="out_dir", required=True, metavar="DIR", help="output folder (--out-dir: the older name)"
    )
    parser.add_argument(
        "--threshold", type=float, metavar="P",
        help="minimum peak score (pooled probability, 0-1); default: the threshold the checkpoint chose on "
        "its training tomograms from its pseudo-labels (else Otsu on the log peak scores)",
    )  # fmt: skip
    parser.add_argument(
        "--threshold-from", choices=THRESHOLD_SOURCES,
        help="without --threshold, how each tomogram's threshold is chosen: 'teacher' runs the checkpoint's "
        "teacher workflow on the tomogram and applies the PU criterion to its picks, as 'unpick refine' did on "
        "its training tomograms; 'training' carries the training tomograms' threshold, relative to the median "
        "score of the peaks it keeps (no teacher run: faster, less exact on tomograms unlike the training ones). "
        "Default: teacher when the checkpoint records one (saved by 'unpick refine'), else training",
    )  # fmt: skip
    parser.add_argument(
        "--tile", type=int, metavar="VOXELS", help="tile edge in voxels, a multiple of 8 (default: checkpoint's)"
    )
    parser.add_argument("--overlap", type=int, metavar="VOXELS", help="tile overlap in voxels (default: checkpoint's)")
    parser.add_argument(
        "--batch", type=int, default=4, metavar="N", help="tiles per forward pass (default: %(default)s)"
    )
    parser.add_argument(
        "--particle-radius", type=float, metavar="Å",
        help="particle radius in Å for peak de-duplication (default: the training radius)",
    )  # fmt: skip
    add_voxel_size_option(parser)
    add_device_option(parser, what="the network (torch) and the teacher (CuPy)", saved="the checkpoint")
    add_formats_option(parser)
    add_contaminant_options(parser)
    add_tta_option(parser)
    parser.add_argument("--no-score-map", action="store_true", help="do not write the score map MRC")
    add_copick_options(parser)
    parser.set_defaults(run=run)
    return parser


def threshold_source(args: argparse.Namespace, trained) -> str:
    """'fixed' (--threshold or the checkpoint's fixed threshold), 'teacher' or 'training'."""
    from .._shared import UnpickInputError

    if args.threshold is not None or trained.config.peak_threshold is not None:
        return "fixed"
    if args.threshold_from == "teacher" and trained.teacher is None:
        raise UnpickInputError(
            f"--threshold-from teacher: {args.checkpoint} records no teacher workflow (it was trained by "
            f"'unpick train' on given picks); use --threshold-from training or --threshold"
        )
    if args.threshold_from is not None:
        return args.threshold_from
    return "teacher" if trained.teacher is not None else "training"


def teacher_zyx(args: argparse.Namespace, trained, tomogram, radius_angstrom: float | None):
    """The checkpoint's teacher workflow run on ``tomogram`` (same settings as in training, the
    radius of --particle-radius when given): its picks, (N, 3) zyx voxels."""
    from .._shared import picks_zyx
    from ..workflows import PickConfig, pick_tomogram
    from ._pick import apply_contaminant_options

    workflow = trained.teacher["workflow"]
    config = PickConfig.from_dict(trained.teacher["config"])
    if radius_angstrom is not None:
        config = config.with_particle_radius(radius_angstrom)
    result = pick_tomogram(
        tomogram.data,
        voxel_size_angstrom=tomogram.voxel_size_angstrom,
        workflows=workflow,
        config=apply_contaminant_options(config, args),
        tomogram=tomogram.name,
        device=device_from_args(args),
    )
    picks = result.picks[workflow]
    logger.info("%s: teacher %s picked %d particles to choose the threshold from", tomogram.name, workflow, len(picks))
    return picks_zyx(picks)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from .._shared import UnpickInputError, check_positive, make_picks
    from ..deep import clear_contaminants, load_checkpoint, peaks_at_threshold, predict_score_map
    from ..io import atomic_write, read_tomogram, write_mrc, write_picks
    from ..workflows import PICK_FORMATS

    formats = format_list(args.formats)
    copick = copick_inputs(args, args.tomograms)
    paths = [t.path for t in copick] if copick is not None else args.tomograms
    check_distinct_names(paths)
    target = copick_target(args)
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UnpickInputError(f"--threshold: expected a probability in [0, 1], got {args.threshold}")
    radius_angstrom = None
    if args.particle_radius is not None:
        radius_angstrom = check_positive(args.particle_radius, "--particle-radius", unit="Å")
    trained = load_checkpoint(args.checkpoint, device=args.device)
    source = threshold_source(args, trained)
    if source == "training" and trained.peak_threshold is not None:
        logger.info("%s: %s (chosen on its training tomograms)", args.checkpoint, trained.peak_threshold.reason)
    elif source == "training":
        logger.warning(
            "%s carries no peak threshold (saved by an older unpick); Otsu on the log peak scores decides, which "
            "over-picks: give --threshold or retrain", args.checkpoint,
        )  # fmt: skip
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RECORD_FILE).unlink(missing_ok=True)  # until this run finishes, its outputs are not complete
    record: dict[str, dict] = {}
    for path in paths:
        tomogram = read_tomogram(path, voxel_size_angstrom=args.voxel_size)
        voxel = tomogram.voxel_size_angstrom
        if radius_angstrom is not None:
            radius = radius_angstrom / voxel
        elif trained.voxel_size_angstrom:
            radius = trained.radius_voxels * trained.voxel_size_angstrom / voxel
        else:
            radius = trained.radius_voxels
        if trained.voxel_size_angstrom and abs(voxel / trained.voxel_size_angstrom - 1) > 0.05:
            logger.warning(
                "%s: voxel size %g Å differs from the training voxel size %g Å; particles look larger or "
                "smaller than the model learnt (bin the tomogram to match)",
                tomogram.name, voxel, trained.voxel_size_angstrom,
            )  # fmt: skip
        flips = True if args.tta else None  # None: as the checkpoint was calibrated
        score_map = predict_score_map(
            trained, tomogram.data, tile=args.tile, overlap=args.overlap, batch=args.batch, flips=flips
        )
        clear_contaminants(
            tomogram.data, score_map, radius_voxels=radius, fiducials=not args.keep_fiducials,
            empty_slabs=not args.keep_empty_slabs, name=tomogram.name,
        )  # fmt: skip
        teacher = teacher_zyx(args, trained, tomogram, radius_angstrom) if source == "teacher" else None
        coords, scores, cut = peaks_at_threshold(
            trained, score_map, radius_voxels=radius, threshold=args.threshold, pseudo_positives=teacher
        )
        logger.info("%s: peak threshold %.3g (%s)", tomogram.name, cut, source)
        picks = make_picks(coords, voxel_size_angstrom=voxel, score=scores, workflow="deep", tomogram=tomogram.name)
        if not args.no_score_map:
            write_mrc(out_dir / f"{tomogram.name}_scores.mrc", score_map, voxel_size_angstrom=voxel)
        for fmt in formats:
            write_picks(out_dir / f"{tomogram.name}_picks{PICK_FORMATS[fmt]}", picks, volume_shape_zyx=tomogram.shape)
        if target is not None:
            target.write(tomogram.name, picks, workflow="deep")
        record[tomogram.name] = {
            "threshold": cut,
            "threshold_from": source,
            "teacher_picks": None if teacher is None else len(teacher),
            "picks": len(picks),
        }
        print(f"{tomogram.name}: {len(picks)} picks -> {out_dir}")
    with atomic_write(out_dir / RECORD_FILE) as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(args.checkpoint), "tomograms": record}, indent=2))
    return 0
