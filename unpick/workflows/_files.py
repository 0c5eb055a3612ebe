"""Writing orchestration results to disk: simulated tomograms, evaluation tables, picture reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluate import match_points
from ..io import atomic_write, write_mrc
from ..report import plot_picks_report, plot_workflow_scores
from ..synthetic import SyntheticTomogram
from ._record import write_json


def save_simulation(tomogram: SyntheticTomogram, out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """Write ``NAME.mrc``, ``NAME_particles.csv`` (voxels and Å, class, radius) and ``NAME_config.yaml``."""
    config = tomogram.config
    out_dir.mkdir(parents=True, exist_ok=True)
    mrc_path = out_dir / f"{name}.mrc"
    truth_path = out_dir / f"{name}_particles.csv"
    config_path = out_dir / f"{name}_config.yaml"
    write_mrc(mrc_path, tomogram.volume, voxel_size_angstrom=config.voxel_size_angstrom)
    truth = tomogram.truth[["x", "y", "z"]].copy()
    for axis in ("x", "y", "z"):
        truth[f"{axis}_angstrom"] = truth[axis] * config.voxel_size_angstrom
    truth["class"] = tomogram.truth["class"]
    truth["radius_angstrom"] = tomogram.truth["radius_angstrom"]
    truth["voxel_size_angstrom"] = config.voxel_size_angstrom
    with atomic_write(truth_path) as tmp:
        truth.to_csv(tmp, index=False)
    with atomic_write(config_path) as tmp:
        Path(tmp).write_text(config.to_yaml(), encoding="utf-8")
    return mrc_path, truth_path, config_path


def write_evaluation(table: pd.DataFrame, prefix: str | Path, *, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write an evaluation table as ``PREFIX.csv`` and, with ``report`` (settings, verdict), ``PREFIX.json``."""
    csv_path, json_path = Path(f"{prefix}.csv"), Path(f"{prefix}.json")
    rows = table.reset_index()
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    with atomic_write(csv_path) as tmp:
        table.to_csv(tmp)
    write_json(json_path, {**report, "rows": records})
    return csv_path, json_path


def write_picks_report(
    path: Path,
    volume: Any,
    picks: pd.DataFrame,
    *,
    radius_voxels: float,
    truth_zyx: np.ndarray | None = None,
    match_radius_voxels: float | None = None,
    title: str = "",
) -> Path:
    """PNG of one picks table over orthogonal slabs; matched/unmatched/missed colours when truth is given."""
    picks_zyx = picks[["z", "y", "x"]].to_numpy(dtype=np.float64)
    flags: dict[str, Any] = {}
    if truth_zyx is not None:
        matching = match_points(picks_zyx, truth_zyx, radius_voxels=match_radius_voxels or radius_voxels)
        matched_pred = np.zeros(len(picks_zyx), bool)
        matched_pred[matching.pred_index] = True
        matched_truth = np.zeros(len(truth_zyx), bool)
        matched_truth[matching.truth_index] = True
        flags = {"truth_zyx": truth_zyx, "matched_pred": matched_pred, "matched_truth": matched_truth}
    with atomic_write(path) as tmp:
        plot_picks_report(
            volume,
            picks_zyx,
            radius_voxels=radius_voxels,
            path=tmp,
            scores=picks["score"].to_numpy(),
            title=title,
            **flags,
        )
    return path


def write_workflow_scores(path: Path, table: pd.DataFrame, *, title: str = "") -> Path:
    """Bar chart of F1 and relative recall per workflow (baselines grey), written atomically."""
    with atomic_write(path) as tmp:
        plot_workflow_scores(table, path=tmp, title=title)
    return path
