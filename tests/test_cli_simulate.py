"""Tests of ``unpick simulate``: the files it writes load back to the simulator's own output."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from unpick.cli import main
from unpick.cli._simulate import DEFAULTS
from unpick.io import read_tomogram, read_truth
from unpick.synthetic import SimulationConfig, simulate_tomogram

ARGS = ["--shape", "24", "48", "40", "--n-particles", "6", "--classes", "small-solid", "ring", "--seed", "3"]


def test_writes_volume_truth_and_config_that_load_back(tmp_path):
    out = tmp_path / "new" / "folder"
    assert main(["simulate", str(out), *ARGS, "--name", "tomo_a"]) == 0
    config = SimulationConfig(shape_zyx=(24, 48, 40), n_particles=6, particle_classes=("small-solid", "ring"), seed=3)
    expected = simulate_tomogram(config)

    assert SimulationConfig.from_file(out / "tomo_a_config.yaml") == config
    tomogram = read_tomogram(out / "tomo_a.mrc")
    assert tomogram.voxel_size_angstrom == pytest.approx(10.0)
    np.testing.assert_array_equal(np.asarray(tomogram.data), expected.volume)

    truth = read_truth(out / "tomo_a_particles.csv")
    assert len(truth) == 6
    np.testing.assert_allclose(truth[["x", "y", "z"]].to_numpy(), expected.truth[["x", "y", "z"]].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(
        truth[["x_angstrom", "y_angstrom", "z_angstrom"]].to_numpy(),
        expected.truth[["x", "y", "z"]].to_numpy() * 10.0,
        atol=1e-5,
    )
    assert list(truth["class"]) == list(expected.truth["class"])
    np.testing.assert_array_equal(truth["radius_angstrom"], expected.truth["radius_angstrom"])


def test_switches_reach_the_config(tmp_path):
    switches = ["--bright-protein", "--no-membrane", "--no-missing-wedge", "--no-bandpass"]
    argv = ["simulate", str(tmp_path), *ARGS, "--voxel-size", "8", "--noise", "0", "--fiducials", "0", *switches]
    argv += ["--name", "plain"]
    assert main(argv) == 0
    config = SimulationConfig.from_file(tmp_path / "plain_config.yaml")
    assert config.voxel_size_angstrom == 8.0 and config.noise == 0.0
    assert not config.protein_dark and not config.membrane and config.n_fiducials == 0
    assert config.missing_wedge_degrees is None and config.bandpass_angstrom is None
    assert main(["simulate", str(tmp_path), *ARGS, "--missing-wedge", "40", "--bandpass", "30", "250"]) == 0
    config = SimulationConfig.from_file(tmp_path / "synthetic_config.yaml")
    assert config.missing_wedge_degrees == 40.0 and config.bandpass_angstrom == (30.0, 250.0)


def test_cli_defaults_are_the_library_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(SimulationConfig)}
    assert DEFAULTS == {name: fields[name] for name in DEFAULTS}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--noise", "-1"], "noise: expected a number"),
        (["--classes", "ribosome"], "unknown class.*valid: large-solid"),
        (["--shape", "3", "48", "48"], "shape_zyx"),
        (["--voxel-size", "0"], "voxel_size_angstrom"),
        (["--name", "a/b"], "--name: expected a plain file name"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, extra, message):
    assert main(["simulate", str(tmp_path / "out"), *ARGS, *extra]) == 2
    assert not list(tmp_path.glob("out/*"))
    err = capsys.readouterr().err
    assert err.startswith("unpick simulate: error:")
    assert re.search(message, err)


def test_out_dir_that_is_a_file_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["simulate", str(blocker), *ARGS]) == 2
    assert "OUT_DIR" in capsys.readouterr().err
