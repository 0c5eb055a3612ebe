"""``--copick`` options shared by pick, batch, refine, infer and evaluate: tomograms from a copick
project instead of files, picks written back into it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_copick_options(parser: argparse.ArgumentParser, *, writes_picks: bool = True) -> None:
    """``--copick CONFIG.json`` with ``--copick-run``, ``--copick-tomogram`` and (where picks are
    written) ``--copick-object`` and ``--copick-session``."""
    group = parser.add_argument_group("copick project (instead of tomogram files)")
    group.add_argument(
        "--copick", metavar="CONFIG.json",
        help="read the tomograms of this copick project" + (" and write the picks into it" if writes_picks else ""),
    )  # fmt: skip
    group.add_argument(
        "--copick-run", action="append", metavar="NAME", help="copick run; repeat for several (default: every run)"
    )
    group.add_argument(
        "--copick-tomogram", metavar="TYPE@SPACING",
        help="copick tomogram type and voxel spacing in Å, e.g. wbp@10 (default: each run's only tomogram)",
    )  # fmt: skip
    group.add_argument(
        "--copick-object", metavar="NAME",
        help="copick pickable object of the picks (default: the project's only particle object)",
    )  # fmt: skip
    if writes_picks:
        group.add_argument(
            "--copick-session", default="0", metavar="ID",
            help="copick session id of the picks written; the user id is unpick-<workflow> (default: %(default)s, "
            "copick's mark of a tool)",
        )  # fmt: skip


def copick_inputs(args: argparse.Namespace, given: list[str] | None):
    """The copick tomograms chosen by ``--copick`` (a list of ``CopickTomogram``), or None when the
    tomograms are the files ``given``; exactly one of the two must be there."""
    from .._shared import UnpickInputError
    from ..io import copick_tomograms

    if args.copick is None:
        stray = [flag for flag in ("copick_run", "copick_tomogram", "copick_object") if getattr(args, flag, None)]
        if stray:
            raise UnpickInputError(f"--{stray[0].replace('_', '-')} needs --copick CONFIG.json (the project)")
        if not given:
            raise UnpickInputError("no tomograms: give tomogram files, or a copick project with --copick CONFIG.json")
        return None
    if given:
        raise UnpickInputError(
            f"give tomogram files or --copick {args.copick}, not both (got {len(given)} file argument(s))"
        )
    return copick_tomograms(args.copick, runs=args.copick_run, tomogram=args.copick_tomogram)


def copick_target(args: argparse.Namespace):
    """Where picks are written (a ``CopickTarget``), or None without ``--copick``."""
    from ..io import CopickTarget, copick_name, copick_object_name

    if args.copick is None:
        return None
    return CopickTarget(
        config=Path(args.copick).resolve(), object_name=copick_object_name(args.copick, args.copick_object),
        session_id=copick_name(args.copick_session),
    )  # fmt: skip
