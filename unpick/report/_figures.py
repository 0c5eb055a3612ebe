"""Picture reports of picks: orthogonal slabs with pick circles, and a score histogram.

Figures are built on a private ``matplotlib.figure.Figure`` with the Agg canvas: no ``pyplot``
state, no display, nothing shared between calls. ``picks_figure`` returns the Figure (tests inspect
its artists); ``plot_picks_report`` writes it as PNG. The workflow score bars are ``_scores``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from matplotlib.ticker import MaxNLocator

from .._shared import UnpickInputError, check_positive, check_volume
from ..evaluate import counts_to_scores
from ._slabs import VIEW_AXES, check_thickness, resolve_center, slab_view

logger = logging.getLogger(__name__)

DPI = 100
PICKS_FIGSIZE_INCHES = (13.0, 8.0)  # -> 1300 x 800 pixels at DPI
# category -> (edge colour, legend label); colours read on a grey tomogram
CATEGORIES = {
    "matched": ("#3ee83e", "matched pick (TP)"),
    "false_positive": ("#ff5a1f", "unmatched pick (FP)"),
    "missed": ("#19d3ff", "missed truth (FN)"),
    "pick": ("#ffd500", "pick"),
}
# panel name -> (horizontal, vertical) zyx axes of the displayed image
PANEL_AXES = {"xy": (2, 1), "xz": (2, 0), "yz": (0, 1)}
AXIS_NAMES = "zyx"


def picks_figure(
    volume: Any,
    picks_zyx: Any,
    *,
    radius_voxels: float,
    scores: Any = None,
    truth_zyx: Any = None,
    matched_pred: Any = None,
    matched_truth: Any = None,
    slab_thickness_voxels: int | None = None,
    center_zyx: Any = None,
    title: str = "",
) -> Figure:
    """Build the picks report Figure: XY, XZ, YZ slabs with pick circles, histogram, summary.

    Parameters
    ----------
    volume : array-like, shape (Z, Y, X)
        The tomogram; read slab by slab (memory-mapped arrays are never copied whole).
    picks_zyx : array-like, shape (N, 3)
        Pick centres in voxels, zyx order (voxel ``[iz, iy, ix]`` is centred at ``(iz, iy, ix)``).
    radius_voxels : float
        Particle radius in voxels: circle size, and the default slab thickness.
    scores : array-like, shape (N,), optional
        Pick scores; adds a histogram panel (split into matched / unmatched when truth is given).
    truth_zyx : array-like, shape (M, 3), optional
        Ground-truth centres in voxels, zyx; needs ``matched_pred`` and ``matched_truth``.
    matched_pred, matched_truth : array-like of bool, shapes (N,) and (M,)
        Which picks and which truth points one one-to-one matching paired (``unpick.evaluate.match_points``);
        precision, recall and F1 come from them through ``unpick.evaluate.counts_to_scores``.
    slab_thickness_voxels : int, optional
        Slices averaged per view; default ``round(radius_voxels)``. A point is drawn in a view when
        its centre lies inside that view's slab, with the radius of the sphere's cross-section at
        the slab's mid-plane (at least half the particle radius).
    center_zyx : sequence of 3 numbers, optional
        Voxel the three slabs pass through; default the volume centre.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Size ``PICKS_FIGSIZE_INCHES``. Axes carry gids ``"xy"``, ``"xz"``, ``"yz"``, ``"hist"``,
        ``"summary"``; each circle is a ``Circle`` patch whose gid is its category
        (``"matched"``, ``"false_positive"``, ``"missed"`` or ``"pick"``).
    """
    volume = check_volume(volume, name="volume", min_size=1, check_finite=False)
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    picks = _points(picks_zyx, "picks_zyx")
    n_picks = len(picks)
    scores = None if scores is None else _vector(scores, "scores", n_picks, "the picks", dtype=np.float64)
    points, flags, detection = _categorise(picks, truth_zyx, matched_pred, matched_truth)
    thickness = (
        max(1, round(radius)) if slab_thickness_voxels is None else check_thickness(slab_thickness_voxels)
    )
    center = resolve_center(center_zyx, volume.shape)

    fig = Figure(figsize=PICKS_FIGSIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(fig)
    panels = _panel_axes(fig, volume.shape)
    for name, ax in panels.items():
        _draw_slab(ax, name, volume, center, thickness, points, radius)
    right = fig.add_gridspec(2, 1, left=0.69, right=0.98, bottom=0.06, top=0.92, hspace=0.3)
    _draw_histogram(fig.add_subplot(right[0]), scores, flags)
    _draw_summary(fig.add_subplot(right[1]), points, detection, n_picks, thickness, radius)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def plot_picks_report(
    volume: Any,
    picks_zyx: Any,
    *,
    radius_voxels: float,
    path: str | Path,
    scores: Any = None,
    truth_zyx: Any = None,
    matched_pred: Any = None,
    matched_truth: Any = None,
    slab_thickness_voxels: int | None = None,
    center_zyx: Any = None,
    title: str = "",
) -> Path:
    """Write the picks report (see :func:`picks_figure`) as a PNG at ``path``; return the path.

    The PNG is ``PICKS_FIGSIZE_INCHES × DPI`` = 1300 × 800 pixels. ``path`` is written directly
    (the caller picks temporary names if it needs atomic writes); its folder must exist.
    """
    path = _output_path(path)
    fig = picks_figure(
        volume,
        picks_zyx,
        radius_voxels=radius_voxels,
        scores=scores,
        truth_zyx=truth_zyx,
        matched_pred=matched_pred,
        matched_truth=matched_truth,
        slab_thickness_voxels=slab_thickness_voxels,
        center_zyx=center_zyx,
        title=title,
    )
    fig.savefig(path, format="png", dpi=DPI)
    logger.debug("wrote picks report %s", path)
    return path


# --------------------------------------------------------------------------------------- helpers


def _points(points: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(
            f"{name}: expected an (N, 3) array of zyx voxel coordinates, got {points!r}"
        ) from err
    if array.size == 0:
        return np.zeros((0, 3))
    if array.ndim != 2 or array.shape[1] != 3:
        raise UnpickInputError(
            f"{name}: expected an (N, 3) array of zyx voxel coordinates, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise UnpickInputError(f"{name}: coordinates must be finite; drop the rows with NaN/inf")
    return array


def _vector(values: Any, name: str, n: int, what: str, *, dtype: type) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n:
        raise UnpickInputError(
            f"{name}: expected one value per point of {what} ({n}), got shape {array.shape}"
        )
    if dtype is bool and array.dtype != bool:
        raise UnpickInputError(f"{name}: expected booleans (matched or not), got dtype {array.dtype}")
    array = array.astype(dtype)
    if dtype is not bool and not np.all(np.isfinite(array)):
        raise UnpickInputError(f"{name}: values must be finite")
    return array


def _categorise(
    picks: np.ndarray, truth_zyx: Any, matched_pred: Any, matched_truth: Any
) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, Any] | None]:
    """Split picks and truth into ``{category: (K, 3) zyx}``.

    Also returns the picks' matched flags and the detection scores of the matching
    (``unpick.evaluate.counts_to_scores``), or None and None without truth.
    """
    if truth_zyx is None:
        if matched_pred is not None or matched_truth is not None:
            raise UnpickInputError(
                "matched_pred/matched_truth: given without truth_zyx; pass the truth points too"
            )
        return {"pick": picks}, None, None
    truth = _points(truth_zyx, "truth_zyx")
    if matched_pred is None or matched_truth is None:
        raise UnpickInputError(
            "matched_pred/matched_truth: required with truth_zyx; get them from "
            "unpick.evaluate.match_points (a pick is matched when it has a truth partner)"
        )
    pred_flags = _vector(matched_pred, "matched_pred", len(picks), "picks_zyx", dtype=bool)
    truth_flags = _vector(matched_truth, "matched_truth", len(truth), "truth_zyx", dtype=bool)
    n_matched = int(pred_flags.sum())
    if int(truth_flags.sum()) != n_matched:
        raise UnpickInputError(
            f"matched_pred/matched_truth: expected the flags of one one-to-one matching (as many matched picks as "
            f"matched truth points), got {n_matched} and {int(truth_flags.sum())}; take both from "
            f"unpick.evaluate.match_points"
        )
    points = {
        "matched": picks[pred_flags],
        "false_positive": picks[~pred_flags],
        "missed": truth[~truth_flags],
    }
    return points, pred_flags, counts_to_scores(n_matched, len(picks), len(truth))


def _panel_axes(fig: Figure, shape: tuple[int, ...]) -> dict[str, Any]:
    """Orthoview layout: XY top-left, YZ to its right (z across), XZ below it (z up)."""
    depth, height, width = (int(s) for s in shape)
    # keep the thin z strips readable when the volume is flat; equal aspect leaves the rest blank
    z_across = max(depth, 0.3 * width)
    z_up = max(depth, 0.3 * height)
    grid = fig.add_gridspec(
        2,
        2,
        width_ratios=[width, z_across],
        height_ratios=[height, z_up],
        left=0.05,
        right=0.62,
        bottom=0.06,
        top=0.92,
        wspace=0.15,
        hspace=0.2,
    )
    panels = {
        "xy": fig.add_subplot(grid[0, 0]),
        "yz": fig.add_subplot(grid[0, 1]),
        "xz": fig.add_subplot(grid[1, 0]),
    }
    for name, ax in panels.items():
        ax.set_gid(name)
    return panels


def _draw_slab(
    ax: Any,
    name: str,
    volume: Any,
    center: tuple[int, int, int],
    thickness: int,
    points: dict[str, np.ndarray],
    radius: float,
) -> None:
    """Show one mean-projected slab and the circles of the points whose centres lie inside it."""
    axis = VIEW_AXES[name]
    image, i0, i1 = slab_view(volume, name, center, thickness)
    across, up = PANEL_AXES[name]
    if name == "yz":  # image is (Z, Y); show z across, y up so y lines up with the XY panel
        image = image.T
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, origin="lower", interpolation="antialiased")
    mid = 0.5 * (i0 + i1 - 1)
    for category, (colour, _) in CATEGORIES.items():
        coords = points.get(category)
        if coords is None or len(coords) == 0:
            continue
        inside = (coords[:, axis] >= i0 - 0.5) & (coords[:, axis] < i1 - 0.5)
        for point in coords[inside]:
            offset = point[axis] - mid
            drawn = math.sqrt(max(radius**2 - offset**2, 0.25 * radius**2))
            circle = Circle(
                (point[across], point[up]), drawn, fill=False, edgecolor=colour, lw=1.3, alpha=0.95
            )
            circle.set_gid(category)
            ax.add_patch(circle)
    # dashed guides where the other two slabs cut this one
    for other_axis in VIEW_AXES.values():
        if other_axis == axis:
            continue
        position = center[other_axis]
        if other_axis == across:
            ax.axvline(position, color="white", lw=0.6, ls=":", alpha=0.5)
        else:
            ax.axhline(position, color="white", lw=0.6, ls=":", alpha=0.5)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(-0.5, image.shape[0] - 0.5)
    ax.set_xlabel(f"{AXIS_NAMES[across]} (voxels)", fontsize=8, labelpad=1)
    ax.set_ylabel(f"{AXIS_NAMES[up]} (voxels)", fontsize=8, labelpad=1)
    ax.tick_params(labelsize=7)
    ax.set_title(f"{name.upper()}  {AXIS_NAMES[axis]} = {i0}–{i1 - 1}", fontsize=9, pad=3)


def _draw_histogram(ax: Any, scores: np.ndarray | None, flags: np.ndarray | None) -> None:
    """Score histogram, stacked matched / unmatched when the match flags are known."""
    ax.set_gid("hist")
    if scores is None or len(scores) == 0:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    low, high = float(scores.min()), float(scores.max())
    bins = np.linspace(low, high if high > low else low + 1.0, 31)
    if flags is not None:
        ax.hist(
            [scores[flags], scores[~flags]],
            bins=bins,
            stacked=True,
            color=[CATEGORIES["matched"][0], CATEGORIES["false_positive"][0]],
            label=["matched", "unmatched"],
            edgecolor="0.3",
            linewidth=0.3,
        )
        ax.legend(fontsize=8, framealpha=0.9)
    else:
        ax.hist(scores, bins=bins, color="0.5", edgecolor="0.3", linewidth=0.3)
    ax.set_xlabel("pick score", fontsize=9)
    ax.set_ylabel("picks", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    ax.set_title("score histogram", fontsize=10)


def _draw_summary(
    ax: Any,
    points: dict[str, np.ndarray],
    detection: dict[str, Any] | None,
    n_picks: int,
    thickness: int,
    radius: float,
) -> None:
    """Legend with per-category counts (total, and how many each slab shows) and P/R/F1."""
    ax.set_gid("summary")
    ax.axis("off")
    handles = []
    for category, (colour, label) in CATEGORIES.items():
        if category in points:
            count = len(points[category])
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="o",
                    markersize=11,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    markeredgewidth=2.0,
                    label=f"{label}: {count}",
                )
            )
    legend = ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=10,
        frameon=True,
        facecolor="0.25",
        edgecolor="0.25",
        labelcolor="white",
        borderpad=0.8,
    )
    legend.set_title("circles", prop={"size": 9})
    legend.get_title().set_color("white")
    lines = [f"picks: {n_picks}"]
    if detection is not None:
        lines += [
            f"truth: {detection['n_truth']}",
            f"precision {detection['precision']:.3f}",
            f"recall    {detection['recall']:.3f}",
            f"F1        {detection['f1']:.3f}",
        ]
    lines += [
        f"slab {thickness} voxels thick",
        f"circle radius {radius:.3g} voxels",
        "(smaller: centre off mid-plane)",
    ]
    ax.text(
        0.0,
        0.45,
        "\n".join(lines),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=10,
        family="monospace",
    )


def _output_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise UnpickInputError(
            f"path: folder {path.parent} does not exist; create it or choose another output path"
        )
    return path
