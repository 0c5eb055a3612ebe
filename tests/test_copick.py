"""copick projects: tomograms chosen by run, type and spacing; picks written and read through copick's API.

Every project here is a real local-filesystem copick project built with copick itself."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

copick = pytest.importorskip("copick")

from unpick._shared import UnpickInputError, make_picks  # noqa: E402
from unpick.cli import main  # noqa: E402
from unpick.io import CopickTarget, copick_tomograms, read_copick_picks, read_picks_csv, write_mrc  # noqa: E402
from unpick.synthetic import SimulationConfig, simulate_tomogram  # noqa: E402
from unpick.workflows import RunRecord  # noqa: E402

RUNS = ("TS_01", "TS_02")
PICK = ["--particle-radius", "60", "--no-report", "--no-masks"]


def make_project(root, volumes, *, extra_objects=()) -> str:
    """A copick project under ``root`` with one ``wbp`` tomogram at 10 Å per run and the true
    particle positions as the picks of user ``curator``, session ``1``."""
    objects = [{"name": "ribosome", "is_particle": True, "label": 1, "radius": 60}]
    objects += [{"name": name, "is_particle": True, "label": i + 2, "radius": 60} for i, name in enumerate(extra_objects)]
    config = {
        "config_type": "filesystem", "name": "unpick test", "version": "1.0.0", "pickable_objects": objects,
        "overlay_root": f"local://{root}/overlay", "overlay_fs_args": {"auto_mkdir": True},
    }  # fmt: skip
    path = root / "config.json"
    path.write_text(json.dumps(config))
    project = copick.from_file(str(path))
    for name, sim in volumes.items():
        run = project.new_run(name)
        run.new_voxel_spacing(10.0).new_tomogram("wbp").from_numpy(sim.volume)
        truth = sim.truth[["x", "y", "z"]].to_numpy(dtype=float) * 10.0
        run.new_picks("ribosome", "1", user_id="curator").from_numpy(truth)
    return str(path)


@pytest.fixture(scope="module")
def sims():
    return {
        name: simulate_tomogram(SimulationConfig(shape_zyx=(32, 64, 64), n_particles=12, seed=3 + i))
        for i, name in enumerate(RUNS)
    }


@pytest.fixture
def project(tmp_path, sims):
    return make_project(tmp_path, sims)


def reopened_picks(config, run, user):
    """(positions in Å (N, 3) xyz, scores) of one picks set, read with a fresh copick root."""
    sets = copick.from_file(config).get_run(run).get_picks(object_name="ribosome", user_id=user, session_id="0")
    assert len(sets) == 1, f"expected one set of {user}, found {len(sets)}"
    return sets[0].numpy()[0], sets[0].scores()


def test_tomograms_are_chosen_by_run_type_and_voxel_spacing(tmp_path, sims, project):
    found = copick_tomograms(project)
    assert [t.run for t in found] == list(RUNS)
    assert all(t.tomo_type == "wbp" and t.voxel_size_angstrom == 10.0 and t.path.is_dir() for t in found)
    assert [t.run for t in copick_tomograms(project, runs=["TS_02"], tomogram="wbp@10")] == ["TS_02"]
    copick.from_file(project).get_run("TS_02").get_voxel_spacing(10.0).new_tomogram("denoised").from_numpy(
        sims["TS_02"].volume
    )
    with pytest.raises(UnpickInputError, match=r"several tomograms \(denoised@10, wbp@10\).*--tomogram"):
        copick_tomograms(project)
    assert [t.tomo_type for t in copick_tomograms(project, tomogram="denoised")] == ["denoised"]  # TS_01 skipped
    with pytest.raises(UnpickInputError, match="no copick run named 'TS_09'.*'TS_01', 'TS_02'"):
        copick_tomograms(project, runs=["TS_09"])
    with pytest.raises(UnpickInputError, match="no wbp@12 in run"):
        copick_tomograms(project, runs=["TS_01"], tomogram="wbp@12")
    with pytest.raises(UnpickInputError, match="TYPE@VOXEL_SPACING"):
        copick_tomograms(project, tomogram="wbp@ten")


def test_pick_writes_every_workflow_into_the_project_with_scores(tmp_path, sims, project):
    out = tmp_path / "out"
    workflows = "fft-gmm-cc,intensities-gmm-cc"
    assert main(["-q", "pick", "--copick", project, "--copick-run", "TS_01", "-w", workflows, *PICK,
                 "--out", str(out)]) == 0  # fmt: skip
    for workflow in workflows.split(","):
        csv = read_picks_csv(out / "TS_01" / "picks" / f"{workflow}.csv")
        positions, scores = reopened_picks(project, "TS_01", f"unpick-{workflow}")
        assert len(csv) >= 6
        np.testing.assert_allclose(positions, csv[["x", "y", "z"]].to_numpy() * 10.0)
        np.testing.assert_allclose(scores, csv["score"].to_numpy())
    assert not copick.from_file(project).get_run("TS_02").get_picks(session_id="0")  # only the run asked for
    # run_pick wrote them (copick=), so the target is part of the recorded settings
    target = RunRecord.from_json(out / "TS_01").settings["copick"]
    assert target == {"config": str(Path(project).resolve()), "object": "ribosome", "session": "0"}

    # the same picks as from the tomogram exported to MRC
    mrc = write_mrc(tmp_path / "TS_01.mrc", sims["TS_01"].volume, voxel_size_angstrom=10.0)
    assert main(["-q", "pick", str(mrc), "-w", workflows, *PICK, "--out", str(tmp_path / "mrc")]) == 0
    for workflow in workflows.split(","):
        from_mrc = (tmp_path / "mrc" / "TS_01" / "picks" / f"{workflow}.csv").read_text()
        assert from_mrc == (out / "TS_01" / "picks" / f"{workflow}.csv").read_text()

    # scored against the curator's picks in the project, as the files are against the truth file
    truth = read_copick_picks(project, "TS_01", object_name="ribosome", voxel_size_angstrom=10.0, user_id="curator")
    np.testing.assert_allclose(truth[["x", "y", "z"]].to_numpy(), sims["TS_01"].truth[["x", "y", "z"]].to_numpy())
    truth_csv = tmp_path / "truth.csv"
    sims["TS_01"].truth.to_csv(truth_csv, index=False)
    prefix = tmp_path / "scores"
    assert main(["-q", "evaluate", "--copick", project, "--copick-run", "TS_01", "--copick-truth-user", "curator",
                 "--out", str(prefix)]) == 0  # fmt: skip
    files = [str(out / "TS_01" / "picks" / f"{w}.csv") for w in workflows.split(",")]
    assert main(["-q", "evaluate", *files, "--truth", str(truth_csv), "--out", str(tmp_path / "files")]) == 0
    from_project = pd.read_csv(f"{prefix}.csv").set_index("workflow")
    from_files = pd.read_csv(tmp_path / "files.csv").set_index("workflow")
    for workflow in workflows.split(","):
        assert from_project.loc[workflow, "f1"] == pytest.approx(from_files.loc[workflow, "f1"])
        assert from_project.loc[workflow, "run"] == "TS_01"
    assert from_project["f1"].max() > 0.5


def test_one_target_opens_the_project_once_for_every_write(project, monkeypatch):
    opened = []
    from_file = copick.from_file
    monkeypatch.setattr(copick, "from_file", lambda path: opened.append(path) or from_file(path))
    target = CopickTarget(config=Path(project), object_name="ribosome")
    written = {}
    for i, run in enumerate(RUNS):
        for workflow in ("fft-gmm-cc", "gabor_kmeans_ws"):
            zyx = np.arange(9.0).reshape(3, 3) + 10 * i + len(workflow)
            picks = make_picks(zyx, voxel_size_angstrom=10.0, score=[0.2, 0.5, 0.9], workflow=workflow, tomogram=run)
            target.write(run, picks, workflow=workflow)
            written[run, target.user_id(workflow)] = zyx[:, ::-1] * 10.0
    assert opened == [project]
    assert target.user_id("gabor_kmeans_ws") == "unpick-gabor-kmeans-ws"
    for (run, user), xyz_angstrom in written.items():  # read back through a fresh root
        positions, scores = reopened_picks(project, run, user)
        np.testing.assert_allclose(positions, xyz_angstrom)
        np.testing.assert_allclose(scores, [0.2, 0.5, 0.9])
    # sent to a batch worker, the target travels without the open project and opens its own
    opened.clear()
    copy = pickle.loads(pickle.dumps(target))
    assert copy == target and "project" not in copy.__dict__ and "project" in target.__dict__
    copy.write(RUNS[0], picks, workflow="again")
    assert opened == [project]


def test_batch_over_a_project_writes_every_run_and_resumes(tmp_path, project):
    out = tmp_path / "batch"
    command = ["-q", "batch", "--copick", project, *PICK, "--out", str(out), "--no-progress"]
    assert main(command) == 0
    for run in RUNS:
        positions, _ = reopened_picks(project, run, "unpick-fft-gmm-cc")
        csv = read_picks_csv(out / run / "picks" / "fft-gmm-cc.csv")
        np.testing.assert_allclose(positions, csv[["x", "y", "z"]].to_numpy() * 10.0)
    assert main(command) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["status"]) == ["skipped", "skipped"]


def test_copick_options_are_checked_with_one_clear_line(tmp_path, sims, project, capsys):
    mrc = write_mrc(tmp_path / "TS_01.mrc", sims["TS_01"].volume, voxel_size_angstrom=10.0)
    two_objects = tmp_path / "two"
    two_objects.mkdir()
    crowded = make_project(two_objects, {"TS_01": sims["TS_01"]}, extra_objects=("proteasome",))
    cases = [
        (["pick", str(mrc), "--copick-run", "TS_01"], "--copick-run needs --copick"),
        (["pick", str(mrc), "--copick", project], "not both"),
        (["pick"], "no tomograms"),
        (["pick", "--copick", str(tmp_path / "nowhere.json")], "no copick project config"),
        (["pick", "--copick", project, "--copick-object", "spliceosome"], "not a pickable object"),
        (["pick", "--copick", crowded], "2 particle objects"),
        (["pick", "--copick", project, "--copick-run", "TS_01", "--name", "X"], "leave --name out with --copick"),
        (["evaluate", "--copick", project], "--copick-truth-user"),
        (["evaluate", "--copick", project, "--copick-truth-user", "curator"], "no unpick picks"),
    ]
    for command, message in cases:
        assert main(["-q", *command, *(["--out", str(tmp_path / "o")] if command[0] == "pick" else [])]) == 2
        assert message in capsys.readouterr().err


def test_refine_and_infer_write_the_deep_picks_into_the_project(tmp_path, project, torch_one_thread):
    pytest.importorskip("torch")
    from unpick.deep import DeepConfig

    small = DeepConfig(
        widths=(4, 8, 8, 16), patch_size=32, batch_size=2, epochs=1, iterations_per_epoch=3, tile_size=32,
        tile_overlap=8, device="cpu",
    )  # fmt: skip
    deep = tmp_path / "deep.yaml"
    deep.write_text(small.to_yaml())
    out = tmp_path / "r"
    assert main(["-q", "refine", "--copick", project, "--copick-run", "TS_01", "--particle-radius", "60",
                 "--teacher-workflow", "fft-gmm-cc", "--config", str(deep), "--out", str(out)]) == 0  # fmt: skip
    refined = read_picks_csv(out / "refined" / "TS_01_picks.csv")
    assert len(refined) > 0
    positions, scores = reopened_picks(project, "TS_01", "unpick-refined-fft-gmm-cc")
    np.testing.assert_allclose(positions, refined[["x", "y", "z"]].to_numpy() * 10.0)
    np.testing.assert_allclose(scores, refined["score"].to_numpy())
    assert main(["-q", "infer", str(out / "refined" / "model.pt"), "--copick", project, "--copick-run", "TS_02",
                 "--out-dir", str(tmp_path / "i"), "--no-score-map"]) == 0  # fmt: skip
    inferred = read_picks_csv(tmp_path / "i" / "TS_02_picks.csv")
    assert len(inferred) > 0
    positions, _ = reopened_picks(project, "TS_02", "unpick-deep")
    np.testing.assert_allclose(positions, inferred[["x", "y", "z"]].to_numpy() * 10.0)
