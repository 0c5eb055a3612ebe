"""``unpick refine``: teacher workflow -> PU-trained ResUNet -> refined picks, in-process on a tiny tomogram."""

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unpick._shared import picks_zyx  # noqa: E402
from unpick.cli import main  # noqa: E402
from unpick.deep import DeepConfig, load_checkpoint  # noqa: E402
from unpick.evaluate import score_points  # noqa: E402
from unpick.io import read_picks_csv, read_tomogram, read_truth, write_mrc  # noqa: E402
from unpick.synthetic import SimulationConfig, simulate_tomogram  # noqa: E402

SMALL = DeepConfig(
    widths=(4, 8, 8, 16), patch_size=32, batch_size=2, epochs=2, iterations_per_epoch=15,
    tile_size=32, tile_overlap=8, device="cpu",
)  # fmt: skip
MATCH_RADIUS = 5.0  # voxels: half the 100 Å particle radius

# the teacher these checks were calibrated with on the tiny volume (not the default workflow)
TEACHER = ["--teacher-workflow", "gabor-kmeans-ws"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    """One refine run stopped after epoch 1, then resumed to epoch 2 (teacher reused)."""
    tmp = tmp_path_factory.mktemp("refine")
    sim = simulate_tomogram(
        SimulationConfig(
            shape_zyx=(32, 64, 64), particle_classes=("large-solid",), n_particles=8, noise=0.5,
            membrane=False, n_fiducials=0, seed=1,
        )
    )  # fmt: skip
    tomo = write_mrc(tmp / "rec_TS_07.mrc", sim.volume, voxel_size_angstrom=10.0)
    config = tmp / "deep.yaml"
    config.write_text(SMALL.to_yaml())
    out = tmp / "out"
    base = ["refine", str(tomo), "--out", str(out), "--particle-radius", "100", "--config", str(config), *TEACHER]
    first = main(["-q", *base, "--epochs", "1", "--formats", "csv,star"])
    job = out / "teacher" / "TS_07" / "job.json"
    job_stamp = job.stat().st_mtime_ns
    history_after_first = load_checkpoint(out / "refined" / "model.pt").history
    return {
        "sim": sim, "tomo": tomo, "config": config, "out": out, "base": base, "first": first,
        "job": job, "job_stamp": job_stamp, "history_after_first": history_after_first,
    }  # fmt: skip


@pytest.fixture(scope="module")
def resumed(bootstrap):
    bootstrap["second"] = main(["-q", *bootstrap["base"], "--epochs", "2", "--resume", "--formats", "csv,star"])
    return bootstrap


def test_refine_records_its_decisions_last(resumed):
    import json

    record = json.loads((resumed["out"] / "refined" / "refine.json").read_text())
    assert record["teacher_workflow"] == "gabor-kmeans-ws"
    chosen = record["peak_threshold"]
    assert 0 < chosen["threshold"] < 1 and "pseudo-positives" in chosen["reason"]
    row = record["tomograms"]["TS_07"]
    assert row["refined_picks"] == len(read_picks_csv(resumed["out"] / "refined" / "TS_07_picks.csv"))
    assert row["threshold"] == pytest.approx(chosen["threshold"])  # the training tomogram keeps it


def test_infer_chooses_each_threshold_from_the_checkpoints_teacher(resumed, tmp_path):
    """The checkpoint records its teacher; infer runs it on each tomogram and applies the PU
    criterion to its picks there, so on the training tomogram it reproduces refine's picks."""
    import json

    refined = resumed["out"] / "refined"
    trained = load_checkpoint(refined / "model.pt")
    assert trained.teacher["workflow"] == "gabor-kmeans-ws"
    assert trained.teacher["config"]["particle_radius_angstrom"] == 100
    out = tmp_path / "infer"
    assert main(["-q", "infer", str(refined / "model.pt"), str(resumed["tomo"]), "--out-dir", str(out)]) == 0
    row = json.loads((out / "infer.json").read_text())["tomograms"]["TS_07"]
    teacher = read_picks_csv(resumed["out"] / "teacher" / "TS_07" / "picks" / "gabor-kmeans-ws.csv")
    assert row["threshold_from"] == "teacher" and row["teacher_picks"] == len(teacher)
    refine_row = json.loads((refined / "refine.json").read_text())["tomograms"]["TS_07"]
    assert row["threshold"] == pytest.approx(refine_row["threshold"])
    np.testing.assert_allclose(
        picks_zyx(read_picks_csv(out / "TS_07_picks.csv")), picks_zyx(read_picks_csv(refined / "TS_07_picks.csv"))
    )
    carried = tmp_path / "carried"
    args = ["-q", "infer", str(refined / "model.pt"), str(resumed["tomo"]), "--out-dir", str(carried)]
    assert main([*args, "--threshold-from", "training", "--no-score-map"]) == 0
    row = json.loads((carried / "infer.json").read_text())["tomograms"]["TS_07"]
    assert row["threshold_from"] == "training" and row["teacher_picks"] is None
    assert row["threshold"] == pytest.approx(trained.peak_threshold.threshold)  # the training tomogram keeps it


def test_refine_writes_teacher_model_score_map_and_picks(bootstrap):
    assert bootstrap["first"] == 0
    out = bootstrap["out"]
    teacher = read_picks_csv(out / "teacher" / "TS_07" / "picks" / "gabor-kmeans-ws.csv")
    assert len(teacher) > 0 and set(teacher["workflow"]) == {"gabor-kmeans-ws"}
    assert [h["epoch"] for h in bootstrap["history_after_first"]] == [1]
    score_map = read_tomogram(out / "refined" / "TS_07_scores.mrc")
    assert score_map.shape == (32, 64, 64) and score_map.voxel_size_angstrom == 10.0
    assert 0 <= float(np.min(score_map.data)) < 0.1 and 0.5 < float(np.max(score_map.data)) <= 1


def test_refined_picks_stay_close_to_the_teacher_against_truth(resumed):
    assert resumed["second"] == 0
    out, truth = resumed["out"], picks_zyx(resumed["sim"].truth)
    teacher = read_picks_csv(out / "teacher" / "TS_07" / "picks" / "gabor-kmeans-ws.csv")
    refined = read_picks_csv(out / "refined" / "TS_07_picks.csv")
    assert set(refined["workflow"]) == {"refined-gabor-kmeans-ws"} and set(refined["tomogram"]) == {"TS_07"}
    assert np.all(np.diff(refined["score"].to_numpy()) <= 0) and refined["score"].min() > 0
    teacher_f1 = score_points(picks_zyx(teacher), truth, radius_voxels=MATCH_RADIUS)["f1"]
    refined_f1 = score_points(picks_zyx(refined), truth, radius_voxels=MATCH_RADIUS)["f1"]
    # with its data-driven operating point the teacher is (near) perfect on this small volume, so
    # two epochs of a student cannot beat it here: they must learn most of what it found
    assert refined_f1 >= 0.7
    assert refined_f1 >= teacher_f1 - 0.2
    star = read_truth(out / "refined" / "TS_07_picks.star", voxel_size_angstrom=10.0, volume_shape_zyx=(32, 64, 64))
    np.testing.assert_allclose(picks_zyx(star), picks_zyx(refined), atol=1e-3)


def test_resume_reuses_the_teacher_and_continues_training(resumed):
    assert resumed["job"].stat().st_mtime_ns == resumed["job_stamp"]  # teacher not run again
    trained = load_checkpoint(resumed["out"] / "refined" / "model.pt")
    assert [h["epoch"] for h in trained.history] == [1, 2]
    assert trained.history[0] == resumed["history_after_first"][0]  # epoch 1 kept, not retrained
    assert trained.config.epochs == 2 and trained.radius_voxels == pytest.approx(10.0)


def test_resumed_run_equals_an_uninterrupted_one(resumed, tmp_path):
    """Epoch 1 + resumed epoch 2 gives the picks of a straight two-epoch run on the same teacher picks."""
    straight = tmp_path / "straight"
    shutil.copytree(resumed["out"] / "teacher", straight / "teacher")
    args = ["refine", str(resumed["tomo"]), "--out", str(straight), *TEACHER, "--particle-radius", "100",
            "--config", str(resumed["config"]), "--epochs", "2", "--resume"]  # fmt: skip
    assert main(["-q", *args]) == 0
    a = read_picks_csv(resumed["out"] / "refined" / "TS_07_picks.csv")
    b = read_picks_csv(straight / "refined" / "TS_07_picks.csv")
    np.testing.assert_allclose(picks_zyx(a), picks_zyx(b))
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5)


