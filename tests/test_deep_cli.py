"""``unpick train`` and ``unpick infer`` run in-process on small simulated files."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unpick._shared import make_picks, picks_zyx  # noqa: E402
from unpick.cli import main  # noqa: E402
from unpick.deep import DeepConfig, load_checkpoint  # noqa: E402
from unpick.io import read_picks_csv, read_tomogram, read_truth, write_mrc, write_picks  # noqa: E402
from unpick.synthetic import SimulationConfig, simulate_tomogram  # noqa: E402

TINY = DeepConfig(
    widths=(4, 4, 8, 8), patch_size=16, batch_size=1, epochs=1, iterations_per_epoch=2,
    tile_size=32, tile_overlap=8, device="cpu",
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def files(tmp_path):
    sim = simulate_tomogram(
        SimulationConfig(
            shape_zyx=(24, 40, 40), voxel_size_angstrom=10.0, particle_classes=("small-solid",),
            n_particles=8, membrane=False, n_fiducials=0, noise=0.5, seed=3,
        )
    )  # fmt: skip
    tomo = write_mrc(tmp_path / "rec_TS_01.mrc", sim.volume, voxel_size_angstrom=10.0)
    truth = picks_zyx(sim.truth)
    picks = make_picks(truth[:6], voxel_size_angstrom=10.0, score=np.linspace(0.2, 1.0, 6))
    picks_path = write_picks(tmp_path / "teacher.csv", picks)
    config = tmp_path / "deep.yaml"
    config.write_text(TINY.to_yaml())
    return tmp_path, tomo, picks_path, config


def test_train_then_infer_writes_checkpoint_score_map_and_picks(files, capsys):
    tmp_path, tomo, picks, config = files
    ckpt = tmp_path / "picker.pt"
    code = main(
        ["-q", "train", str(tomo), "--picks", str(picks), "--particle-radius", "45", "--out", str(ckpt),
         "--config", str(config), "--loss", "gekl", "--expected-count", "9", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    trained = load_checkpoint(ckpt)
    assert trained.config.loss == "gekl" and trained.config.expected_count == 9
    assert trained.radius_voxels == pytest.approx(4.5) and trained.voxel_size_angstrom == 10.0
    assert trained.priors.expected_count == 9
    assert trained.peak_threshold is not None and trained.peak_threshold.n_labelled == 6  # chosen from the picks
    out = tmp_path / "out"
    code = main(
        ["-q", "infer", str(ckpt), str(tomo), "--out-dir", str(out), "--formats", "csv,star,json", "--threshold", "0"]
    )
    assert code == 0
    score_map = read_tomogram(out / "TS_01_scores.mrc")
    assert score_map.shape == (24, 40, 40) and 0 <= float(np.min(score_map.data)) <= float(np.max(score_map.data)) <= 1
    table = read_picks_csv(out / "TS_01_picks.csv")
    assert len(table) > 0 and set(table["workflow"]) == {"deep"} and set(table["tomogram"]) == {"TS_01"}
    star = read_truth(out / "TS_01_picks.star", voxel_size_angstrom=10.0, volume_shape_zyx=(24, 40, 40))
    np.testing.assert_allclose(picks_zyx(star), picks_zyx(table), atol=1e-3)
    assert (out / "TS_01_picks.json").is_file()
    assert "TS_01:" in capsys.readouterr().out
    # without --threshold, infer applies the threshold the checkpoint chose on its training tomogram
    assert main(["infer", str(ckpt), str(tomo), "--out-dir", str(out), "--no-score-map"]) == 0
    kept = read_picks_csv(out / "TS_01_picks.csv")
    assert 0 < len(kept) <= len(table) and kept["score"].min() >= trained.peak_threshold.threshold - 1e-6


def test_train_resume_extends_a_run(files):
    tmp_path, tomo, picks, config = files
    ckpt = tmp_path / "picker.pt"
    base = ["-q", "train", str(tomo), "--picks", str(picks), "--particle-radius", "45", "--out", str(ckpt),
            "--config", str(config)]  # fmt: skip
    assert main(base) == 0
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    assert len(load_checkpoint(ckpt).history) == 2
    assert main([*base, "--epochs", "2"]) == 0  # without --resume: a fresh two-epoch run
    assert [h["epoch"] for h in load_checkpoint(ckpt).history] == [1, 2]


def test_bad_command_lines_exit_2(files, capsys):
    tmp_path, tomo, picks, config = files
    ckpt = tmp_path / "picker.pt"
    two = ["-q", "train", str(tomo), str(tomo), "--picks", str(picks), "--particle-radius", "45", "--out", str(ckpt)]
    assert main(two) == 2
    assert "one picks file per tomogram" in capsys.readouterr().err
    assert main(["-q", "train", str(tomo), "--picks", str(picks), "--particle-radius", "-3", "--out", str(ckpt)]) == 2
    assert "--particle-radius" in capsys.readouterr().err
    assert main(["-q", "infer", str(tmp_path / "none.pt"), str(tomo), "--out-dir", str(tmp_path)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["-q", "infer", str(ckpt), str(tomo), "--out-dir", str(tmp_path), "--formats", "pdf"]) == 2
    assert "--formats" in capsys.readouterr().err
    assert main(["-q", "train", str(tomo), "--picks", str(picks), "--particle-radius", "45", "--out", str(ckpt),
                 "--config", str(config)]) == 0  # fmt: skip
    assert main(["-q", "infer", str(ckpt), str(tomo), "--out-dir", str(tmp_path), "--threshold-from", "teacher"]) == 2
    assert "records no teacher workflow" in capsys.readouterr().err
