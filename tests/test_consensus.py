"""Consensus and auto picks: agreement between workflows, label-free quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unpick._shared import UnpickInputError, make_picks, picks_zyx
from unpick.evaluate import score_points
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import PickConfig, agreement_scores, consensus_picks, parse_selection, pick_tomogram


def table(points, scores=None) -> pd.DataFrame:
    return make_picks(np.asarray(points, float), voxel_size_angstrom=10.0, score=scores)


def test_consensus_keeps_what_half_the_workflows_agree_on():
    a = table([[10, 10, 10], [30, 30, 30], [50, 50, 50]])
    b = table([[10.5, 10, 10], [30, 31, 30]])
    c = table([[9.5, 10, 10.5], [70, 70, 70]])
    d = table([[11, 10, 10]])
    out = consensus_picks({"a": a, "b": b, "c": c, "d": d}, radius_voxels=2.0, voxel_size_angstrom=10.0)
    centres = picks_zyx(out)
    # (10,10,10) found by all four, (30,30,30) by two of four; singletons dropped
    assert len(out) == 2
    order = np.argsort(centres[:, 0])
    np.testing.assert_allclose(centres[order[0]], [10.25, 10, 10.125])
    np.testing.assert_allclose(out["score"].to_numpy()[order], [1.0, 0.5])
    assert list(out["size"].to_numpy()[order]) == [4, 2] and set(out["workflow"]) == {"consensus"}
    agreement = agreement_scores({"a": a, "b": b, "c": c, "d": d}, out, radius_voxels=2.0)
    assert agreement["b"] == pytest.approx(1.0) and agreement["c"] < agreement["b"]


def test_one_workflow_cannot_make_a_consensus():
    with pytest.raises(UnpickInputError, match="combine several workflows"):
        parse_selection("consensus,fft-gmm-cc")
    workflows, combined = parse_selection("auto")
    assert len(workflows) == 12 and combined == ("auto",)


def test_consensus_and_auto_in_a_pick_run():
    sim = simulate_tomogram(SimulationConfig(shape_zyx=(48, 112, 112), n_particles=30, noise=0.5, seed=5))
    result = pick_tomogram(
        sim.volume,
        voxel_size_angstrom=10.0,
        workflows="fft-gmm-cc,intensities-gmm-cc,gabor-gmm-cc,consensus,auto",
        config=PickConfig().with_particle_radius(60.0),
    )
    quality = result.record["quality"]
    assert set(quality["agreement_f1"]) == {"fft-gmm-cc", "intensities-gmm-cc", "gabor-gmm-cc"}
    best = quality["auto_workflow"]
    assert quality["agreement_f1"][best] == max(quality["agreement_f1"].values())
    np.testing.assert_array_equal(picks_zyx(result.picks["auto"]), picks_zyx(result.picks[best]))
    truth = picks_zyx(sim.truth)
    consensus_f1 = score_points(picks_zyx(result.picks["consensus"]), truth, radius_voxels=6.0)["f1"]
    assert consensus_f1 >= 0.6
    assert result.record["picks"]["consensus"] == len(result.picks["consensus"])
