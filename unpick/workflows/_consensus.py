"""Consensus of several workflows' picks, and a label-free quality score for each workflow."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .._shared import make_picks, picks_zyx
from ..evaluate import score_points

#: A consensus pick needs picks from at least this share of the workflows within the radius.
MIN_SUPPORT = 0.5


def consensus_picks(
    picks_by_workflow: Mapping[str, pd.DataFrame],
    *,
    radius_voxels: float,
    voxel_size_angstrom: float,
    tomogram: str = "",
    min_support: float = MIN_SUPPORT,
) -> pd.DataFrame:
    """Picks on which several workflows agree, scored by the share of workflows that found them.

    Picks of all workflows are pooled. Greedily, the pick with the most workflows within
    ``radius_voxels`` (ties: the higher score) founds a group with the nearest still free pick
    of every other workflow within the radius; a group's centre is its members' mean and its
    score the share of workflows in it. Groups of at least ``min_support`` are kept.

    Parameters
    ----------
    picks_by_workflow : mapping of name to picks table
        Tables with ``x, y, z`` (voxels) and ``score``; two or more workflows.
    radius_voxels : float
        Agreement distance in voxels (the particle radius is a good choice).
    voxel_size_angstrom : float
    tomogram : str
    min_support : float in (0, 1]

    Returns
    -------
    pd.DataFrame
        A picks table (``workflow='consensus'``) with ``score`` = support and ``size`` = members.
    """
    names = list(picks_by_workflow)
    coords = [picks_zyx(picks_by_workflow[n]) for n in names]
    points = np.concatenate(coords) if coords else np.zeros((0, 3))
    owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(coords)]) if coords else np.zeros(0, int)
    scores = np.concatenate([picks_by_workflow[n]["score"].to_numpy(dtype=float) for n in names]) if names else []
    centres, support, members = [], [], []
    if len(points):
        tree = cKDTree(points)
        neighbours = tree.query_ball_point(points, r=radius_voxels)
        reach = np.array([len(set(owner[nb])) for nb in neighbours])
        free = np.ones(len(points), dtype=bool)
        for i in np.lexsort((-np.asarray(scores), -reach)):
            if not free[i]:
                continue
            group = [i]
            candidates = [j for j in neighbours[i] if free[j] and owner[j] != owner[i]]
            candidates.sort(key=lambda j: float(np.sum((points[j] - points[i]) ** 2)))
            taken = {owner[i]}
            for j in candidates:
                if owner[j] not in taken:
                    group.append(j)
                    taken.add(owner[j])
            free[group] = False
            share = len(group) / len(names)
            if share >= min_support:
                centres.append(points[group].mean(axis=0))
                support.append(share)
                members.append(len(group))
    return make_picks(
        np.asarray(centres).reshape(-1, 3),
        voxel_size_angstrom=voxel_size_angstrom,
        score=np.asarray(support, dtype=float),
        size=np.asarray(members, dtype=np.int64),
        workflow="consensus",
        tomogram=tomogram,
    )


def agreement_scores(
    picks_by_workflow: Mapping[str, pd.DataFrame], consensus: pd.DataFrame, *, radius_voxels: float
) -> dict[str, float]:
    """Label-free quality of each workflow: its F1 against the consensus picks (one-to-one)."""
    reference = picks_zyx(consensus)
    return {
        name: float(score_points(picks_zyx(table), reference, radius_voxels=radius_voxels)["f1"])
        for name, table in picks_by_workflow.items()
    }
