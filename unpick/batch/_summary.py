"""Dataset-level outputs of a batch: ``summary.csv`` and one merged RELION STAR file per workflow."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_write, read_picks_csv, write_picks_star

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.csv"
MERGED_DIR = "merged"
STATUSES = ("done", "skipped", "failed", "pending")
_FIRST_COLUMNS = ["tomogram", "status", "error", "seconds"]
_LAST_COLUMNS = ["host", "input"]


def summary_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per tomogram: status, error, seconds, ``n_<workflow>`` pick counts, host, input.

    ``rows`` are manifest records (or minimal dicts for pending tomograms) carrying a
    ``status`` from :data:`STATUSES`; counts missing for a tomogram are empty.
    """
    workflows = list(dict.fromkeys(wf for row in rows for wf in row.get("counts", {})))
    table = pd.DataFrame(
        {
            "tomogram": [row["tomogram"] for row in rows],
            "status": [row["status"] for row in rows],
            "error": [row.get("error", "") for row in rows],
            "seconds": [row.get("seconds", np.nan) for row in rows],
            **{f"n_{wf}": pd.array([row.get("counts", {}).get(wf) for row in rows], dtype="Int64") for wf in workflows},
            "host": [row.get("host", "") for row in rows],
            "input": [row.get("input", "") for row in rows],
        },
        columns=[*_FIRST_COLUMNS, *(f"n_{wf}" for wf in workflows), *_LAST_COLUMNS],
    )
    return table


def write_summary(out_dir: Path, table: pd.DataFrame) -> Path:
    """Write ``OUT/summary.csv`` atomically."""
    path = out_dir / SUMMARY_FILE
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def write_merged_star(out_dir: Path, rows: Sequence[dict[str, Any]]) -> list[Path]:
    """Write ``OUT/merged/<workflow>.star`` (RELION 5, ``rlnTomoName`` per row) for finished rows.

    Each row's picks CSV is read back from ``OUT/<tomogram>/<picks_file>``, so tomograms
    finished by an earlier run are included. Tomograms of different shapes share one file: each
    one's coordinates are shifted so that the writer's centring on one reference shape gives
    the centred coordinates of its own shape (RELION 5 centres every tomogram separately).
    """
    finished = [row for row in rows if row["status"] in ("done", "skipped")]
    workflows = list(dict.fromkeys(wf for row in finished for wf in row.get("picks_files", {})))
    if not finished or not workflows:
        return []
    merged_dir = out_dir / MERGED_DIR
    merged_dir.mkdir(exist_ok=True)
    reference = np.asarray(finished[0]["shape_zyx"], dtype=float)
    written = []
    for wf in workflows:
        tables = []
        for row in finished:
            if wf not in row.get("picks_files", {}):
                continue
            picks = read_picks_csv(out_dir / row["tomogram"] / row["picks_files"][wf])
            if picks.empty:
                continue
            picks = picks.assign(tomogram=row["tomogram"], voxel_size_angstrom=float(row["voxel_size_angstrom"]))
            shift = (reference - np.asarray(row["shape_zyx"], dtype=float)) / 2  # zyx
            for axis, delta in zip("zyx", shift):
                picks[axis] = picks[axis] + delta
            tables.append(picks)
        if not tables:
            logger.info("%s: no picks in any tomogram; no merged STAR file", wf)
            continue
        merged = pd.concat(tables, ignore_index=True)
        path = write_picks_star(merged_dir / f"{wf}.star", merged, volume_shape_zyx=tuple(int(n) for n in reference))
        logger.info("%s: %d picks from %d tomograms in %s", wf, len(merged), len(tables), path)
        written.append(path)
    return written
