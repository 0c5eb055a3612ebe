"""The demo: simulate a tomogram with known particles, run workflows, score them against baselines."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .._shared import picks_zyx
from ..evaluate import (
    BASELINE_NAMES,
    baseline_picks,
    evaluate_workflows,
    format_table,
    verdict,
)
from ..io import read_truth
from ..synthetic import SimulationConfig, simulate_tomogram
from ._config import PickConfig
from ._names import DEFAULT_WORKFLOW
from ._files import (
    save_simulation,
    write_evaluation,
    write_picks_report,
    write_workflow_scores,
)
from ._run import PickRun, run_pick

logger = logging.getLogger(__name__)

# Small enough for a laptop CPU in a few minutes, crowded and noisy enough that workflows differ.
DEMO_SIMULATION = SimulationConfig(shape_zyx=(64, 160, 160), n_particles=60, noise=1.0, seed=0)
DEMO_NAME = "demo"


@dataclass
class DemoResult:
    """The evaluation table (workflows and baselines), its verdict and where everything went."""

    table: pd.DataFrame
    verdict: str
    pick_run: PickRun
    paths: dict[str, Path]

    def text(self) -> str:
        return f"{format_table(self.table)}\n{self.verdict}"


def run_demo(
    out_dir: str | Path,
    *,
    simulation: SimulationConfig = DEMO_SIMULATION,
    workflows: str | Iterable[str] = "all",
    config: PickConfig | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> DemoResult:
    """Simulate, pick with ``workflows``, evaluate at 100 Å next to random and DoG picks, draw reports.

    The particle radius given to the pickers is the median radius of the simulated classes: the
    "expected particle size" a user would type, not a peek at positions.
    """
    out_dir = Path(out_dir)
    tomogram = simulate_tomogram(simulation)
    mrc_path, truth_path, _ = save_simulation(tomogram, out_dir / "data", DEMO_NAME)
    voxel = simulation.voxel_size_angstrom
    radius_angstrom = float(np.median(tomogram.truth["radius_angstrom"]))
    config = (config or PickConfig()).with_particle_radius(radius_angstrom)
    logger.info("demo: %s, %d particles, expected radius %.0f Å", mrc_path, len(tomogram.truth), radius_angstrom)
    run = run_pick(mrc_path, out_dir / "picks", workflows=workflows, config=config, device=device, progress=progress)

    truth = read_truth(truth_path, voxel_size_angstrom=voxel)
    n_random = int(round(float(np.median([len(p) for p in run.result.picks.values()]))))
    baselines = baseline_picks(
        tomogram.volume,
        n_random=n_random,
        voxel_size_angstrom=voxel,
        particle_radius_angstrom=radius_angstrom,
        rng=simulation.seed,
    )
    table = evaluate_workflows(
        {**run.result.picks, **baselines},
        truth,
        voxel_size_angstrom=voxel,
        volume_shape_zyx=tomogram.volume.shape,
        rng=simulation.seed,
    )
    line = verdict(table)
    paths = {"tomogram": mrc_path, "truth": truth_path, "picks": run.out_dir}
    paths["scores_csv"], paths["scores_json"] = write_evaluation(
        table,
        out_dir / "scores",
        report={"verdict": line, "simulation": simulation.to_dict(), "particle_radius_angstrom": radius_angstrom},
    )
    paths["workflow_scores_png"] = write_workflow_scores(
        out_dir / "workflow_scores.png", table, title="demo: F1 and relative recall at 100 Å"
    )
    shown = _report_workflow(table)
    paths["report_png"] = write_picks_report(
        out_dir / "report.png",
        tomogram.volume,
        run.result.picks[shown],
        radius_voxels=radius_angstrom / voxel,
        truth_zyx=picks_zyx(truth),
        match_radius_voxels=100.0 / voxel,
        title=f"demo: {shown}",
    )
    return DemoResult(table=table, verdict=line, pick_run=run, paths=paths)


def _report_workflow(table: pd.DataFrame) -> str:
    """The default workflow when it ran, else the best-F1 workflow (never a baseline)."""
    names = [n for n in table.index if n not in BASELINE_NAMES]
    if DEFAULT_WORKFLOW in names:
        return DEFAULT_WORKFLOW
    return str(table.loc[names, "f1"].idxmax())
