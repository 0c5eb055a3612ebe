"""Batch throughput (-j 1 vs -j 2), Dask-backend overhead vs loky, and peak memory per tomogram.

Setup simulates N small tomograms with ``unpick.synthetic``; every figure is printed with the
machine's core count, and ratios are taken against a baseline run in the same process.

    python benchmarks/bench_batch.py                        # throughput and Dask overhead
    python benchmarks/bench_batch.py --calibrate-memory     # peak RSS per tomogram size

The memory calibration runs one ``run_pick`` per shape in a fresh child process and reads the
child's peak resident set (``ru_maxrss``) minus its resident set after the imports; a
least-squares line ``peak = fixed + bytes_per_voxel × voxels`` over the shapes is what
``unpick.batch`` uses to cap ``--jobs`` (``BYTES_PER_VOXEL``, ``WORKER_OVERHEAD_BYTES``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = """
import json, resource, sys
from unpick.workflows import run_pick
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run = run_pick(sys.argv[1], sys.argv[2], workflows=sys.argv[3], progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "picks": run.result.record["picks"]}))
"""


def make_tomograms(folder: Path, n: int, shape: tuple[int, int, int]) -> None:
    from unpick.io import write_mrc
    from unpick.synthetic import SimulationConfig, simulate_tomogram

    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(n):
        sim = simulate_tomogram(SimulationConfig(shape_zyx=shape, n_particles=30, seed=seed))
        write_mrc(folder / f"tomo_{seed:02d}.mrc", sim.volume, voxel_size_angstrom=sim.voxel_size_angstrom)


def timed_batch(indir: Path, out: Path, task, **kwargs) -> float:
    from unpick.batch import run_batch

    start = time.perf_counter()
    result = run_batch(indir, out, task=task, progress=False, **kwargs)
    seconds = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"batch failed:\n{result.summary}")
    return seconds


def throughput(args: argparse.Namespace, work: Path) -> None:
    from distributed import LocalCluster

    from unpick.batch import PickTask

    indir = work / "in"
    make_tomograms(indir, args.n, args.shape)
    task = PickTask(workflows=args.workflows, write_masks=False)
    print(f"{args.n} tomograms {args.shape[0]}x{args.shape[1]}x{args.shape[2]}, workflows {args.workflows}, "
          f"{os.cpu_count()} CPU cores, best of {args.repeat}")
    times: dict[str, list[float]] = {"j1": [], "j2": [], "dask": []}
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        started = time.perf_counter() - start
        for r in range(args.repeat):  # interleaved, so a busy moment on the machine hits all three
            times["j1"].append(timed_batch(indir, work / f"j1-{r}", task, n_jobs=1))
            times["j2"].append(timed_batch(indir, work / f"j2-{r}", task, n_jobs=2, max_memory_gb=1e3))
            times["dask"].append(timed_batch(indir, work / f"dask-{r}", task, backend="dask",
                                             scheduler=cluster.scheduler_address))
    t1, t2, td = (min(times[k]) for k in ("j1", "j2", "dask"))
    print(f"loky -j 1: {t1:7.2f} s  ({args.n / t1:.3f} tomograms/s)   all runs {np.round(times['j1'], 2)}")
    print(f"loky -j 2: {t2:7.2f} s  ({args.n / t2:.3f} tomograms/s)   all runs {np.round(times['j2'], 2)}; "
          f"speed-up vs -j 1 x{t1 / t2:.2f} (worker start included)")
    print(f"dask, 2 workers x 1 thread: {td:7.2f} s  ({args.n / td:.3f} tomograms/s)   all runs "
          f"{np.round(times['dask'], 2)}; vs loky -j 2 x{td / t2:.2f} ({td - t2:+.2f} s); "
          f"cluster start {started:.2f} s not included")


def calibrate_memory(args: argparse.Namespace, work: Path) -> None:
    from unpick.batch import default_memory_bytes

    voxels, peaks = [], []
    print(f"peak memory of one run_pick ({args.workflows}) in a fresh process:")
    for text in args.memory_shapes:
        shape = tuple(int(v) for v in text.split("x"))
        folder = work / f"mem_{text}"
        make_tomograms(folder, 1, shape)
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(folder / "tomo_00.mrc"), str(work / "mem_out"), args.workflows],
            check=True, capture_output=True, text=True,
        )
        report = json.loads(child.stdout.strip().splitlines()[-1])
        peak = (report["peak_kib"] - report["base_kib"]) * 1024
        n = int(np.prod(shape))
        voxels.append(n)
        peaks.append(peak)
        print(f"  {text:>12}: {n / 1e6:6.2f} M voxels, peak +{peak / 1e9:6.3f} GB over imports "
              f"({peak / n:7.1f} B/voxel), {time.perf_counter() - start:6.1f} s; estimate "
              f"{default_memory_bytes(shape) / 1e9:6.3f} GB (incl. worker imports)")
    if len(voxels) >= 2:
        slope, intercept = np.polyfit(np.asarray(voxels, float), np.asarray(peaks, float), 1)
        print(f"  fit: peak = {intercept / 1e9:.3f} GB + {slope:.2f} B/voxel x voxels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6, help="tomograms in the batch (default: %(default)s)")
    parser.add_argument("--shape", type=int, nargs=3, default=(48, 96, 96), metavar=("Z", "Y", "X"))
    parser.add_argument("--workflows", default="gabor-kmeans-ws")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each setting; the best is reported")
    parser.add_argument("--calibrate-memory", action="store_true", help="measure peak memory instead")
    parser.add_argument("--memory-shapes", nargs="+", default=["64x128x128", "96x192x192", "128x256x256"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unpick-bench-batch-") as tmp:
        if args.calibrate_memory:
            calibrate_memory(args, Path(tmp))
        else:
            throughput(args, Path(tmp))


if __name__ == "__main__":
    main()
