"""One evaluation table for many workflows (and the baselines), plus its plain-text rendering."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._shared import UnpickInputError, as_rng, check_positive, check_z_range, picks_zyx
from .._shared import check_shape
from ._baselines import in_z_range
from ._matching import as_radius
from ._metrics import per_class_recall, score_points
from ._pr import pr_curve
from ._relative_recall import relative_recall

logger = logging.getLogger(__name__)

DEFAULT_MATCH_RADIUS_ANGSTROM = 100.0  # PickET's setting for simulated data (125 Å for real data)
BASELINE_NAMES = ("random", "dog")
SHOWN_COLUMNS = (
    "n_picks", "tp", "fp", "fn", "precision", "recall", "f1", "fbeta", "average_precision",
    "relative_recall", "random_recall", "margin_f1_vs_random",
)  # fmt: skip
TABLE_COLUMNS = (
    "n_picks", "tp", "fp", "fn", "precision", "recall", "f1", "fbeta", "average_precision",
    "relative_recall", "random_recall", "random_f1", "margin_f1_vs_random", "baseline",
)  # fmt: skip


def match_radius_voxels(
    truth: pd.DataFrame,
    *,
    voxel_size_angstrom: float,
    match_radius_angstrom: float | None,
    match_radius_fraction: float | None,
) -> np.ndarray:
    """Per-truth match radius in voxels: a fixed radius in Å (default 100 Å) or a fraction of
    each truth point's ``radius_angstrom``."""
    if match_radius_angstrom is not None and match_radius_fraction is not None:
        raise UnpickInputError(
            "match radius: give match_radius_angstrom (--match-radius) or match_radius_fraction "
            "(--match-radius-fraction), not both"
        )
    if match_radius_fraction is None:
        radius = DEFAULT_MATCH_RADIUS_ANGSTROM if match_radius_angstrom is None else match_radius_angstrom
        radius = check_positive(radius, "match_radius_angstrom", unit="Å")
        return np.full(len(truth), radius / voxel_size_angstrom)
    fraction = check_positive(match_radius_fraction, "match_radius_fraction")
    if "radius_angstrom" not in truth.columns:
        raise UnpickInputError(
            f"match_radius_fraction: the truth table has no radius_angstrom column (found "
            f"{', '.join(map(str, truth.columns))}); give a radius in Å (--match-radius) instead"
        )
    radius = truth["radius_angstrom"].to_numpy(dtype=np.float64) * fraction / voxel_size_angstrom
    return as_radius(radius, len(truth), name="truth radius_angstrom × match_radius_fraction")


