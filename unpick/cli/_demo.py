"""``unpick demo``: simulate a tomogram, run the twelve workflows, score them, draw the report."""

from __future__ import annotations

import argparse

from ._options import (
    add_device_option,
    add_progress_option,
    add_seed_option,
    device_from_args,
    seed_from_args,
    show_progress,
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="see what unpick does in a few minutes: simulate, pick with all workflows, evaluate",
        description=(
            "Simulate a 64x160x160 tomogram (10 Å voxels, 60 particles of five shapes, a membrane, "
            "gold, a missing wedge, noise), run the twelve workflows, score them at 100 Å next to "
            "random and difference-of-Gaussians picks, and write picks, scores.csv/json, "
            "report.png and workflow_scores.png under OUT."
        ),
    )
    parser.add_argument("--out", default="unpick-demo", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("-w", "--workflows", default="all", metavar="NAMES", help="workflows to run (default: all)")
    parser.add_argument(
        "--noise",
        type=float,
        default=1.0,
        metavar="K",
        help="noise std relative to the signal std (default: %(default)s)",
    )
    add_seed_option(parser, what="the simulation and the picking")
    add_device_option(parser, what="the picking (CuPy)")
    add_progress_option(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..workflows import PickConfig
    from ..workflows import DEMO_SIMULATION, run_demo
    from ._pick import summary_table

    seed = seed_from_args(args)
    simulation = DEMO_SIMULATION.replace(noise=args.noise, seed=seed)
    result = run_demo(
        args.out,
        simulation=simulation,
        workflows=args.workflows,
        config=PickConfig(seed=seed),
        device=device_from_args(args),
        progress=show_progress(args),
    )
    print(summary_table(result.pick_run.result.record))
    print()
    print(result.text())
    print()
    for name, path in result.paths.items():
        print(f"{name:<20}{path}")
    return 0
