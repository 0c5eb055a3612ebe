"""``unpick evaluate``: score pick files against ground truth, next to random and DoG baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._shared import UnpickInputError
from ._copick import add_copick_options, copick_inputs
from ._options import add_seed_option, add_voxel_size_option, seed_from_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="score picks against ground truth (P/R/F1, F-beta, AP, relative recall, per class)",
        description=(
            "Score one or more pick files (CSV/TSV/STAR/copick JSON/ndjson) or pick-run folders (the "
            "RUN/picks/<workflow>.csv files RUN/job.json lists) against ground truth with one-to-one matching. With "
            "--tomogram, random and difference-of-Gaussians baselines are added and relative "
            "recall is computed. Prints a table sorted by F1 (by relative recall with --classes) "
            "and a one-line verdict; --out writes PREFIX.csv and PREFIX.json."
        ),
    )
    parser.add_argument(
        "picks", nargs="*", metavar="PICKS",
        help="pick files, or pick-run folders (the picks/*.csv their job.json lists; or --copick)",
    )
    parser.add_argument(
        "--truth", metavar="FILE", help="ground truth (CSV/TSV/STAR/copick JSON/ndjson), x/y/z (or --copick-truth-user)"
    )
    parser.add_argument(
        "--truth-voxel-size", type=float, metavar="Å",
        help="voxel size the truth's voxel coordinates refer to when not the tomogram's (a CZ portal ndjson at its "
        "annotation's voxel spacing, an unbinned tomogram's picks): they are rescaled",
    )  # fmt: skip
    parser.add_argument(
        "--tomogram",
        metavar="TOMO.mrc",
        help="the tomogram: region shape for relative recall and input of the baselines",
    )
    add_voxel_size_option(parser, extra="; without --tomogram, the picks' voxel_size_angstrom column")
    radius = parser.add_mutually_exclusive_group()
    radius.add_argument(
        "--match-radius",
        type=float,
        metavar="Å",
        help="match radius in Å (default: 100 Å, PickET's simulated-data setting)",
    )
    radius.add_argument(
        "--match-radius-fraction",
        type=float,
        metavar="F",
        help="match radius as a fraction of each truth particle's radius_angstrom",
    )
    parser.add_argument(
        "--beta", type=float, default=1.0, metavar="B", help="F-beta weight, > 1 favours recall (default: %(default)s)"
    )
    parser.add_argument(
        "--metric", choices=("f1", "czii"), default="f1",
        help="f1 (default), or czii: the CZII challenge's F-beta with beta 4, a pick matching a particle within "
        "half its radius (truth radius_angstrom, else --particle-radius), one-to-one and over all classes; the "
        "table is sorted by it",
    )  # fmt: skip
    parser.add_argument(
        "--classes", metavar="A,B", help="score only these truth classes (incomplete annotation: read relative recall)"
    )
    parser.add_argument(
        "--z-slab",
        type=int,
        nargs=2,
        metavar=("Z0", "Z1"),
        help="evaluate slices [Z0, Z1) only (half-open; needs --tomogram)",
    )
    parser.add_argument(
        "--particle-radius",
        type=float,
        metavar="Å",
        help="particle radius in Å for the DoG baseline's widths (default: σ 3 and 6 voxels)",
    )
    parser.add_argument(
        "--random-draws",
        type=int,
        default=20,
        metavar="N",
        help="random draws averaged for relative recall (default: %(default)s)",
    )
    add_seed_option(parser, what="the random baseline and draws")
    parser.add_argument("--out", metavar="PREFIX", help="write PREFIX.csv and PREFIX.json")
    add_copick_options(parser, writes_picks=False)
    parser.add_argument(
        "--copick-truth-user", metavar="USER",
        help="copick: the user id whose picks of --copick-object are the ground truth; every unpick-<workflow> "
        "picks set of the run is scored against them",
    )  # fmt: skip
    parser.add_argument("--copick-truth-session", metavar="ID", help="copick: session id of the ground truth (default: any)")
    parser.add_argument(
        "--copick-session", default="0", metavar="ID", help="copick: session id of unpick's picks (default: %(default)s)"
    )
    parser.set_defaults(run=run)
    return parser


def pick_files(paths: list[str]) -> dict[str, Path]:
    """Map workflow name (file stem) to file, expanding pick-run folders to the picks CSVs their
    ``job.json`` lists (``run_picks``)."""
    files: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = run_picks(path)
        elif path.is_file():
            found = [path]
        else:
            raise UnpickInputError(f"{path}: no such pick file or folder; check the path")
        for file in found:
            if file.stem in files:
                raise UnpickInputError(
                    f"{file}: workflow name {file.stem!r} also comes from {files[file.stem]}; rename one of them"
                )
            files[file.stem] = file
    return files


def run_picks(folder: Path) -> list[Path]:
    """The ``picks/<workflow>.csv`` files the run record of ``folder`` lists as its outputs: only
    the current run's picks, never files an earlier run left there."""
    from ..workflows import JOB_FILE, RunRecord

    if not (folder / JOB_FILE).is_file():
        raise UnpickInputError(
            f"{folder}: no {JOB_FILE} inside, so not a finished pick-run folder (RUN/{JOB_FILE} listing "
            f"RUN/picks/<workflow>.csv); pass its pick files, or run unpick pick again to finish it"
        )
    record = RunRecord.from_json(folder / JOB_FILE)
    found = [folder / name for name in record.outputs if name.startswith("picks/") and name.endswith(".csv")]
    if not found:
        raise UnpickInputError(
            f"{folder / JOB_FILE}: lists no picks/*.csv among its outputs; pass its pick files, or pick "
            f"again with --formats csv"
        )
    return found


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import evaluate, io
    from ..workflows import write_evaluation

    seed = seed_from_args(args)  # a bad --seed is one clear error before any file is read
    apply_metric(args)
    copick = copick_inputs(args, args.picks)
    if copick is not None:
        return run_copick(args, copick, seed)
    if args.truth is None:
        raise UnpickInputError("--truth: the ground-truth file is required (or --copick with --copick-truth-user)")
    if args.z_slab is not None and not args.tomogram:
        raise UnpickInputError("--z-slab needs --tomogram (the tomogram shape bounds the slab)")
    files = pick_files(args.picks)
    tomogram = io.read_tomogram(args.tomogram, voxel_size_angstrom=args.voxel_size) if args.tomogram else None
    shape = tomogram.shape if tomogram is not None else None
    if tomogram is not None:
        clash = sorted(set(files) & set(evaluate.BASELINE_NAMES))
        if clash:
            raise UnpickInputError(
                f"picks named {', '.join(clash)} clash with the baselines added by --tomogram; rename those files"
            )
    voxel = args.voxel_size if tomogram is None else tomogram.voxel_size_angstrom
    picks = {
        name: io.read_truth(path, voxel_size_angstrom=voxel, volume_shape_zyx=shape) for name, path in files.items()
    }
    if voxel is None:
        voxel = _voxel_size_from_picks(picks)
    name = tomogram.name if tomogram is not None else _tomogram_of_picks(picks)
    truth = io.read_truth(
        args.truth, voxel_size_angstrom=voxel, volume_shape_zyx=shape, tomogram=name,
        coordinates_voxel_size_angstrom=args.truth_voxel_size,
    )  # fmt: skip
    if len(truth) == 0:
        raise UnpickInputError(f"{args.truth}: holds no points; a ground truth needs at least one particle")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if tomogram is not None:
        n_random = int(round(float(np.median([len(p) for p in picks.values()]))))
        picks.update(
            evaluate.baseline_picks(
                tomogram.data,
                n_random=n_random,
                voxel_size_angstrom=voxel,
                particle_radius_angstrom=args.particle_radius,
                rng=seed,
                z_range=args.z_slab,
            )
        )
    table = evaluate.evaluate_workflows(
        picks, truth, voxel_size_angstrom=voxel, match_radius_angstrom=args.match_radius,
        match_radius_fraction=args.match_radius_fraction, volume_shape_zyx=shape, z_range=args.z_slab,
        classes=classes, beta=args.beta, n_random_draws=args.random_draws, rng=seed,
    )  # fmt: skip
    metric = "relative_recall" if classes and tomogram is not None else "fbeta" if args.metric == "czii" else "f1"
    line = evaluate.verdict(table, metric=metric)
    print(evaluate.format_table(table, sort_by=metric))
    if tomogram is None:
        print("(no --tomogram: no baselines, no relative recall)")
    print(line)
    if args.out:
        settings = {
            "truth": str(args.truth), "tomogram": args.tomogram, "voxel_size_angstrom": voxel,
            "match_radius_angstrom": args.match_radius, "match_radius_fraction": args.match_radius_fraction,
            "default_match_radius_angstrom": evaluate.DEFAULT_MATCH_RADIUS_ANGSTROM, "beta": args.beta,
            "classes": classes, "z_slab": args.z_slab, "random_draws": args.random_draws, "seed": seed,
            "picks": {name: str(path) for name, path in files.items()},
        }  # fmt: skip
        csv_path, json_path = write_evaluation(
            table, args.out, report={"settings": settings, "sorted_by": metric, "verdict": line}
        )
        print(f"wrote {csv_path} and {json_path}")
    return 0


