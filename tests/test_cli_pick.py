"""``unpick pick --config``: a run's job.json is read as a RunRecord and replayed; a PickConfig file is not."""

from __future__ import annotations

import json

import pytest

from unpick.cli._pick import replayed_run
from unpick.workflows import InputFile, PickConfig, RunRecord, pick_settings

WORKFLOWS = ["intensities-gmm-ws", "fft-kmeans-cc"]  # in the order parse_selection gives


@pytest.fixture
def config():
    return PickConfig(seed=5).with_particle_radius(60.0)


@pytest.fixture
def tomogram(tmp_path):
    path = tmp_path / "TS_01.mrc"
    path.write_bytes(b"never read")
    return path


def test_a_job_json_replays_the_settings_it_records(tmp_path, config, tomogram):
    settings = pick_settings(workflows=",".join(WORKFLOWS), config=config, voxel_size_angstrom=None,
                             formats=("csv",), write_masks=False, report=False)  # fmt: skip
    decisions = {"config": PickConfig().to_dict(), "workflows": ["gabor-kmeans-cc"]}  # not what replay reads
    job = RunRecord("pick", (InputFile.of(tomogram),), settings, (), decisions).write(tmp_path)
    replay = replayed_run(str(job))
    assert replay["workflows"] == WORKFLOWS and PickConfig.from_dict(replay["config"]) == config


def test_a_job_json_from_before_the_record_replays_its_decisions(tmp_path, config):
    old = {"input": "TS_01.mrc", "outputs": [], "config": config.to_dict(), "workflows": WORKFLOWS, "picks": {}}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(old))
    replay = replayed_run(str(job))
    assert replay["workflows"] == WORKFLOWS and PickConfig.from_dict(replay["config"]) == config


@pytest.mark.parametrize("name", ["pick.json", "pick.yaml", "missing.json"])
def test_a_pick_config_file_is_no_run_to_replay(tmp_path, config, name):
    path = tmp_path / name
    if name != "missing.json":
        path.write_text(config.to_json() if name.endswith(".json") else config.to_yaml())
        assert PickConfig.from_file(path) == config  # what pick --config reads instead
    assert replayed_run(str(path)) is None
    assert replayed_run(None) is None


def test_the_record_of_another_kind_of_run_is_no_pick_to_replay(tmp_path, config, tomogram):
    settings = {"config": config.to_dict(), "workflows": WORKFLOWS}
    job = RunRecord("refine", (InputFile.of(tomogram),), settings, ()).write(tmp_path)
    assert replayed_run(str(job)) is None
