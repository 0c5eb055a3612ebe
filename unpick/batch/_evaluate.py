"""Scoring a whole batch against a folder of ground truth: per tomogram and pooled per workflow."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._shared import UnpickInputError
from ..evaluate import counts_to_scores, evaluate_workflows, relative_recall_from
from ..io import atomic_write, read_picks_csv, read_truth
from ..io import tomogram_name

logger = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.csv"
POOLED = "(all)"
TRUTH_SUFFIXES = (".csv", ".tsv", ".star", ".json", ".ndjson", ".jsonl")


def truth_files(truth_dir: str | os.PathLike) -> dict[str, Path]:
    """Ground-truth file per tomogram name (file stem without ``rec_``) in ``truth_dir``.

    Raises
    ------
    UnpickInputError
        If ``truth_dir`` is not a folder, holds no truth file, or two files share a name.
    """
    root = Path(truth_dir)
    if not root.is_dir():
        raise UnpickInputError(f"{root}: truth directory (--truth) is not a folder; pass the folder of truth files")
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.suffix.lower() not in TRUTH_SUFFIXES or path.name.startswith("."):
            continue
        name = tomogram_name(path)
        if name in found:
            raise UnpickInputError(f"{path} and {found[name]} are both ground truth for '{name}'; keep one")
        found[name] = path
    if not found:
        raise UnpickInputError(
            f"{root}: no ground-truth files ({', '.join(TRUTH_SUFFIXES)}) found; name them after the tomograms"
        )
    return found


def evaluate_batch(
    out_dir: Path,
    rows: Sequence[dict[str, Any]],
    truth: dict[str, Path],
    *,
    match_radius_angstrom: float | None = None,
) -> pd.DataFrame:
    """Score every finished tomogram's picks and pool them per workflow; write ``OUT/evaluation.csv``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Batch output folder.
    rows : sequence of dict
        Summary rows (manifest records): finished ones carry ``picks_files``, ``shape_zyx``,
        ``voxel_size_angstrom`` and optionally ``pick_z_range``.
    truth : dict
        Tomogram name -> ground-truth file (from :func:`truth_files`).
    match_radius_angstrom : float, optional
        Match radius in Å (default that of :func:`unpick.evaluate.evaluate_workflows`).

    Returns
    -------
    pandas.DataFrame
        One row per (tomogram, workflow) from ``evaluate_workflows`` plus ``n_truth``, then one
        pooled row per workflow with ``tomogram == '(all)'``: TP/FP/FN summed over tomograms,
        precision/recall/F1 of the sums, and relative recall from the pooled recall and the
        truth-weighted random recall. A tomogram without truth, or whose truth cannot be read,
        is logged and left out.
    """
    tables = []
    for row in rows:
        if row["status"] not in ("done", "skipped") or not row.get("picks_files"):
            continue
        name = row["tomogram"]
        if name not in truth:
            logger.warning("%s: no ground-truth file; left out of the evaluation", name)
            continue
        shape = tuple(int(n) for n in row["shape_zyx"])
        voxel = float(row["voxel_size_angstrom"])
        try:
            points = read_truth(truth[name], voxel_size_angstrom=voxel, volume_shape_zyx=shape)
        except UnpickInputError as err:
            logger.warning("%s: ground truth not used: %s", name, err)
            continue
        picks = {wf: read_picks_csv(out_dir / name / rel) for wf, rel in row["picks_files"].items()}
        z_range = row.get("pick_z_range")
        table = evaluate_workflows(
            picks, points, voxel_size_angstrom=voxel, match_radius_angstrom=match_radius_angstrom,
            volume_shape_zyx=shape, z_range=tuple(z_range) if z_range else None,
        )
        table = table.reset_index()
        table.insert(0, "tomogram", name)
        table["n_truth"] = table["tp"] + table["fn"]
        tables.append(table)
    if not tables:
        logger.warning("evaluation: no finished tomogram has ground truth; nothing scored")
        return pd.DataFrame()
    per_tomogram = pd.concat(tables, ignore_index=True)
    result = pd.concat([per_tomogram, _pooled(per_tomogram)], ignore_index=True)
    with atomic_write(out_dir / EVALUATION_FILE) as tmp:
        result.to_csv(tmp, index=False)
    for pooled in result[result["tomogram"] == POOLED].itertuples():
        logger.info("evaluation %s over %d tomograms: precision %.3f, recall %.3f, F1 %.3f",
                    pooled.workflow, len(tables), pooled.precision, pooled.recall, pooled.f1)
    return result


def _pooled(per_tomogram: pd.DataFrame) -> pd.DataFrame:
    """One row per workflow from the summed counts of its tomograms."""
    rows = []
    for workflow, group in per_tomogram.groupby("workflow", sort=False):
        tp, n_picks, n_truth = (int(group[c].sum()) for c in ("tp", "n_picks", "n_truth"))
        scores = counts_to_scores(tp, n_picks, n_truth)
        random_recall = float(np.average(group["random_recall"], weights=group["n_truth"])) if n_truth else np.nan
        rows.append({
            "tomogram": POOLED, "workflow": workflow, "n_picks": n_picks, "n_truth": n_truth,
            **{k: scores[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
            "random_recall": random_recall,
            "relative_recall": relative_recall_from(scores["recall"], random_recall) if n_truth else np.nan,
            "baseline": group["baseline"].iloc[0],
        })
    return pd.DataFrame(rows)
