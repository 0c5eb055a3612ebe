"""``unpick report``: a PNG of orthogonal slabs with the picks circled (and scored against truth)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._options import add_voxel_size_option

logger = logging.getLogger(__name__)

DEFAULT_RADIUS_ANGSTROM = 100.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="draw a PNG report of picks on a tomogram",
        description=(
            "Draw XY, XZ and YZ slabs (mean over a slab about as thick as the particle radius) through "
            "the tomogram centre with a circle on every pick whose centre lies in the slab, a score "
            "histogram and a summary. With --truth, picks are matched one-to-one to the truth within "
            "--match-radius: matched picks are green, unmatched picks orange, missed truth cyan."
        ),
    )
    parser.add_argument("tomogram", metavar="TOMO.mrc", help="tomogram (MRC)")
    parser.add_argument(
        "--picks",
        required=True,
        metavar="PICKS.csv",
        help="picks: CSV/TSV (x/y/z in voxels or Å), RELION STAR, copick JSON or ndjson",
    )
    parser.add_argument("--truth", metavar="TRUTH.csv", help="ground truth, same formats as --picks")
    add_voxel_size_option(parser)
    parser.add_argument(
        "--radius",
        type=float,
        default=DEFAULT_RADIUS_ANGSTROM,
        metavar="Å",
        help=f"particle radius in Å: circle size and slab thickness (default {DEFAULT_RADIUS_ANGSTROM:g})",
    )
    parser.add_argument(
        "--match-radius",
        type=float,
        metavar="Å",
        help="largest pick-to-truth distance in Å counted as a match (default: --radius)",
    )
    parser.add_argument(
        "--workflow", metavar="NAME", help="draw only the picks of this workflow (picks 'workflow' column)"
    )
    parser.add_argument(
        "--out", metavar="OUT.png", help="output PNG (default: PICKS_report.png next to the picks)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._shared import UnpickInputError, check_positive, picks_zyx
    from ..io import atomic_write, read_tomogram, read_truth
    from ..report import plot_picks_report

    radius_angstrom = check_positive(args.radius, "--radius", unit="Å")
    match_angstrom = (
        radius_angstrom
        if args.match_radius is None
        else check_positive(args.match_radius, "--match-radius", unit="Å")
    )
    tomogram = read_tomogram(args.tomogram, voxel_size_angstrom=args.voxel_size)
    voxel = tomogram.voxel_size_angstrom
    shape = tomogram.shape
    picks = read_truth(args.picks, voxel_size_angstrom=voxel, volume_shape_zyx=shape)
    if args.workflow is not None:
        if "workflow" not in picks.columns or not (picks["workflow"] == args.workflow).any():
            found = sorted(map(str, picks["workflow"].unique())) if "workflow" in picks.columns else []
            raise UnpickInputError(
                f"--workflow: no picks of workflow {args.workflow!r} in {args.picks}; "
                f"it holds {', '.join(found) if found else 'no workflow column'}"
            )
        picks = picks[picks["workflow"] == args.workflow]
    pred = picks_zyx(picks)
    scores = None
    if "score" in picks.columns and picks["score"].notna().all():
        scores = picks["score"].to_numpy(dtype=float)

    truth = matched_pred = matched_truth = None
    if args.truth is not None:
        from ..evaluate import match_points

        truth = picks_zyx(read_truth(args.truth, voxel_size_angstrom=voxel, volume_shape_zyx=shape))
        matching = match_points(pred, truth, radius_voxels=match_angstrom / voxel)
        matched_pred = np.zeros(len(pred), dtype=bool)
        matched_pred[matching.pred_index] = True
        matched_truth = np.zeros(len(truth), dtype=bool)
        matched_truth[matching.truth_index] = True

    out = Path(args.out) if args.out else Path(args.picks).with_name(f"{Path(args.picks).stem}_report.png")
    title = f"{tomogram.name}: {Path(args.picks).name}" + (f" [{args.workflow}]" if args.workflow else "")
    with atomic_write(out) as tmp:
        plot_picks_report(
            tomogram.data,
            pred,
            radius_voxels=radius_angstrom / voxel,
            path=tmp,
            scores=scores,
            truth_zyx=truth,
            matched_pred=matched_pred,
            matched_truth=matched_truth,
            title=title,
        )
    logger.info(
        "wrote %s (%d picks%s)", out, len(pred), "" if truth is None else f", {len(truth)} truth points"
    )
    return 0
