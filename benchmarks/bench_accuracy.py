"""Accuracy of the twelve workflows against random and DoG picks, on polnet tomograms and simulator sets.

Usage:
    python benchmarks/bench_accuracy.py [--data ../shared/data/polnet-v1] [--particle-radius 75]
                                        [--simulated] [--workflows all,consensus,auto] [--out benchmarks/out/accuracy]

For each tomogram: ``run_pick`` with the chosen workflows, the DoG baseline (σ 3 and 6 voxels, peaks
above 3 SD, as in DESIGN.md) and random picks (median workflow count), all scored one-to-one at 100 Å.
Relative recall is computed for ribosomes only (class 4v4r: the "incomplete annotation" case) on
polnet. Prints per-tomogram tables and a summary (median over tomograms) as Markdown.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from unpick import make_picks
from unpick.evaluate import baseline_picks, dog_picks, evaluate_workflows
from unpick.io import read_truth
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import COMBINED, PickConfig, run_pick, save_simulation

SIMULATED = {  # increasing difficulty: noise, crowding, small particles
    "sim-noise0.5": SimulationConfig(shape_zyx=(96, 256, 256), n_particles=150, noise=0.5, seed=21),
    "sim-noise1.5": SimulationConfig(shape_zyx=(96, 256, 256), n_particles=150, noise=1.5, seed=22),
    "sim-noise3": SimulationConfig(shape_zyx=(96, 256, 256), n_particles=150, noise=3.0, seed=23),
    "sim-crowded": SimulationConfig(shape_zyx=(96, 256, 256), n_particles=450, noise=1.5, seed=24),
    "sim-small": SimulationConfig(
        shape_zyx=(96, 256, 256), particle_classes=("small-solid", "ring"), n_particles=250, noise=1.5, seed=25
    ),
}


def score_tomogram(
    mrc: Path, truth_path: Path, out: Path, *, workflows: str, radius: float, ribosome_class: str | None
) -> pd.DataFrame:
    start = time.perf_counter()
    run = run_pick(mrc, out, workflows=workflows, config=PickConfig().with_particle_radius(radius), progress=False)
    elapsed = time.perf_counter() - start
    from unpick.io import read_tomogram

    tomo = read_tomogram(mrc)
    voxel = tomo.voxel_size_angstrom
    truth = read_truth(truth_path, voxel_size_angstrom=voxel)
    n_random = int(round(float(np.median([len(p) for p in run.result.picks.values()]))))
    picks = dict(run.result.picks)
    picks["random"] = baseline_picks(tomo.data, n_random=n_random, voxel_size_angstrom=voxel)["random"]
    coords, scores = dog_picks(tomo.data, sigma_small_voxels=3.0, sigma_large_voxels=6.0, threshold_sd=3.0)
    picks["dog"] = make_picks(coords, voxel_size_angstrom=voxel, score=scores, workflow="dog")
    table = evaluate_workflows(picks, truth, voxel_size_angstrom=voxel, volume_shape_zyx=tomo.data.shape)
    if ribosome_class is not None:
        ribo = evaluate_workflows(
            picks, truth, voxel_size_angstrom=voxel, volume_shape_zyx=tomo.data.shape, classes=[ribosome_class]
        )
        table["rr_ribosome"] = ribo["relative_recall"]
    timings = run.result.record["timings_s"]
    table["seconds"] = np.nan
    for name in run.result.picks:
        if name in COMBINED:  # made from the others: their time is the whole run's
            table.loc[name, "seconds"] = elapsed
            continue
        mode = timings[name.split("-")[0]]
        table.loc[name, "seconds"] = timings[name] + sum(mode.values())
    gold_file = mrc.with_name(f"{mrc.stem}_gold.csv")
    if gold_file.is_file():  # picks within two bead radii of a gold centre (polnet tomo_04)
        gold = pd.read_csv(gold_file)
        centres = gold[["z", "y", "x"]].to_numpy()
        reach = 2 * gold["radius_angstrom"].to_numpy() / voxel
        for name, table_picks in picks.items():
            coords = table_picks[["z", "y", "x"]].to_numpy()
            near = np.linalg.norm(coords[:, None] - centres[None], axis=2) <= reach[None]
            table.loc[name, "on_gold"] = int(near.any(axis=1).sum())
    table.attrs["total_seconds"] = elapsed
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/polnet-v1")
    parser.add_argument("--particle-radius", type=float, default=75.0, help="size prior given to the pickers, Å")
    parser.add_argument("--simulated", action="store_true", help="also run the simulator sets")
    parser.add_argument("--no-polnet", action="store_true")
    parser.add_argument("--workflows", default="all,consensus,auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/accuracy"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    tables: dict[str, pd.DataFrame] = {}
    if not args.no_polnet:
        mrcs = sorted(args.data.glob("tomo_*.mrc")) if args.data.is_dir() else []
        if not mrcs:
            print(f"no polnet tomograms under {args.data}: skipping that part (see its README)")
        for mrc in mrcs:
            truth = mrc.with_name(f"{mrc.stem}_particles.csv")
            tables[mrc.stem] = score_tomogram(
                mrc, truth, args.out, workflows=args.workflows, radius=args.particle_radius, ribosome_class="4v4r"
            )
            print(f"\n### {mrc.stem} ({tables[mrc.stem].attrs['total_seconds']:.0f} s)\n")
            print(_markdown(tables[mrc.stem]))
    if args.simulated:
        for name, config in SIMULATED.items():
            mrc, truth, _ = save_simulation(simulate_tomogram(config), args.out / "data", name)
            radius = float(np.median(simulate_tomogram(config).truth["radius_angstrom"]))
            tables[name] = score_tomogram(
                mrc, truth, args.out, workflows=args.workflows, radius=radius, ribosome_class=None
            )
            print(f"\n### {name} ({tables[name].attrs['total_seconds']:.0f} s)\n")
            print(_markdown(tables[name]))
    for group, names in (
        ("polnet tomo_01-03", [n for n in tables if n.startswith("tomo") and not Path(args.data, f"{n}_gold.csv").is_file()]),
        ("simulated", [n for n in tables if n.startswith("sim")]),
    ):
        if names:
            print(f"\n### median over {group}: {', '.join(names)}\n")
            print(_markdown(_median(tables, names)))


def _median(tables: dict[str, pd.DataFrame], names: list[str]) -> pd.DataFrame:
    stacked = pd.concat([tables[n].select_dtypes("number") for n in names], keys=names)
    return stacked.groupby(level=1).median().sort_values("f1", ascending=False)


def _markdown(table: pd.DataFrame) -> str:
    columns = [
        c
        for c in ("n_picks", "precision", "recall", "f1", "relative_recall", "rr_ribosome", "seconds", "on_gold")
        if c in table.columns
    ]
    columns += [c for c in table.columns if c.startswith("recall[")]
    view = table[columns].sort_values("f1", ascending=False)
    head = "| workflow | " + " | ".join(columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(_fmt(v) for v in row) + " |" for name, row in view.iterrows()]
    return "\n".join([head, rule, *rows])


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "—" if np.isnan(value) else f"{value:.2f}"
    return str(value)


if __name__ == "__main__":
    main()
