"""Deep picker: training and inference speed on the CPU (or GPU), and F1 against the pseudo-labels.

Setup simulates one tomogram with ``unpick.synthetic`` and makes noisy pseudo-labels from its
truth (a fraction of the true particles plus random false positives). It then times a number of
training iterations with the given config, times the overlap-tile inference of the whole
tomogram, and scores both the pseudo-labels (the baseline, same process) and the refined picks.

    python benchmarks/bench_deep.py                                # 64 x 128 x 128, default config
    python benchmarks/bench_deep.py --shape 200 320 320 --iterations 4 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 128, 128), metavar=("Z", "Y", "X"))
    parser.add_argument("--particles", type=int, default=60)
    parser.add_argument("--noise", type=float, default=1.0, help="simulator noise (relative std)")
    parser.add_argument("--iterations", type=int, default=80, help="training iterations in total")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--loss", default="nnpu", choices=("pn", "nnpu", "gekl"))
    parser.add_argument("--kept", type=float, default=0.6, help="fraction of true particles in the pseudo-labels")
    parser.add_argument("--false", type=float, default=0.3, help="false positives, as a fraction of the truth count")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="auto", choices=("cpu", "gpu", "auto"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from unpick._shared import picks_zyx
    from unpick.deep import DeepConfig, find_peaks, predict_score_map, train_picker
    from unpick.evaluate import score_points
    from unpick.synthetic import SimulationConfig, simulate_tomogram

    if args.threads:
        torch.set_num_threads(args.threads)
    sim = simulate_tomogram(
        SimulationConfig(
            shape_zyx=tuple(args.shape), voxel_size_angstrom=10.0, particle_classes=("small-solid",),
            n_particles=args.particles, membrane=False, n_fiducials=0, noise=args.noise, seed=args.seed,
        )
    )  # fmt: skip
    truth = picks_zyx(sim.truth)
    radius = float(sim.truth["radius_voxels"].iloc[0])
    rng = np.random.default_rng(args.seed)
    kept = truth[rng.permutation(len(truth))[: round(args.kept * len(truth))]]
    false = rng.uniform(0, sim.volume.shape, size=(round(args.false * len(truth)), 3))
    pseudo = np.concatenate([kept, false])
    scores = rng.uniform(0, 1, len(pseudo))

    config = DeepConfig(
        epochs=args.epochs, iterations_per_epoch=max(1, args.iterations // args.epochs), loss=args.loss,
        device=args.device, seed=args.seed,
    )  # fmt: skip
    start = time.perf_counter()
    trained = train_picker([sim.volume], [pseudo], config=config, radius_voxels=radius, scores=[scores])
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    score_map = predict_score_map(trained, sim.volume)
    infer_s = time.perf_counter() - start
    start = time.perf_counter()
    coords, _ = find_peaks(score_map, radius_voxels=radius)
    peaks_s = time.perf_counter() - start
    teacher = score_points(pseudo, truth, radius_voxels=radius)
    refined = score_points(coords, truth, radius_voxels=radius)
    iterations = config.epochs * config.iterations_per_epoch
    print(
        json.dumps(
            {
                "shape_zyx": list(args.shape),
                "device": str(trained.device),
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "config": {
                    k: config.to_dict()[k] for k in ("widths", "patch_size", "batch_size", "tile_size", "tile_overlap")
                },
                "train_iterations": iterations,
                "train_s": round(train_s, 2),
                "s_per_iteration": round(train_s / iterations, 3),
                "infer_s": round(infer_s, 2),
                "peaks_s": round(peaks_s, 2),
                "teacher_f1": round(teacher["f1"], 3),
                "refined": {k: round(refined[k], 3) for k in ("f1", "precision", "recall")},
                "f1_ratio_to_teacher": round(refined["f1"] / max(teacher["f1"], 1e-9), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
