"""Deep picker benchmarks: CPU/GPU cost and F1 of the PU-trained ResUNet against its teacher.

``synthetic``: simulates one tomogram with ``unpick.synthetic`` and makes noisy pseudo-labels from
its truth (a fraction of the true particles plus random false positives); times training and the
overlap-tile inference of the whole tomogram, and scores the pseudo-labels (the baseline, same
process) and the refined picks.

``polnet``: the bootstrap on the polnet-v1 tomograms (``/work/shared/data/polnet-v1``). The teacher
is an unsupervised workflow run with ``run_pick`` and ``PickConfig().with_particle_radius(R)``
(cached under ``WORK/teacher-<workflow>/``); the student is a ResUNet trained on the teacher's picks
of the ``--train`` tomogram(s) (scores as weights), applied to every ``--eval`` tomogram. Teacher and
student are scored one-to-one against the truth CSVs at ``--match-radius`` voxels. Training time,
peak RSS of the process (ru_maxrss, tomogram included) and inference throughput are recorded.
One model per process, so each peak RSS is its own; results go to ``--json``.

``table``: Markdown tables from ``polnet`` JSON files.

    python benchmarks/bench_deep.py synthetic                      # 64 x 128 x 128, default config
    python benchmarks/bench_deep.py synthetic --shape 200 320 320 --iterations 4 --threads 2
    python benchmarks/bench_deep.py polnet --teacher gabor-kmeans-ws --loss nnpu --iterations 150 \
        --threads 1 --json /tmp/bench_deep/nnpu.json
    python benchmarks/bench_deep.py table /tmp/bench_deep/*.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

POLNET = Path("/work/shared/data/polnet-v1")


def synthetic(args: argparse.Namespace) -> None:
    import torch

    from unpick._shared import picks_zyx
    from unpick.deep import DeepConfig, calibrate_peak_threshold, peaks_at_threshold, predict_score_map, train_picker
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
    calibrate_peak_threshold(trained, [score_map], [pseudo])  # the threshold refine chooses
    coords, _, _ = peaks_at_threshold(trained, score_map)
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
                "infer_voxels_per_s": round(sim.volume.size / infer_s),
                "peaks_s": round(peaks_s, 2),
                "teacher_f1": round(teacher["f1"], 3),
                "refined": {k: round(refined[k], 3) for k in ("f1", "precision", "recall")},
                "f1_ratio_to_teacher": round(refined["f1"] / max(teacher["f1"], 1e-9), 2),
            },
            indent=2,
        )
    )



def load_teacher(path: Path, workflow: str, work: Path, radius_angstrom: float):
    """The teacher's picks of one tomogram, from the cache or a fresh ``run_pick`` (timed)."""
    from unpick.io import read_picks_csv
    from unpick.workflows import PickConfig, run_pick

    cache = work / f"teacher-{workflow}"
    saved = cache / path.stem / "picks" / f"{workflow}.csv"
    if (cache / path.stem / "job.json").is_file() and saved.is_file():
        record = json.loads((cache / path.stem / "job.json").read_text())
        return read_picks_csv(saved), record["timings_s"]["total"]
    start = time.perf_counter()
    outcome = run_pick(
        path, cache, workflows=workflow, config=PickConfig().with_particle_radius(radius_angstrom),
        device="cpu", write_masks=False, progress=False,
    )  # fmt: skip
    return outcome.result.picks[workflow], time.perf_counter() - start


def truth_zyx(path: Path) -> np.ndarray:
    import pandas as pd

    return pd.read_csv(path)[["z", "y", "x"]].to_numpy(dtype=float)


def rounded(scores: dict) -> dict:
    return {k: round(float(scores[k]), 3) for k in ("f1", "precision", "recall", "n_pred")}


