"""``unpick pick``: run unsupervised workflows on tomogram files."""

from __future__ import annotations

import argparse

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


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pick",
        help="pick particles with any of the twelve unsupervised workflows",
        description=(
            "Pick particles in MRC tomograms. Writes OUT/<tomogram>/picks/<workflow>.csv (x, y, z in "
            "voxels plus Å columns), masks/<features>-<clusterer>.mrc and job.json (all parameters, "
            "decisions and timings; written last)."
        ),
    )
    parser.add_argument(
        "tomograms", nargs="*", metavar="TOMO.mrc", help="tomogram file(s): MRC/REC or OME-Zarr (or --copick)"
    )
    add_pick_options(parser)
    add_copick_options(parser)
    add_progress_option(parser)
    parser.add_argument("--out", default="unpick-picks", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--name", metavar="NAME",
        help="tomogram name (output folder, rlnTomoName) instead of the file stem; one tomogram only",
    )  # fmt: skip
    parser.set_defaults(run=run)
    return parser


def add_pick_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``pick``, ``batch`` and ``demo``."""
    from ..workflows import DEFAULT_WORKFLOW, WORKFLOW_NAMES

    parser.add_argument(
        "-w",
        "--workflows",
        metavar="NAMES",
        help=f"'all', 'consensus' (picks at least half of the workflows agree on), 'auto' (the workflow that "
        f"agrees best with the consensus), or comma-separated names from: {', '.join(WORKFLOW_NAMES)} "
        f"(default: {DEFAULT_WORKFLOW}, or the workflows of the job.json given to --config)",
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="a PickConfig YAML/JSON, or a run's job.json to replay it (its parameters and workflows); options "
        "given here override it",
    )  # fmt: skip
    add_voxel_size_option(parser, extra="; for OME-Zarr, the level to read")
    parser.add_argument(
        "--particle-radius",
        type=float,
        metavar="Å",
        help="expected particle radius in Å: sets size filters and watershed spacing",
    )
    parser.add_argument("--blur-sigma", type=float, metavar="VOXELS", help="Gaussian blur before features, in voxels")
    parser.add_argument(
        "--fit-z-slab", type=int, nargs=2, metavar=("Z0", "Z1"), help="fit on slices [Z0, Z1) only (half-open)"
    )
    parser.add_argument(
        "--pick-z-slab", type=int, nargs=2, metavar=("Z0", "Z1"), help="pick in slices [Z0, Z1) only (half-open)"
    )
    parser.add_argument("--sample-voxels", type=int, metavar="N", help="voxels sampled to fit each clusterer")
    parser.add_argument(
        "--particle-cluster",
        choices=("auto", "smaller", "darker", "brighter", "0", "1"),
        help="which of the two clusters is particle (default auto: logged and recorded in job.json)",
    )
    add_seed_option(parser, what="the voxel samples and the clusterers' starts", saved="the --config file")
    add_device_option(parser, what="the features and clustering (CuPy)")
    add_formats_option(parser)
    add_contaminant_options(parser)
    add_membrane_option(parser)
    parser.add_argument("--no-masks", action="store_true", help="do not write the semantic masks")
    parser.add_argument("--no-report", action="store_true", help="do not draw report.png")


def add_contaminant_options(parser: argparse.ArgumentParser) -> None:
    """``--keep-fiducials`` and ``--keep-empty-slabs``, shared by pick, refine and infer."""
    parser.add_argument(
        "--keep-fiducials",
        action="store_true",
        help="do not exclude gold fiducials (extreme-density beads and their streaks) from picking",
    )
    parser.add_argument(
        "--keep-empty-slabs",
        action="store_true",
        help="fit and pick in the whole depth, also in empty slabs found above and below the specimen",
    )


def add_membrane_option(parser: argparse.ArgumentParser) -> None:
    """``--keep-membranes``, shared by pick and refine (the workflows clear membranes; the deep picker
    learns from its teacher that they are not particles)."""
    parser.add_argument(
        "--keep-membranes",
        action="store_true",
        help="do not clear sheet-like voxels (lipid membranes) from the particle masks",
    )


def apply_contaminant_options(config, args: argparse.Namespace):
    """``config`` with the --keep-fiducials / --keep-empty-slabs / --keep-membranes switches applied."""
    for flag, field in (
        ("keep_fiducials", "exclude_fiducials"),
        ("keep_empty_slabs", "exclude_empty_slabs"),
        ("keep_membranes", "exclude_membranes"),
    ):
        if getattr(args, flag, False):
            config = config.replace(**{field: False})
    return config


def replayed_run(path: str | None) -> dict | None:
    """The settings of the pick run whose ``job.json`` is ``path`` (a :class:`RunRecord` with
    ``workflows`` and ``config``), to replay; None when ``path`` is no such record (a PickConfig
    file, which ``PickConfig.from_file`` reads or reports, or no ``--config`` at all)."""
    from pathlib import Path

    from .._shared import UnpickInputError
    from ..workflows import RunRecord

    if path is None or Path(path).suffix.lower() != ".json":
        return None
    try:
        record = RunRecord.from_json(path)
    except UnpickInputError:
        return None
    replay = record.settings or record.decisions  # a schema-0 job.json has them among its decisions only
    is_pick = record.kind == "pick" and isinstance(replay.get("config"), dict) and "workflows" in replay
    return replay if is_pick else None


def workflows_from_args(args: argparse.Namespace) -> str:
    """``-w``, else the workflows of the job.json given to ``--config``, else the default."""
    from ..workflows import DEFAULT_WORKFLOW

    if args.workflows is not None:
        return args.workflows
    replay = replayed_run(args.config)
    return ",".join(replay["workflows"]) if replay else DEFAULT_WORKFLOW


def config_from_args(args: argparse.Namespace):
    """A PickConfig from ``--config`` (a PickConfig file, or a run's job.json replayed), else the
    defaults, with the command-line overrides applied."""
    from ..workflows import PickConfig

    replay = replayed_run(args.config)
    if replay is not None:
        config = PickConfig.from_dict(replay["config"])
    else:
        config = PickConfig.from_file(args.config) if args.config else PickConfig()
    if args.particle_radius is not None:
        config = config.with_particle_radius(args.particle_radius)
    if args.blur_sigma is not None:
        config = config.replace(preprocess=config.preprocess.replace(blur_sigma=args.blur_sigma))
    if args.fit_z_slab is not None:
        config = config.replace(fit_z_range=tuple(args.fit_z_slab))
    if args.pick_z_slab is not None:
        config = config.replace(pick_z_range=tuple(args.pick_z_slab))
    for method in ("kmeans", "gmm"):
        cluster = config.cluster_config(method)
        if args.sample_voxels is not None:
            cluster = cluster.replace(sample_voxels=args.sample_voxels)
        if args.particle_cluster is not None:
            cluster = cluster.replace(particle_cluster=args.particle_cluster)
        config = config.replace(**{method: cluster})
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    return apply_contaminant_options(config, args)


def run(args: argparse.Namespace) -> int:
    from .._shared import UnpickInputError
    from ..workflows import run_pick

    config = config_from_args(args)
    copick = copick_inputs(args, args.tomograms)
    paths = [t.path for t in copick] if copick is not None else args.tomograms
    if args.name is not None and copick is not None:
        raise UnpickInputError(
            f"--name {args.name}: a copick tomogram is named by its run (its output folder and the run its picks "
            f"go to); leave --name out with --copick"
        )
    if args.name is not None and len(paths) != 1:
        raise UnpickInputError(f"--name {args.name}: names one tomogram, got {len(paths)}; pick them one by one")
    if args.name is None:
        check_distinct_names(paths)
    formats = format_list(args.formats)
    target = copick_target(args)  # one target, so the project is opened once for all the picks
    for path in paths:
        outcome = run_pick(
            path,
            args.out,
            workflows=workflows_from_args(args),
            config=config,
            voxel_size_angstrom=args.voxel_size,
            device=device_from_args(args),
            formats=formats,
            write_masks=not args.no_masks,
            report=not args.no_report,
            copick=target,
            progress=show_progress(args),
            name=args.name,
        )
        print(summary_table(outcome.record.decisions))
        print(f"outputs: {outcome.out_dir}")
    return 0


def check_distinct_names(paths) -> None:
    """Refuse tomograms whose names (output folders) coincide, before any work: the later one would
    overwrite the earlier one's results."""
    from .._shared import UnpickInputError
    from ..io import tomogram_name

    seen: dict[str, str] = {}
    for path in paths:
        name = tomogram_name(path)
        if name in seen:
            raise UnpickInputError(
                f"{path} and {seen[name]} both map to the output folder {name!r}; rename one or pick them into "
                f"separate --out folders"
            )
        seen[name] = str(path)


def summary_table(record: dict) -> str:
    """Plain-text table of pick counts, seconds and (with consensus/auto) the label-free
    agreement score per workflow for one tomogram."""
    timings = record["timings_s"]
    agreement = record.get("quality", {}).get("agreement_f1", {})
    lines = [
        f"{record['tomogram'] or 'tomogram'}  shape {tuple(record['shape_zyx'])}  "
        f"voxel {record['voxel_size_angstrom']:g} Å",
        f"{'workflow':<24}{'picks':>8}{'extract s':>11}" + (f"{'agreement':>11}" if agreement else ""),
    ]
    for name, count in record["picks"].items():
        seconds = f"{timings[name]:>11.2f}" if name in timings else f"{'':>11}"
        score = f"{agreement[name]:>11.3f}" if name in agreement else ""
        lines.append(f"{name:<24}{count:>8d}{seconds}{score}")
    if agreement:
        lines.append(
            f"agreement = F1 against the consensus picks (label-free); auto = {record['quality']['auto_workflow']}"
        )
    modes = [m for m in ("intensities", "fft", "gabor") if m in timings]
    lines.append(
        "feature+cluster s: "
        + ", ".join(f"{m} {sum(timings[m].values()):.1f}" for m in modes)
        + f"; preprocess {timings['preprocess']:.1f}"
    )
    return "\n".join(lines)
