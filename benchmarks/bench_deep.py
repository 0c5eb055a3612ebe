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

``labels``: when PU learning matters. The teacher's picks of one polnet tomogram are subsampled
to label fractions (default 5 %, 20 %, 100 %) and a student is trained on each with every loss
(nnPU, GE-KL, PN) and several seeds (each seed draws its own subsample), beside the supervised
ceiling (PN on the true particle positions) and self-training rows. Every run goes through
``refine_picks`` as ``unpick refine`` does (threshold from the labelled picks, contaminants
cleared); the prior comes from 1.5 x the full teacher's count, as the default does at 100 %,
so only the labels change. One JSON per run under ``WORK/labels/`` (a rerun skips finished
runs); ``labels-table`` prints mean ± spread.

    python benchmarks/bench_deep.py synthetic                      # 64 x 128 x 128, default config
    python benchmarks/bench_deep.py synthetic --shape 200 320 320 --iterations 4 --threads 2
    python benchmarks/bench_deep.py polnet --teacher gabor-kmeans-ws --loss nnpu --iterations 150 \
        --threads 1 --json /tmp/bench_deep/nnpu.json
    python benchmarks/bench_deep.py table /tmp/bench_deep/*.json
    python benchmarks/bench_deep.py labels --iterations 150 --threads 2
    python benchmarks/bench_deep.py labels-table /tmp/bench_deep/labels/*.json
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

    from unpick import picks_zyx
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
    """The teacher's picks of one tomogram and the seconds they took: from the cache when
    ``finished_run`` finds a finished, current run there (same file, same settings), else from a
    fresh ``run_pick`` (timed)."""
    from unpick.io import read_picks_csv, tomogram_name
    from unpick.workflows import PickConfig, finished_run, pick_settings, run_pick

    cache = work / f"teacher-{workflow}"
    options = dict(
        workflows=workflow, config=PickConfig().with_particle_radius(radius_angstrom), voxel_size_angstrom=None,
        formats=("csv",), write_masks=False, report=True,
    )  # fmt: skip
    folder = cache / tomogram_name(path)
    record = finished_run(folder, inputs=[path], settings=pick_settings(**options))
    if record is not None:
        return read_picks_csv(folder / "picks" / f"{workflow}.csv"), record.decisions["timings_s"]["total"]
    start = time.perf_counter()
    outcome = run_pick(path, cache, device="cpu", progress=False, **options)
    return outcome.result.picks[workflow], time.perf_counter() - start


def truth_zyx(path: Path) -> np.ndarray:
    import pandas as pd

    return pd.read_csv(path)[["z", "y", "x"]].to_numpy(dtype=float)


def rounded(scores: dict) -> dict:
    return {k: round(float(scores[k]), 3) for k in ("f1", "precision", "recall", "n_pred")}


def polnet(args: argparse.Namespace) -> None:
    import psutil
    import torch

    from unpick import picks_zyx
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


def label_runs(args: argparse.Namespace) -> list[dict]:
    """The runs of the label-fraction grid, the supervised ceiling and the self-training rows."""
    runs = []
    for seed in range(args.seeds):  # seed by seed: a run cut short still has whole seeds
        runs += [
            {"labels": f"{fraction:g}", "loss": loss, "seed": seed, "rounds": 0}
            for fraction in args.fractions
            for loss in args.losses
        ]
        runs.append({"labels": "truth", "loss": "pn", "seed": seed, "rounds": 0})
    runs += [
        {"labels": f"{fraction:g}", "loss": "nnpu", "seed": seed, "rounds": rounds}
        for fraction in args.self_training_fractions
        for rounds in args.self_training_rounds
        for seed in range(args.seeds if args.self_training_seeds is None else args.self_training_seeds)
    ]
    return runs


def labels(args: argparse.Namespace) -> None:
    import torch

    from unpick import picks_zyx
    from unpick.deep import DeepConfig, cleared_score_maps, find_peaks, peaks_at_threshold, refine_picks
    from unpick.evaluate import score_points
    from unpick.io import read_tomogram

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    out = work / "labels"
    out.mkdir(parents=True, exist_ok=True)
    teacher, _ = load_teacher(args.data / f"{args.tomogram}.mrc", args.teacher, work, args.particle_radius)
    teacher_zyx, teacher_scores = picks_zyx(teacher), teacher["score"].to_numpy(dtype=float)
    truth = truth_zyx(args.data / f"{args.tomogram}_particles.csv")
    volume = np.asarray(read_tomogram(args.data / f"{args.tomogram}.mrc").data)
    held_out = {n: np.asarray(read_tomogram(args.data / f"{n}.mrc").data) for n in args.held_out}
    radius = args.particle_radius / 10.0  # polnet-v1 voxels are 10 Å
    teacher_f1 = score_points(teacher_zyx, truth, radius_voxels=args.match_radius)["f1"]
    for run in label_runs(args):
        tag = f"{run['labels']}_{run['loss']}_r{run['rounds']}_{args.iterations}it_seed{run['seed']}"
        path = out / f"{tag}.json"
        if path.is_file():
            continue
        if run["labels"] == "truth":
            positives, scores, expected = truth, None, float(len(truth))
        else:
            n = max(1, round(float(run["labels"]) * len(teacher_zyx)))
            chosen = np.sort(np.random.default_rng(run["seed"]).permutation(len(teacher_zyx))[:n])
            positives, scores = teacher_zyx[chosen], teacher_scores[chosen]
            expected = args.expected_count_factor * len(teacher_zyx)
        config = DeepConfig(
            epochs=args.epochs, iterations_per_epoch=max(1, args.iterations // args.epochs), loss=run["loss"],
            seed=run["seed"], device=args.device, expected_count=expected, self_training_rounds=run["rounds"],
        )  # fmt: skip
        start = time.perf_counter()
        result = refine_picks(
            volume, positives, config=config, radius_voxels=radius, scores=scores, voxel_size_angstrom=10.0
        )  # fmt: skip
        seconds = time.perf_counter() - start
        candidates, peak_scores = find_peaks(result.score_maps[0], radius_voxels=radius, threshold=0.0)
        best = max(
            score_points(candidates[peak_scores >= t], truth, radius_voxels=args.match_radius)["f1"]
            for t in np.quantile(peak_scores, np.linspace(0.5, 0.995, 60))
        )  # diagnosis only: the ranking, whatever the threshold
        report = {
            **run,
            "tomogram": args.tomogram,
            "teacher": args.teacher,
            "teacher_f1": round(teacher_f1, 3),
            "n_positives": len(positives),
            "iterations": config.epochs * config.iterations_per_epoch,
            "student": rounded(score_points(result.coords[0], truth, radius_voxels=args.match_radius)),
            "best_threshold_f1": round(best, 3),
            "threshold": round(result.thresholds[0], 4),
            "added_per_round": result.added_per_round,
            "seconds": round(seconds, 1),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
        }
        for name, other in held_out.items():
            coords, _, _ = peaks_at_threshold(result.trained, cleared_score_maps(result.trained, [other])[0])
            other_truth = truth_zyx(args.data / f"{name}_particles.csv")
            report[name] = rounded(score_points(coords, other_truth, radius_voxels=args.match_radius))
        path.write_text(json.dumps(report, indent=2))
        print(tag, json.dumps(report["student"]), f"best {report['best_threshold_f1']}", f"{seconds:.0f} s", flush=True)


def labels_table(args: argparse.Namespace) -> None:
    """Mean ± half-range over seeds of each (labels, loss, rounds) row of ``labels`` JSON files."""
    reports = [json.loads(Path(p).read_text()) for p in args.reports]
    rows: dict[tuple, list[dict]] = {}
    for r in reports:
        rows.setdefault((r["labels"], r["loss"], r["rounds"]), []).append(r)
    extra = sorted({k for r in reports for k in r if k.startswith("tomo_") and k != r["tomogram"]})
    held_out_header = "".join(f" {n} F1 (held out) |" for n in extra)
    print("| labels | loss | self-training rounds | positives | F1 (P / R) at the chosen threshold | "
          "F1 at the best threshold (uses truth) |" + held_out_header + " seeds |")
    print("|---|---|---|---|---|---|" + "---|" * len(extra) + "---|")

    def spread(values: list[float]) -> str:
        values = np.asarray(values, dtype=float)
        return f"{values.mean():.3f} ± {(values.max() - values.min()) / 2:.3f}"

    def position(key: tuple) -> tuple:
        return (2.0 if key[0] == "truth" else float(key[0]), key[2], key[1])

    for key in sorted(rows, key=position):
        group = rows[key]
        f1 = spread([g["student"]["f1"] for g in group])
        p = np.mean([g["student"]["precision"] for g in group])
        r = np.mean([g["student"]["recall"] for g in group])
        held = [spread([g[n]["f1"] for g in group if n in g]) if any(n in g for g in group) else "–" for n in extra]
        labels_cell = "true positions (supervised ceiling)" if key[0] == "truth" else f"{100 * float(key[0]):g} % of the teacher's"
        print(f"| {labels_cell} | {key[1]} | {key[2]} | {int(np.mean([g['n_positives'] for g in group]))} | "
              f"{f1} ({p:.2f} / {r:.2f}) | {spread([g['best_threshold_f1'] for g in group])} |"
              + "".join(f" {h} |" for h in held) + f" {len(group)} |")


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
    sub = commands.add_parser("labels", help="label fractions x losses x seeds, supervised ceiling, self-training")
    sub.add_argument("--data", type=Path, default=POLNET, help="folder of tomo_0N.mrc and tomo_0N_particles.csv")
    sub.add_argument("--work", default="/tmp/bench_deep", help="cache of teacher picks and run reports")
    sub.add_argument("--tomogram", default="tomo_01", help="the tomogram trained on and scored")
    sub.add_argument("--held-out", nargs="*", default=[], help="tomograms also scored with each model")
    sub.add_argument("--teacher", default="fft-gmm-cc", help="unsupervised workflow giving the pseudo-labels")
    sub.add_argument("--particle-radius", type=float, default=75.0, help="size prior in Å (teacher and student)")
    sub.add_argument("--fractions", type=float, nargs="+", default=(0.05, 0.2, 1.0))
    sub.add_argument("--losses", nargs="+", default=("nnpu", "gekl", "pn"), choices=("pn", "nnpu", "gekl"))
    sub.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (each its own subsample)")
    sub.add_argument("--self-training-fractions", type=float, nargs="*", default=(0.2, 1.0))
    sub.add_argument("--self-training-rounds", type=int, nargs="*", default=(1,))
    sub.add_argument("--self-training-seeds", type=int, help="seeds of the self-training rows (default: --seeds)")
    sub.add_argument("--expected-count-factor", type=float, default=1.5, help="prior: this x the full teacher count")
    sub.add_argument("--match-radius", type=float, default=10.0, help="one-to-one match radius in voxels")
    sub.add_argument("--iterations", type=int, default=400, help="training iterations in total (default as refine)")
    sub.add_argument("--epochs", type=int, default=10)
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    sub.set_defaults(run=labels)
    sub = commands.add_parser("labels-table", help="Markdown table from labels JSON reports")
    sub.add_argument("reports", nargs="+")
    sub.set_defaults(run=labels_table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