def polnet(args: argparse.Namespace) -> None:
    import psutil
    import torch

    from unpick._shared import picks_zyx
    from unpick.deep import (
        DeepConfig,
        calibrate_peak_threshold,
        cleared_score_maps,
        find_peaks,
        load_checkpoint,
        peaks_at_threshold,
        save_checkpoint,
        train_picker,
    )
    from unpick.evaluate import score_points
    from unpick.io import read_tomogram

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    names = list(dict.fromkeys([*args.train, *args.eval]))
    teachers = {n: load_teacher(args.data / f"{n}.mrc", args.teacher, work, args.particle_radius) for n in names}
    radius = args.particle_radius / 10.0  # polnet-v1 voxels are 10 Å
    config = DeepConfig(
        epochs=args.epochs, iterations_per_epoch=max(1, args.iterations // args.epochs), loss=args.loss,
        device=args.device, seed=args.seed,
        expected_count=args.expected_count,
    )  # fmt: skip
    tag = f"{args.teacher}_{args.loss}_{config.epochs * config.iterations_per_epoch}it_seed{args.seed}"
    checkpoint = work / "models" / f"{tag}.pt"
    rss_before = psutil.Process().memory_info().rss
    if checkpoint.is_file():
        trained, train_s = load_checkpoint(checkpoint, device=args.device), None
    else:
        volumes = [np.asarray(read_tomogram(args.data / f"{n}.mrc").data) for n in args.train]
        start = time.perf_counter()
        trained = train_picker(
            volumes, [picks_zyx(teachers[n][0]) for n in args.train], config=config, radius_voxels=radius,
            scores=[teachers[n][0]["score"].to_numpy(dtype=float) for n in args.train], voxel_size_angstrom=10.0,
            checkpoint_dir=work / "models" / f"{tag}.state",
        )  # fmt: skip
        train_s = time.perf_counter() - start
        # the peak threshold refine chooses: from the teacher's picks on the training tomograms
        calibrate_peak_threshold(
            trained, cleared_score_maps(trained, volumes), [picks_zyx(teachers[n][0]) for n in args.train]
        )
        save_checkpoint(checkpoint, trained)
    peak_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results = {}
    for name in args.eval:
        tomogram = read_tomogram(args.data / f"{name}.mrc")
        truth = truth_zyx(args.data / f"{name}_particles.csv")
        start = time.perf_counter()
        score_map = cleared_score_maps(trained, [tomogram.data])[0]  # as unpick infer makes it
        infer_s = time.perf_counter() - start
        coords, _, cut = peaks_at_threshold(trained, score_map)
        # diagnosis only (never used to choose anything): F1 over fixed thresholds on the same peaks
        candidates, scores = find_peaks(score_map, radius_voxels=radius, threshold=0.0)
        sweep = {
            f"{t:g}": round(score_points(candidates[scores >= t], truth, radius_voxels=args.match_radius)["f1"], 3)
            for t in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
        }
        results[name] = {
            "teacher": rounded(score_points(picks_zyx(teachers[name][0]), truth, radius_voxels=args.match_radius)),
            "teacher_s": round(teachers[name][1], 1),
            "student": rounded(score_points(coords, truth, radius_voxels=args.match_radius)),
            "threshold": round(cut, 4),
            "student_f1_at_threshold": sweep,
            "infer_s": round(infer_s, 1),
            "infer_voxels_per_s": round(score_map.size / infer_s),
        }
        print(name, json.dumps(results[name]), flush=True)
    iterations = config.epochs * config.iterations_per_epoch
    report = {
        "teacher": args.teacher,
        "loss": args.loss,
        "train": args.train,
        "iterations": iterations,
        "config": {k: config.to_dict()[k] for k in ("widths", "patch_size", "batch_size", "tile_size", "tile_overlap")},
        "priors": {"pi": trained.priors.full, "pi_U": trained.priors.unlabelled,
                   "expected_count": trained.priors.expected_count},
        "history": trained.history,
        "train_s": None if train_s is None else round(train_s, 1),
        "s_per_iteration": None if train_s is None else round(train_s / iterations, 2),
        "rss_before_train_mb": round(rss_before / 2**20),
        "peak_rss_mb": round(peak_train / 2**20),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "results": results,
    }  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "history"}, indent=2))


