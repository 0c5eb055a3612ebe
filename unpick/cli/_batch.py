"""``unpick batch``: run workflows over every tomogram of a folder, locally or on a Dask cluster."""

from __future__ import annotations

import argparse

from ._copick import add_copick_options, copick_inputs, copick_target
from ._options import add_progress_option, device_from_args, format_list, show_progress
from ._pick import add_pick_options, config_from_args, workflows_from_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "batch",
        help="pick every tomogram of a folder (resumable, parallel, local or Dask)",
        description=(
            "Run workflows on every tomogram of INPUT_DIR, one task per tomogram. Writes "
            "OUT/<tomogram>/ (as 'unpick pick', plus unpick.log), OUT/manifest.jsonl (one line per "
            "finished tomogram), OUT/summary.csv (status, error, seconds and pick counts per tomogram) "
            "and OUT/merged/<workflow>.star (RELION 5, rlnTomoName per row). Finished tomograms (same "
            "input file, same options, outputs present) are skipped, so a re-started batch does only "
            "the rest. Exit status 1 when any tomogram failed (the others still complete)."
        ),
    )
    parser.add_argument("input_dir", nargs="?", metavar="INPUT_DIR", help="folder holding the tomograms (or --copick)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created; must be writable)")
    parser.add_argument(
        "--glob", action="append", metavar="PATTERN",
        help="file-name pattern of the tomograms; repeat for several (default: '*.mrc' and '*.rec')",
    )
    parser.add_argument("--recursive", action="store_true", help="search sub-folders of INPUT_DIR too")
    add_pick_options(parser)
    add_copick_options(parser)
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="tomograms run at once on this machine, -1 for one per core (default: %(default)s)")
    parser.add_argument(
        "--max-memory", type=float, metavar="GB",
        help="memory budget in GB (10^9 bytes) for the tomograms running at once; each one's peak is "
             "estimated from its header shape (default: the memory available now)",
    )
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky",
                        help="local worker processes or a Dask cluster (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler tcp://HOST:PORT, or 'local' to start a local cluster of --jobs workers")
    parser.add_argument("--worker-memory", type=float, metavar="GB",
                        help="Dask: memory each task reserves, in GB (workers need --resources MEMORY=<bytes>)")
    parser.add_argument("--gpus-per-task", type=int, metavar="N",
                        help="Dask: GPUs each task reserves (workers need --resources GPU=<count>)")
    parser.add_argument("--truth", metavar="DIR",
                        help="folder of ground-truth files <tomogram>.csv/.star/.json/.ndjson: score every workflow")
    parser.add_argument("--match-radius", type=float, metavar="Å", help="match radius for --truth, in Å")
    add_progress_option(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..batch import DEFAULT_PATTERNS, EVALUATION_FILE, POOLED, PickTask, run_batch

    copick = copick_inputs(args, [args.input_dir] if args.input_dir else [])
    task = PickTask(
        workflows=workflows_from_args(args), config=config_from_args(args), voxel_size_angstrom=args.voxel_size,
        device=device_from_args(args), formats=format_list(args.formats), write_masks=not args.no_masks,
        report=not args.no_report, copick=copick_target(args),
    )
    result = run_batch(
        None if copick is not None else args.input_dir, args.out, task=task,
        tomograms=None if copick is None else [t.path for t in copick], patterns=tuple(args.glob or DEFAULT_PATTERNS),
        recursive=args.recursive, n_jobs=args.jobs, max_memory_gb=args.max_memory, backend=args.backend,
        scheduler=args.scheduler, worker_memory_gb=args.worker_memory, gpus_per_task=args.gpus_per_task,
        truth_dir=args.truth, match_radius_angstrom=args.match_radius, progress=show_progress(args),
    )
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("done", "skipped", "failed", "pending") if result.count(s))
    print(f"{len(result.summary)} tomograms: {counts}; summary: {result.out_dir / 'summary.csv'}")
    for row in result.summary.itertuples():
        if row.status == "failed":
            print(f"failed: {row.input}: {row.error}")
    if result.evaluation is not None and not result.evaluation.empty:
        pooled = result.evaluation[result.evaluation["tomogram"] == POOLED]
        columns = ["workflow", "n_picks", "n_truth", "precision", "recall", "f1", "relative_recall"]
        print(f"pooled over tomograms with truth (per tomogram: {result.out_dir / EVALUATION_FILE}):")
        print(pooled[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0 if result.ok else 1