#: The CZII CryoET Object Identification challenge's F-beta (beta 4) and hit radius (half the particle radius);
#: here class-agnostic and one-to-one (the scorer itself, per class and weighted: unpick.evaluate.czii_score).
CZII_BETA, CZII_RADIUS_FRACTION = 4.0, 0.5


def apply_metric(args: argparse.Namespace) -> None:
    """``--metric czii`` sets beta 4 and matching within half the particle radius (from the
    truth's ``radius_angstrom``, else ``--particle-radius``); a clashing --beta/--match-radius is an error."""
    if args.metric != "czii":
        return
    if args.beta != 1.0 or args.match_radius is not None or args.match_radius_fraction is not None:
        raise UnpickInputError("--metric czii sets beta 4 and the match radius itself; drop --beta and --match-radius*")
    args.beta = CZII_BETA
    if args.particle_radius is not None:
        args.match_radius = CZII_RADIUS_FRACTION * args.particle_radius
    else:
        args.match_radius_fraction = CZII_RADIUS_FRACTION


def run_copick(args: argparse.Namespace, tomograms, seed: int) -> int:
    """Score every ``unpick-<workflow>`` picks set of each chosen copick run against the picks of
    ``--copick-truth-user`` (one table per run; ``--out`` gets all of them with a ``run`` column)."""
    import pandas as pd

    from .. import evaluate, io
    from ..workflows import write_evaluation

    if args.copick_truth_user is None:
        raise UnpickInputError("--copick-truth-user: name the copick user whose picks are the ground truth")
    unused = [flag for flag in ("truth", "tomogram", "z_slab", "classes") if getattr(args, flag) is not None]
    if unused:
        raise UnpickInputError(f"--{unused[0].replace('_', '-')} does not apply with --copick (truth and tomogram come from the project)")
    object_name = io.copick_object_name(args.copick, args.copick_object)
    tables = []
    for item in tomograms:
        users = io.unpick_picks_sets(args.copick, item.run, object_name=object_name, session_id=args.copick_session)
        if not users:
            raise UnpickInputError(
                f"{args.copick}: run {item.run!r} has no unpick picks of {object_name!r} in session {args.copick_session}; "
                f"write them first with unpick pick --copick {args.copick}"
            )
        read = dict(config=args.copick, run=item.run, object_name=object_name, voxel_size_angstrom=item.voxel_size_angstrom)
        truth = io.read_copick_picks(**read, user_id=args.copick_truth_user, session_id=args.copick_truth_session)
        picks = {
            workflow: io.read_copick_picks(**read, user_id=user, session_id=args.copick_session)
            for workflow, user in users.items()
        }
        shape = io.read_tomogram(item.path).shape
        table = evaluate.evaluate_workflows(
            picks, truth, voxel_size_angstrom=item.voxel_size_angstrom, match_radius_angstrom=args.match_radius,
            match_radius_fraction=args.match_radius_fraction, volume_shape_zyx=shape, beta=args.beta,
            n_random_draws=args.random_draws, rng=seed,
        )  # fmt: skip
        print(f"copick run {item.run} ({item.tomo_type}@{item.voxel_size_angstrom:g} Å), truth {args.copick_truth_user}:")
        metric = "fbeta" if args.metric == "czii" else "f1"
        print(evaluate.format_table(table, sort_by=metric))
        print(evaluate.verdict(table, metric=metric))
        tables.append(table.assign(run=item.run))
    if args.out:
        settings = {
            "copick": str(args.copick), "object": object_name, "truth_user": args.copick_truth_user,
            "truth_session": args.copick_truth_session, "session": args.copick_session,
            "runs": [t.run for t in tomograms], "match_radius_angstrom": args.match_radius,
            "match_radius_fraction": args.match_radius_fraction, "beta": args.beta,
        }  # fmt: skip
        csv_path, json_path = write_evaluation(
            pd.concat(tables), args.out, report={"settings": settings, "sorted_by": "f1"}
        )
        print(f"wrote {csv_path} and {json_path}")
    return 0


def _tomogram_of_picks(picks: dict) -> str | None:
    """The one tomogram the picks tables name (their ``tomogram`` column), else None."""
    names = {
        str(n) for table in picks.values() if "tomogram" in table.columns for n in table["tomogram"].dropna().unique()
    } - {""}
    return names.pop() if len(names) == 1 else None


def _voxel_size_from_picks(picks: dict) -> float:
    """The single voxel size recorded in the picks tables' ``voxel_size_angstrom`` columns."""
    values = {
        float(v) for table in picks.values() if "voxel_size_angstrom" in table.columns
        for v in table["voxel_size_angstrom"].dropna().unique()
    }  # fmt: skip
    if len(values) != 1:
        found = ", ".join(f"{v:g}" for v in sorted(values)) or "none"
        raise UnpickInputError(f"voxel size: the picks files record {found}; give --voxel-size (Å) or --tomogram")
    return values.pop()
