"""End-to-end speed and peak memory of the workflows, and the ratio to a naive neighbourhood matrix.

Usage:
    python benchmarks/bench_workflows.py speed --shape 200 512 512 --workflows gabor-kmeans-ws all
    python benchmarks/bench_workflows.py naive --shape 48 192 192
    python benchmarks/bench_workflows.py speed --shape 200 512 512 --workflows intensities-gmm-cc --explicit-decision
    python benchmarks/bench_workflows.py speed --shape 200 512 512 --workflows all --threads 1 2

``speed``: one subprocess simulates a tomogram of the given shape (float32, 10 Å voxels,
particles at ~1 % of the volume) and writes it as an MRC; then, for each workflow spec, a fresh
subprocess runs ``run_pick`` on that file; prints wall seconds per stage and the picking process's
peak RSS (ru_maxrss). ``--threads`` limits joblib's thread pools and BLAS in the picking process
(the picks do not depend on it).

``naive``: intensities-kmeans-cc both ways in one process on the same volume: unpick's streamed
path, and what the published reference does — a float64 N×125 matrix of every neighbourhood,
K-Means fitted on a sample of its rows and predicted on all rows, connected components. Peak memory
of each is traced with tracemalloc (NumPy allocations), time with perf_counter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

SIMULATE = r"""
import json, sys, time
from pathlib import Path
from unpick.io import write_mrc
from unpick.synthetic import SimulationConfig, simulate_tomogram
shape, out = json.loads(sys.argv[1]), Path(sys.argv[2])
n = max(10, int(0.01 * shape[0] * shape[1] * shape[2] / (4 / 3 * 3.1416 * 7 ** 3)))
t = time.perf_counter()
sim = simulate_tomogram(SimulationConfig(shape_zyx=tuple(shape), n_particles=n, noise=1.0, seed=1))
write_mrc(out / "bench.mrc", sim.volume, voxel_size_angstrom=10.0)
print(json.dumps({"simulate_s": time.perf_counter() - t}))
"""

PICK = r"""
import json, resource, sys, time
from pathlib import Path
from unpick.workflows import PickConfig, run_pick
spec, out = sys.argv[1], Path(sys.argv[2])
if sys.argv[3] == "explicit":  # the path before the linear decision became one correlation
    from unpick.cluster import FittedClusterer
    FittedClusterer.linear_decision = property(lambda self: None)
t = time.perf_counter()
run = run_pick(out / "bench.mrc", out / "picks", workflows=spec,
               config=PickConfig().with_particle_radius(70.0), progress=False)
