"""benchmarks/bench_deep.py ``load_teacher``: the teacher's picks are cached as a pick run and reused
only while ``finished_run`` finds that run finished and current (not run as a benchmark here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import unpick.workflows
from unpick.io import write_mrc
from unpick.synthetic import SimulationConfig, simulate_tomogram

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_deep.py"
WORKFLOW = "intensities-kmeans-cc"


@pytest.fixture(scope="module")
def bench_deep():
    spec = importlib.util.spec_from_file_location("bench_deep", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_teacher_is_picked_once_and_reused_while_current(tmp_path, bench_deep, monkeypatch):
    sim = simulate_tomogram(SimulationConfig(shape_zyx=(24, 48, 48), n_particles=6, seed=2))
    path = write_mrc(tmp_path / "TS_03.mrc", sim.volume, voxel_size_angstrom=10.0)
    picks, seconds = bench_deep.load_teacher(path, WORKFLOW, tmp_path / "work", 60.0)
    assert len(picks) > 0 and seconds > 0
    assert (tmp_path / "work" / f"teacher-{WORKFLOW}" / "TS_03" / "job.json").is_file()

    calls = []
    real_run_pick = unpick.workflows.run_pick
    monkeypatch.setattr(unpick.workflows, "run_pick", lambda *a, **k: calls.append(k) or real_run_pick(*a, **k))
    cached, cached_seconds = bench_deep.load_teacher(path, WORKFLOW, tmp_path / "work", 60.0)
    assert calls == []  # finished and current: read back, not picked again
    pd.testing.assert_frame_equal(cached[["x", "y", "z"]], picks[["x", "y", "z"]], check_dtype=False)
    assert cached_seconds > 0

    bench_deep.load_teacher(path, WORKFLOW, tmp_path / "work", 50.0)  # other settings: picked again
    assert len(calls) == 1 and calls[0]["config"].particle_radius_angstrom == 50.0
    write_mrc(path, sim.volume[:, ::-1], voxel_size_angstrom=10.0)  # another input at the same path
    bench_deep.load_teacher(path, WORKFLOW, tmp_path / "work", 50.0)
    assert len(calls) == 2