def test_resume_with_other_settings_is_refused(resumed, capsys):
    """The saved training state belongs to the nnPU run; resuming it as GE-KL is bad input, not a silent restart."""
    args = ["-q", *resumed["base"], "--epochs", "2", "--resume", "--loss", "gekl"]
    assert main(args) == 2
    assert "different settings (loss)" in capsys.readouterr().err


def test_resume_with_other_teacher_settings_reruns_teacher_and_training(resumed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(resumed["out"], out)
    job = out / "teacher" / "TS_07" / "job.json"
    stamp = job.stat().st_mtime_ns
    args = ["-q", "refine", str(resumed["tomo"]), "--out", str(out), *TEACHER, "--particle-radius", "90",
            "--config", str(resumed["config"]), "--epochs", "1", "--iterations", "2", "--resume"]  # fmt: skip
    assert main(args) == 0
    assert job.stat().st_mtime_ns != stamp
    trained = load_checkpoint(out / "refined" / "model.pt")
    assert [h["epoch"] for h in trained.history] == [1] and trained.radius_voxels == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--particle-radius", "-3"], "--particle-radius"),
        (["--particle-radius", "100", "--teacher-workflow", "gabor-kmeans-ws,gabor-kmeans-cc"], "one workflow"),
        (["--particle-radius", "100", "--teacher-workflow", "gabor-kmeans-xx"], "unknown workflow"),
        (["--particle-radius", "100", "--formats", "pdf"], "--formats"),
        (["--particle-radius", "100", "--formats", ","], "at least one"),
        (["--particle-radius", "100", "--threshold", "1.5"], "--threshold"),
    ],
)
def test_bad_command_lines_exit_2(tmp_path, capsys, extra, message):
    tomo = write_mrc(tmp_path / "t.mrc", np.zeros((8, 8, 8), np.float32), voxel_size_angstrom=10.0)
    assert main(["-q", "refine", str(tomo), "--out", str(tmp_path / "out"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_tomograms_of_different_voxel_sizes_are_refused(tmp_path, capsys):
    a = write_mrc(tmp_path / "a.mrc", np.zeros((8, 8, 8), np.float32), voxel_size_angstrom=10.0)
    b = write_mrc(tmp_path / "b.mrc", np.zeros((8, 8, 8), np.float32), voxel_size_angstrom=14.0)
    assert main(["-q", "refine", str(a), str(b), "--out", str(tmp_path / "out"), "--particle-radius", "100"]) == 2
    assert "voxel sizes differ" in capsys.readouterr().err


def test_a_folder_is_a_data_set_one_model_for_all_its_tomograms(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for seed in (1, 2):
        sim = simulate_tomogram(
            SimulationConfig(
                shape_zyx=(32, 64, 64), particle_classes=("large-solid",), n_particles=8, noise=0.5,
                membrane=False, n_fiducials=0, seed=seed,
            )
        )  # fmt: skip
        write_mrc(data / f"TS_{seed:02d}.mrc", sim.volume, voxel_size_angstrom=10.0)
    config = tmp_path / "deep.yaml"
    config.write_text(SMALL.replace(epochs=1).to_yaml())
    out = data / "refined-run"  # inside the input folder: its files are never taken for tomograms
    code = main(
        ["-q", "refine", str(data), "--out", str(out), "--particle-radius", "100", "--config", str(config),
         "-j", "2", *TEACHER]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("TS_01", "TS_02"):
        assert (out / "teacher" / name / "job.json").is_file()
        assert len(read_picks_csv(out / "refined" / f"{name}_picks.csv")) > 0
        assert f"{name}:" in printed
    trained = load_checkpoint(out / "refined" / "model.pt")
    assert len(trained.normalisation) == 2 and trained.peak_threshold is not None  # one model, both tomograms
    assert main(["-q", "refine", str(data), "--out", str(out), "--particle-radius", "100", "-j", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_the_python_api_runs_the_same_bootstrap(tmp_path):
    from unpick import UnpickInputError
    from unpick.workflows import PickConfig, refine_tomograms

    sim = simulate_tomogram(
        SimulationConfig(
            shape_zyx=(32, 64, 64), particle_classes=("large-solid",), n_particles=8, noise=0.5,
            membrane=False, n_fiducials=0, seed=3,
        )
    )  # fmt: skip
    tomogram = read_tomogram(write_mrc(tmp_path / "TS_03.mrc", sim.volume, voxel_size_angstrom=10.0))
    teacher = PickConfig().with_particle_radius(100.0)
    with pytest.raises(UnpickInputError, match="needs a particle radius"):
        refine_tomograms([tomogram], tmp_path / "x", teacher_workflow="gabor-kmeans-ws",
                         teacher_config=PickConfig(), deep_config=SMALL)
    with pytest.raises(UnpickInputError, match="--jobs: expected a positive number"):
        refine_tomograms([tomogram], tmp_path / "x", teacher_workflow="gabor-kmeans-ws",
                         teacher_config=teacher, deep_config=SMALL, n_jobs=0)
    run = refine_tomograms([tomogram], tmp_path / "out", teacher_workflow="gabor-kmeans-ws",
                           teacher_config=teacher, deep_config=SMALL.replace(epochs=1))
    assert run.model_path.is_file() and (tmp_path / "out" / "refined" / "refine.json").is_file()
    written = read_picks_csv(tmp_path / "out" / "refined" / "TS_03_picks.csv")
    np.testing.assert_allclose(picks_zyx(written), picks_zyx(run.refined_picks["TS_03"]), atol=1e-6)
    assert len(run.teacher_picks["TS_03"]) > 0
    assert load_checkpoint(run.model_path).teacher["workflow"] == "gabor-kmeans-ws"