print(json.dumps({"pick_s": time.perf_counter() - t, "timings": run.result.record["timings_s"],
                  "picks": run.result.record["picks"],
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _child(code: str, *args: str, threads: int | None = None) -> dict:
    env = dict(os.environ)
    if threads is not None:  # joblib's thread pools (LOKY_MAX_CPU_COUNT) and BLAS
        env.update({name: str(threads) for name in ("LOKY_MAX_CPU_COUNT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stages(timings: dict, pick_s: float) -> str:
    """One line of seconds per stage from the job record's ``timings_s``. The membranes are found
    on a thread of their own beside the first feature mode (from session 10), so they are shown
    apart and not counted in the sequence; a mode's two segmentations are finished (operating
    point, instances) side by side on small volumes (from session 11), so their stages are shown
    with the wall time of the finishing (``MODE-finished``)."""
    modes = {k: round(_mode_seconds(v), 1) for k, v in timings.items() if isinstance(v, dict)}
    contaminants = sum(timings.get(k, 0.0) for k in ("specimen_slab", "fiducials"))
    operating = sum(v for k, v in timings.items() if k.endswith("-operating-point"))
    # the twelve extractions and (from session 9) the components shared by cc and ws of a mask
    instances = sum(v for k, v in timings.items() if k.count("-") == 2 and not k.endswith("-operating-point"))
    finished = sum(v for k, v in timings.items() if k.endswith("-finished"))
    tail = f"operating points {operating:.1f}, instances {instances:.1f}"
    if finished:
        tail += f" (together {finished:.1f} wall)"
    counted = timings["preprocess"] + contaminants + sum(modes.values()) + (finished or operating + instances)
    return (f"preprocess {timings['preprocess']:.1f}, slab+beads {contaminants:.1f}, "
            f"membranes {timings.get('membranes', 0.0):.1f} (alongside), "
            f"features+clustering {modes}, {tail}, writing and the rest {pick_s - counted:.1f}")


def _mode_seconds(timings: dict) -> float:
    """Wall seconds of one feature mode: its two clusterers are fitted side by side."""
    fits = [v for k, v in timings.items() if k.startswith("fit_")]
    return sum(v for k, v in timings.items() if not k.startswith("fit_")) + max(fits, default=0.0)


def speed(shape: list[int], specs: list[str], *, explicit: bool = False, threads: list[int | None] = (None,)) -> None:
    print(f"volume {tuple(shape)} float32 = {np.prod(shape) * 4 / 2**30:.2f} GiB")
    with tempfile.TemporaryDirectory() as tmp:
        made = _child(SIMULATE, json.dumps(shape), tmp)
        print(f"simulated and written in {made['simulate_s']:.1f} s (separate process)")
        paths = ("explicit", "default") if explicit else ("default",)
        for spec, path, n_threads in [(s, p, t) for s in specs for p in paths for t in threads]:
            result = _child(PICK, spec, tmp, path, threads=n_threads)
            label = f"{spec} (explicit features x clusterer)" if path == "explicit" else spec
            if n_threads is not None:
                label += f" [{n_threads} thread{'s' if n_threads > 1 else ''}]"
            print(f"{label}: pick {result['pick_s']:.1f} s ({_stages(result['timings'], result['pick_s'])}), "
                  f"peak RSS {result['peak_rss_gb']:.2f} GiB; picks {result['picks']}")


def naive(shape: list[int]) -> None:
    from scipy import ndimage
    from sklearn.cluster import KMeans

    from unpick.synthetic import SimulationConfig, simulate_tomogram
    from unpick.workflows import PickConfig, pick_tomogram

    volume = simulate_tomogram(SimulationConfig(shape_zyx=tuple(shape), n_particles=40, seed=2)).volume
    config = PickConfig()

    tracemalloc.start()
    t = time.perf_counter()
    ours = pick_tomogram(volume, voxel_size_angstrom=10.0, workflows="intensities-kmeans-cc", config=config)
    ours_s = time.perf_counter() - t
    ours_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    tracemalloc.start()
    t = time.perf_counter()
    blurred = ndimage.gaussian_filter(volume.astype(np.float64), 1.0)
    scaled = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    windows = np.lib.stride_tricks.sliding_window_view(scaled, (5, 5, 5))
    matrix = windows.reshape(-1, 125).copy()  # every neighbourhood copied: 1000 bytes/voxel in float64
    rng = np.random.default_rng(0)
    sample = matrix[rng.choice(len(matrix), size=config.kmeans.sample_voxels, replace=False)]
    model = KMeans(n_clusters=2, n_init=config.kmeans.n_init, random_state=0).fit(sample)
    labels = model.predict(matrix)
    particle = int(np.argmin(np.bincount(labels)))
    mask = (labels == particle).reshape(windows.shape[:3])
    naive_count = ndimage.label(mask)[1]
    naive_s = time.perf_counter() - t
    naive_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    print(f"volume {tuple(shape)} ({volume.size / 1e6:.1f} M voxels), intensities-kmeans-cc")
    print(
        f"unpick streamed: {ours_s:.1f} s, peak {ours_peak / 2**20:.0f} MiB, "
        f"{len(ours.picks['intensities-kmeans-cc'])} picks"
    )
    print(f"naive N×125 matrix: {naive_s:.1f} s, peak {naive_peak / 2**20:.0f} MiB, {naive_count} components")
    print(f"ratio naive/unpick: time {naive_s / ours_s:.1f}x, peak memory {naive_peak / ours_peak:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("speed", "naive"))
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 512, 512])
    parser.add_argument("--workflows", nargs="+", default=["gabor-kmeans-ws", "all"])
    parser.add_argument(
        "--explicit-decision", action="store_true",
        help="also run each spec with linear decisions computed from the explicit features (the path before)",
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[None],
        help="run each spec with each of these CPU thread counts (default: every core)",
    )
    args = parser.parse_args()
    if args.what == "speed":
        speed(args.shape, args.workflows, explicit=args.explicit_decision, threads=args.threads)
    else:
        naive(args.shape)


if __name__ == "__main__":
    main()
