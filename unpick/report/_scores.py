"""The workflow score bars: one horizontal bar per workflow and metric, baselines in grey.

Built like the picks report (``_figures``): a private Agg ``Figure``, no ``pyplot`` state.
``workflow_scores_figure`` returns the Figure; ``plot_workflow_scores`` writes it as PNG.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .._shared import UnpickInputError
from ._figures import DPI, _output_path

logger = logging.getLogger(__name__)

BASELINES = ("random", "dog")
METRIC_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
BASELINE_GREYS = ("#6e6e6e", "#a8a8a8", "#8a8a8a", "#c4c4c4", "#5a5a5a")
METRIC_LABELS = {
    "f1": "F1",
    "relative_recall": "relative recall",
    "precision": "precision",
    "recall": "recall",
}


def workflow_scores_figure(
    table: pd.DataFrame,
    *,
    metrics: tuple[str, ...] = ("f1", "relative_recall"),
    title: str = "",
    ax: Any = None,
) -> Figure:
    """Build a horizontal bar chart of ``metrics`` per workflow, best ``metrics[0]`` on top.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per workflow, named by a ``workflow`` column or else by the index; one numeric
        column per metric (NaN draws no bar).
    metrics : tuple of str
        Columns to draw, grouped per workflow; rows are sorted by the first (descending, NaN last).
    title : str
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (of a figure of yours, laid out by you) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the one holding ``ax``. Bars are patches with gid ``"<workflow>|<metric>"``; baseline rows (``random``, ``dog``,
        case-insensitive) are grey, and the ``dog`` values are dashed vertical lines with gid
        ``"dog|<metric>"``.
    """
    names, values = _workflow_table(table, metrics)
    order = sorted(range(len(names)), key=lambda i: (math.isnan(values[i, 0]), -np.nan_to_num(values[i, 0])))
    n_rows, n_metrics = len(names), len(metrics)
    if ax is None:
        fig = Figure(figsize=(8.0, max(3.0, 1.4 + 0.22 * n_rows * n_metrics + 0.1 * n_rows)), dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    height = 0.8 / n_metrics
    for rank, row in enumerate(order):
        baseline = names[row].lower() in BASELINES
        for m, metric in enumerate(metrics):
            value = values[row, m]
            if math.isnan(value):
                continue
            colour = (
                BASELINE_GREYS[m % len(BASELINE_GREYS)]
                if baseline
                else METRIC_COLOURS[m % len(METRIC_COLOURS)]
            )
            y = rank - 0.4 + height * (m + 0.5)
            (bar,) = ax.barh(y, value, height=height * 0.95, color=colour)
            bar.set_gid(f"{names[row]}|{metric}")
            inside = value >= 0.15  # label inside the bar end, clear of the reference lines
            ax.text(
                value - 0.01 if inside else value + 0.01,
                y,
                f"{value:.2f}",
                va="center",
                ha="right" if inside else "left",
                fontsize=7,
                color="white" if inside else "black",
            )
    dog = [i for i, name in enumerate(names) if name.lower() == "dog"]
    handles = [
        Patch(color=METRIC_COLOURS[m % len(METRIC_COLOURS)], label=_metric_label(k))
        for m, k in enumerate(metrics)
    ]
    if any(name.lower() in BASELINES for name in names):
        handles.append(Patch(color=BASELINE_GREYS[0], label="baseline (random, DoG)"))
    for m, metric in enumerate(metrics):
        if dog and not math.isnan(values[dog[0], m]):
            line = ax.axvline(
                values[dog[0], m], color=METRIC_COLOURS[m % len(METRIC_COLOURS)], ls="--", lw=1.2
            )
            line.set_gid(f"dog|{metric}")
            handles.append(
                Line2D([], [], color=line.get_color(), ls="--", label=f"DoG {_metric_label(metric)}")
            )
    ax.set_yticks(range(n_rows), [names[i] for i in order], fontsize=8)
    ax.set_ylim(n_rows - 0.5, -0.5)
    finite = values[np.isfinite(values)]
    ax.set_xlim(0.0, max(1.0, float(finite.max()) if finite.size else 1.0) * 1.08)
    ax.set_xlabel("score (0–1)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="lower right", framealpha=0.9)
    ax.set_title(title or f"{', '.join(_metric_label(m) for m in metrics)} per workflow")
    if len(fig.axes) == 1:  # a figure of its own (a caller's own layout is left alone)
        fig.tight_layout()
    return fig


def plot_workflow_scores(
    table: pd.DataFrame,
    *,
    path: str | Path,
    metrics: tuple[str, ...] = ("f1", "relative_recall"),
    title: str = "",
) -> Path:
    """Write the workflow bar chart (see :func:`workflow_scores_figure`) as a PNG; return the path."""
    path = _output_path(path)
    fig = workflow_scores_figure(table, metrics=metrics, title=title)
    fig.savefig(path, format="png", dpi=DPI)
    logger.debug("wrote workflow scores %s", path)
    return path


def _workflow_table(table: Any, metrics: Any) -> tuple[list[str], np.ndarray]:
    if not isinstance(table, pd.DataFrame):
        raise UnpickInputError(
            f"table: expected a pandas DataFrame (one row per workflow), got {type(table).__name__}"
        )
    if isinstance(metrics, str) or not metrics:
        raise UnpickInputError(f"metrics: expected a non-empty tuple of column names, got {metrics!r}")
    if len(table) == 0:
        raise UnpickInputError("table: no rows; expected one row per workflow")
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise UnpickInputError(
            f"table: missing metric column(s) {', '.join(missing)}; has {', '.join(map(str, table.columns))}"
        )
    names = [str(n) for n in (table["workflow"] if "workflow" in table.columns else table.index)]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UnpickInputError(
            f"table: workflow names must be unique, got repeats of {', '.join(duplicated)}"
        )
    try:
        values = table[list(metrics)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"table: metric columns {', '.join(metrics)} must be numeric") from err
    return names, values


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)