def select_classes(truth: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Rows of ``truth`` whose ``class`` is one of ``classes``: the truth to score picks against
    when only some classes are annotated (read relative recall then, not precision).

    Parameters
    ----------
    truth : pandas.DataFrame
        A truth table with a ``class`` column (``unpick.io.read_truth``); labels are compared as
        text, so a class ``1`` is selected by ``"1"`` or ``1``.
    classes : str or sequence of str
        The classes to keep; one the table does not have is an error listing those it has.

    Returns
    -------
    pandas.DataFrame
        The kept rows, in their order, with a fresh index.
    """
    if "class" not in truth.columns:
        raise UnpickInputError(
            f"classes: the truth table has no class column (found {', '.join(map(str, truth.columns))}); "
            "drop the class filter"
        )
    labels = truth["class"].astype(str)
    present = sorted(set(labels))
    wanted = [str(c) for c in ([classes] if isinstance(classes, str) else classes)]
    unknown = [c for c in wanted if c not in present]
    if unknown:
        raise UnpickInputError(
            f"classes: {', '.join(unknown)} not in the truth table; it has {', '.join(present) or 'no classes'}, "
            f"name some of those"
        )
    return truth[labels.isin(wanted).to_numpy()].reset_index(drop=True)


def evaluate_workflows(
    picks_by_name: Mapping[str, pd.DataFrame],
    truth: pd.DataFrame,
    *,
    voxel_size_angstrom: float,
    match_radius_angstrom: float | None = None,
    match_radius_fraction: float | None = None,
    volume_shape_zyx: Any = None,
    z_range: tuple[int, int] | None = None,
    classes: Sequence[str] | None = None,
    beta: float = 1.0,
    n_random_draws: int = 20,
    rng: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Score several picks tables against one ground truth: one row per workflow.

    Parameters
    ----------
    picks_by_name : mapping of str to pandas.DataFrame
        Picks tables (``x, y, z`` in voxels; ``score`` used for the PR curve when present, else
        every pick scores 1). Include the baselines from :func:`baseline_picks` under the names
        "random" and "dog" so the table shows them (``baseline`` column).
    truth : pandas.DataFrame
        Ground truth: ``x, y, z`` in voxels, optional ``class`` and ``radius_angstrom``.
    voxel_size_angstrom : float
        Voxel size in Å (converts the match radius to voxels).
    match_radius_angstrom : float, optional
        Match radius in Å; default 100 Å (PickET, simulated data; it used 125 Å for real data).
    match_radius_fraction : float, optional
        Instead, a fraction of each truth point's ``radius_angstrom``.
    volume_shape_zyx : (3,) ints, optional
        Tomogram shape; needed for the random draws of relative recall (without it the
        ``relative_recall``, ``random_*`` and margin columns are NaN) and for ``z_range``.
    z_range : (z0, z1), optional
        Half-open slice range: picks and truth outside it are dropped and random draws stay in it.
    classes : sequence of str, optional
        Keep only these truth classes (an incomplete annotation: read relative recall, since
        precision then counts correct picks of other particles as false).
    beta : float
        F-beta weight for the ``fbeta`` column.
    n_random_draws : int
        Random draws averaged for relative recall.
    rng : int, Generator or None
        Seed; every workflow gets the same random draws for a given pick count.

    Returns
    -------
    pandas.DataFrame
        Index ``workflow`` (input order); columns ``n_picks, tp, fp, fn, precision, recall, f1,
        fbeta, average_precision, relative_recall, random_recall, random_f1,
        margin_f1_vs_random`` (F1 minus the mean F1 of as many random picks), ``baseline``
        (name is "random" or "dog"), and ``recall[<class>]`` per truth class when truth has a
        ``class`` column. Counts come from the exact one-to-one matching; AP from
        :func:`pr_curve`.
    """
    voxel = check_positive(voxel_size_angstrom, "voxel_size_angstrom", unit="Å")
    if not picks_by_name:
        raise UnpickInputError("picks_by_name: expected at least one picks table, got none")
    truth_pts = picks_zyx(truth)
    if classes is not None:
        truth = select_classes(truth, classes)
        truth_pts = picks_zyx(truth)
    shape = None if volume_shape_zyx is None else check_shape(volume_shape_zyx, "volume_shape_zyx")
    if z_range is not None:
        if shape is None:
            raise UnpickInputError("z_range: needs volume_shape_zyx (the tomogram shape) to check the slab")
        z_range = check_z_range(z_range, shape[0])
        keep = in_z_range(truth_pts, z_range)
        truth, truth_pts = truth[keep].reset_index(drop=True), truth_pts[keep]
    radius = match_radius_voxels(
        truth,
        voxel_size_angstrom=voxel,
        match_radius_angstrom=match_radius_angstrom,
        match_radius_fraction=match_radius_fraction,
    )
    truth_classes = truth["class"].astype(str).to_numpy() if "class" in truth.columns else None
    seed = int(as_rng(rng).integers(2**63 - 1))
    rows = []
    for name, picks in picks_by_name.items():
        try:
            rows.append(
                _score_row(
                    str(name),
                    picks,
                    truth_pts,
                    truth_classes,
                    radius,
                    beta=beta,
                    shape=shape,
                    z_range=z_range,
                    n_random_draws=n_random_draws,
                    seed=seed,
                )  # fmt: skip
            )
        except UnpickInputError as err:
            raise UnpickInputError(f"picks {name!r}: {err}") from err
    table = pd.DataFrame(rows).set_index("workflow")
    class_columns = [c for c in table.columns if c.startswith("recall[")]
    return table[list(TABLE_COLUMNS) + class_columns]


def _score_row(
    name: str,
    picks: pd.DataFrame,
    truth_pts: np.ndarray,
    truth_classes: np.ndarray | None,
    radius: np.ndarray,
    *,
    beta: float,
    shape: tuple[int, int, int] | None,
    z_range: tuple[int, int] | None,
    n_random_draws: int,
    seed: int,
) -> dict[str, Any]:
    """One row of :func:`evaluate_workflows`."""
    coords = picks_zyx(picks)
    scores = picks["score"].to_numpy(dtype=np.float64) if "score" in picks.columns else np.ones(len(coords))
    if z_range is not None:
        keep = in_z_range(coords, z_range)
        coords, scores = coords[keep], scores[keep]
    row: dict[str, Any] = {"workflow": name}
    counts = score_points(coords, truth_pts, radius_voxels=radius, beta=beta)
    row.update({key: counts[key] for key in ("tp", "fp", "fn", "precision", "recall", "f1", "fbeta")})
    row["n_picks"] = counts["n_pred"]
    row["average_precision"] = pr_curve(coords, scores, truth_pts, radius_voxels=radius).average_precision
    if shape is None:
        row.update(relative_recall=math.nan, random_recall=math.nan, random_f1=math.nan)
    else:
        rr = relative_recall(
            coords, truth_pts, radius_voxels=radius, region_shape_zyx=shape, z_range=z_range,
            n_draws=n_random_draws, rng=seed,
        )  # fmt: skip
        row.update(
            relative_recall=rr["relative_recall"],
            random_recall=rr["random_recall_mean"],
            random_f1=rr["random_f1_mean"],
        )
    row["margin_f1_vs_random"] = row["f1"] - row["random_f1"]
    row["baseline"] = name in BASELINE_NAMES
    if truth_classes is not None:
        per_class = per_class_recall(coords, truth_pts, truth_classes, radius_voxels=radius)
        row.update({f"recall[{cls}]": value["recall"] for cls, value in per_class.items()})
    return row


def format_table(table: pd.DataFrame, *, sort_by: str = "f1", columns: Sequence[str] | None = None) -> str:
    """Plain-text rendering of an :func:`evaluate_workflows` table, best ``sort_by`` first.

    ``columns`` default to the main scores (per-class recalls are in the table, not shown).
    Baseline rows are marked with ``*``; NaN prints as ``-``.
    """
    for name, wanted in (("sort_by", [sort_by]), ("columns", list(columns or []))):
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise UnpickInputError(
                f"{name}: {', '.join(missing)} not a column of the table ({', '.join(table.columns)})"
            )
    ordered = table.sort_values(sort_by, ascending=False, kind="stable")
    shown = list(columns) if columns is not None else [c for c in SHOWN_COLUMNS if c in ordered.columns]
    names = [
        f"{name} *" if is_base else str(name) for name, is_base in zip(ordered.index, ordered["baseline"], strict=True)
    ]
    cells = [[_cell(ordered.at[idx, col]) for col in shown] for idx in ordered.index]
    header = ["workflow", *shown]
    body = [[name, *row] for name, row in zip(names, cells, strict=True)]
    widths = [max(len(str(r[k])) for r in [header, *body]) for k in range(len(header))]
    lines = [
        "  ".join(
            str(v).ljust(w) if k == 0 else str(v).rjust(w) for k, (v, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *body]
    ]
    if ordered["baseline"].any():
        lines.append("* baseline (random: uniform random points; dog: difference-of-Gaussians blob picker)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """One table cell: integers as is, floats with 3 decimals, NaN as '-'."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    return "-" if math.isnan(value) else f"{value:.3f}"


def verdict(table: pd.DataFrame, *, metric: str = "f1") -> str:
    """One line naming the best non-baseline workflow by ``metric`` and its margins over the baselines.

    e.g. ``best: gabor-kmeans-ws F1 0.710 (+0.050 over DoG, +0.600 over random)``.
    """
    if metric not in table.columns:
        raise UnpickInputError(f"metric: expected a column of the table ({', '.join(table.columns)}), got {metric!r}")
    label = {"f1": "F1", "fbeta": "F-beta", "relative_recall": "relative recall"}.get(metric, metric)
    candidates = table[~table["baseline"].astype(bool)][metric].dropna()
    if candidates.empty:
        return f"best: no workflow to compare (only baselines, or no {label} values)"
    best = str(candidates.idxmax())
    value = float(candidates.max())
    margins = [
        f"{value - float(table.at[base, metric]):+.3f} over {'DoG' if base == 'dog' else base}"
        for base in ("dog", "random")
        if base in table.index and not math.isnan(float(table.at[base, metric]))
    ]
    suffix = f" ({', '.join(margins)})" if margins else ""
    return f"best: {best} {label} {value:.3f}{suffix}"