def table(args: argparse.Namespace) -> None:
    reports = [json.loads(Path(p).read_text()) for p in args.reports]
    names = sorted({n for r in reports for n in r["results"]})
    print("| teacher | loss | iterations | " + " | ".join(f"{n} teacher → student F1" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for r in reports:
        cells = []
        for n in names:
            res = r["results"].get(n)
            cells.append("–" if res is None else f"{res['teacher']['f1']:.3f} → **{res['student']['f1']:.3f}** "
                         f"(P {res['student']['precision']:.2f}, R {res['student']['recall']:.2f}, "
                         f"{int(res['student']['n_pred'])} picks)")
        print(f"| {r['teacher']} | {r['loss']} | {r['iterations']} | " + " | ".join(cells) + " |")
    print()
    print("| teacher | loss | train s (s/it) | peak RSS MB | inference voxels/s |")
    print("|---|---|---|---|---|")
    for r in reports:
        rates = [res["infer_voxels_per_s"] for res in r["results"].values()]
        print(f"| {r['teacher']} | {r['loss']} | {r['train_s']} ({r['s_per_iteration']}) | {r['peak_rss_mb']} | "
              f"{np.mean(rates):,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("synthetic", help="simulated tomogram, pseudo-labels made from its truth")
    sub.add_argument("--shape", type=int, nargs=3, default=(64, 128, 128), metavar=("Z", "Y", "X"))
    sub.add_argument("--particles", type=int, default=60)
    sub.add_argument("--noise", type=float, default=1.0, help="simulator noise (relative std)")
    sub.add_argument("--iterations", type=int, default=80, help="training iterations in total")
    sub.add_argument("--epochs", type=int, default=2)
    sub.add_argument("--loss", default="nnpu", choices=("pn", "nnpu", "gekl"))
    sub.add_argument("--kept", type=float, default=0.6, help="fraction of true particles in the pseudo-labels")
    sub.add_argument("--false", type=float, default=0.3, help="false positives, as a fraction of the truth count")
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--device", default="auto", choices=("cpu", "gpu", "auto"))
    sub.add_argument("--seed", type=int, default=0)
    sub.set_defaults(run=synthetic)
    sub = commands.add_parser("polnet", help="teacher workflow vs PU student on polnet-v1")
    sub.add_argument("--data", type=Path, default=POLNET, help="folder of tomo_0N.mrc and tomo_0N_particles.csv")
    sub.add_argument("--work", default="/tmp/bench_deep", help="cache of teacher picks and trained models")
    sub.add_argument("--teacher", default="gabor-kmeans-ws", help="unsupervised workflow giving the pseudo-labels")
    sub.add_argument("--particle-radius", type=float, default=75.0, help="size prior in Å (teacher and student)")
    sub.add_argument("--train", nargs="+", default=["tomo_01"], help="tomograms trained on")
    sub.add_argument("--eval", nargs="+", default=["tomo_01", "tomo_02", "tomo_03"], help="tomograms scored")
    sub.add_argument("--match-radius", type=float, default=10.0, help="one-to-one match radius in voxels")
    sub.add_argument("--loss", default="nnpu", choices=("pn", "nnpu", "gekl"))
    sub.add_argument("--iterations", type=int, default=150, help="training iterations in total")
    sub.add_argument("--epochs", type=int, default=3)
    sub.add_argument("--expected-count", type=float, help="particles per tomogram for the prior (default 1.5 x picks)")
    sub.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--json", help="write the full report here")
    sub.set_defaults(run=polnet)
    sub = commands.add_parser("table", help="Markdown tables from polnet JSON reports")
    sub.add_argument("reports", nargs="+")
    sub.set_defaults(run=table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
