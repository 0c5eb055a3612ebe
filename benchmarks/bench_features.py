"""Speed and peak memory of the streamed features (unpick.features) on a synthetic volume.

Usage: python benchmarks/bench_features.py [--shape 100 256 256] [--threads 1 2]

For each mode: time of iter_chunks over the whole volume (wall and CPU seconds, voxels/s), the
Gabor selection and at_voxels on a 10⁶-voxel sample; peak memory of one pass in a separate run
(tracemalloc, NumPy allocations) next to the volume and chunk sizes. Baseline in the same process:
a single scipy.ndimage.uniform_filter (one 5³ box filter) over the volume.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage

from unpick.features import (
    MODES,
    FeatureConfig,
    build_feature_bank,
    preprocess,
    sample_interior_voxels,
)


def _timed(func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _stream(bank, volume, threads):
    n = 0
    for _, _, features in bank.iter_chunks(volume, n_threads=threads):
        n += len(features)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[100, 256, 256], help="volume shape Z Y X in voxels")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU threads per chunk to try")
    parser.add_argument("--sample", type=int, default=1_000_000, help="voxels in the at_voxels sample")
    args = parser.parse_args()

    raw = np.random.default_rng(0).normal(size=tuple(args.shape)).astype(np.float32)
    volume, pre_wall, pre_cpu = _timed(lambda: preprocess(raw))
    size = volume.size
    print(f"volume {tuple(args.shape)} = {size / 1e6:.1f} M voxels, {volume.nbytes / 1e6:.0f} MB float32")
    print(f"preprocess: wall {pre_wall:.2f} s, cpu {pre_cpu:.2f} s")
    _, base_wall, base_cpu = _timed(lambda: ndimage.uniform_filter(volume, 5))
    print(f"baseline uniform_filter(5): wall {base_wall:.2f} s, cpu {base_cpu:.2f} s")
    idx = sample_interior_voxels(volume.shape, args.sample, rng=0)
    for mode in MODES:
        bank, sel_wall, _ = _timed(lambda m=mode: build_feature_bank(volume, config=FeatureConfig(mode=m), rng=0))
        print(f"\n{mode}: {bank.n_features} features, chunk depth {bank.chunk_depth(volume.shape)} slices"
              + (f", selection {sel_wall:.2f} s" if mode == "gabor" else ""))
        for threads in args.threads:
            n, wall, cpu = _timed(lambda b=bank, t=threads: _stream(b, volume, t))
            assert n == size
            print(f"  iter_chunks threads={threads}: wall {wall:.2f} s, cpu {cpu:.2f} s, "
                  f"{size / wall / 1e6:.2f} M voxels/s, x{wall / base_wall:.1f} baseline")
        _, wall, cpu = _timed(lambda b=bank: b.at_voxels(volume, idx))
        print(f"  at_voxels {len(idx)}: wall {wall:.2f} s, cpu {cpu:.2f} s")
        tracemalloc.start()
        _stream(bank, volume, 1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        chunk = bank.chunk_depth(volume.shape) * volume.shape[1] * volume.shape[2] * bank.n_features * 4
        print(f"  peak memory of iter_chunks: {peak / 1e6:.0f} MB (one chunk of features {chunk / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
