"""``unpick evaluate`` end to end on a tiny pick-run folder."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from unpick._shared import make_picks
from unpick.cli import main
from unpick.io import write_mrc, write_picks_csv
from unpick.workflows import InputFile, RunRecord

SHAPE = (32, 48, 48)
CENTRES = np.array([[8, 10, 10], [8, 30, 36], [20, 12, 34], [24, 36, 12], [16, 24, 24]], float)


@pytest.fixture
def files(tmp_path):
    zz, yy, xx = np.indices(SHAPE, dtype=np.float32)
    volume = np.random.default_rng(0).normal(0, 0.05, SHAPE).astype(np.float32)
    for z, y, x in CENTRES:
        volume -= np.exp(-((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) / 8.0)  # dark blobs
    tomo = write_mrc(tmp_path / "tomo.mrc", volume, voxel_size_angstrom=10.0)
    truth = tmp_path / "truth.csv"
    pd.DataFrame(
        {
            "x": CENTRES[:, 2],
            "y": CENTRES[:, 1],
            "z": CENTRES[:, 0],
            "class": ["ribo", "ribo", "small", "small", "small"],
        }
    ).to_csv(truth, index=False)
    run = tmp_path / "run"
    (run / "picks").mkdir(parents=True)
    write_picks_csv(run / "picks" / "good.csv", make_picks(CENTRES + 0.5, voxel_size_angstrom=10.0, workflow="good"))
    write_picks_csv(run / "picks" / "half.csv", make_picks(CENTRES[:2], voxel_size_angstrom=10.0, workflow="half"))
    RunRecord("pick", (InputFile.of(tomo),), {}, ("picks/good.csv", "picks/half.csv")).write(run)
    return {"tomo": tomo, "truth": truth, "run": run, "tmp": tmp_path}


def test_evaluate_folder_with_baselines_writes_csv_and_json(files, capsys):
    out = files["tmp"] / "eval"
    code = main(["evaluate", str(files["run"]), "--truth", str(files["truth"]), "--tomogram", str(files["tomo"]),
                 "--out", str(out), "--random-draws", "5"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[0] == "workflow"
    assert lines[1].split()[0] == "good"  # sorted by F1: perfect picks first
    assert "dog *" in text and "random *" in text
    assert "best: good F1 1.000 (" in text and "over DoG" in text and "over random)" in text
    table = pd.read_csv(f"{out}.csv", index_col="workflow")
    assert set(table.index) == {"good", "half", "random", "dog"}
    assert table.loc["good", "f1"] == 1.0 and table.loc["half", "recall"] == pytest.approx(0.4)
    assert table.loc["dog", "recall"] == 1.0  # the DoG baseline finds the planted blobs
    assert table.loc["random", "n_picks"] == 4  # median pick count of the workflows: (5 + 2) / 2 rounded
    report = json.loads((files["tmp"] / "eval.json").read_text())
    assert report["verdict"] == lines[-2] and lines[-1].startswith("wrote ")
    assert report["settings"]["voxel_size_angstrom"] == 10.0 and report["sorted_by"] == "f1"
    rows = {row["workflow"]: row for row in report["rows"]}
    assert set(rows) == {"good", "half", "random", "dog"}
    assert (rows["half"]["recall[ribo]"], rows["half"]["recall[small]"]) == (1.0, 0.0)
    assert rows["dog"]["baseline"] is True and rows["good"]["baseline"] is False


def test_evaluate_files_without_tomogram(files, capsys):
    good = files["run"] / "picks" / "good.csv"
    code = main(["evaluate", str(good), "--truth", str(files["truth"]), "--classes", "ribo", "--match-radius", "20"])
    assert code == 0
    text = capsys.readouterr().out
    assert "no --tomogram" in text and "random *" not in text
    # only the 2 ribosomes count as truth; the 3 other (correct) picks become false positives
    row = next(line.split() for line in text.splitlines() if line.startswith("good"))
    assert row[1:5] == ["5", "2", "3", "0"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--classes", "ribo,nope"], "nope not in the truth table; it has ribo, small"),
        (["--match-radius", "-3"], "match_radius_angstrom: expected a positive number"),
        (["--z-slab", "0", "10"], "--z-slab needs --tomogram"),
    ],
)
def test_evaluate_bad_options_exit_2(files, capsys, extra, match):
    assert main(["evaluate", str(files["run"]), "--truth", str(files["truth"]), *extra]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_evaluate_bad_paths_exit_2(files, capsys):
    empty = files["tmp"] / "empty"
    empty.mkdir()
    (empty / "picks").mkdir()
    write_picks_csv(empty / "picks" / "x.csv", make_picks(CENTRES, voxel_size_angstrom=10.0))
    assert main(["evaluate", str(empty), "--truth", str(files["truth"])]) == 2  # picks but no record: unfinished
    assert "no job.json inside, so not a finished pick-run folder" in capsys.readouterr().err
    RunRecord("pick", (), {}, ("picks/x.star",)).write(empty)
    assert main(["evaluate", str(empty), "--truth", str(files["truth"])]) == 2
    assert "lists no picks/*.csv among its outputs" in capsys.readouterr().err
    assert main(["evaluate", str(files["tmp"] / "missing.csv"), "--truth", str(files["truth"])]) == 2
    assert "no such pick file or folder" in capsys.readouterr().err
    good = files["run"] / "picks" / "good.csv"
    assert main(["evaluate", str(files["run"]), str(good), "--truth", str(files["truth"])]) == 2
    assert "workflow name 'good' also comes from" in capsys.readouterr().err


def test_evaluate_baseline_name_clash_exit_2(files, capsys):
    dog = files["tmp"] / "dog.csv"
    write_picks_csv(dog, make_picks(CENTRES, voxel_size_angstrom=10.0))
    assert main(["evaluate", str(dog), "--truth", str(files["truth"]), "--tomogram", str(files["tomo"])]) == 2
    assert "clash with the baselines" in capsys.readouterr().err


def test_evaluate_needs_a_voxel_size(files, capsys):
    bare = files["tmp"] / "bare.csv"
    pd.DataFrame({"x": [1.0], "y": [2.0], "z": [3.0]}).to_csv(bare, index=False)
    assert main(["evaluate", str(bare), "--truth", str(files["truth"])]) == 2
    assert "give --voxel-size" in capsys.readouterr().err
    assert main(["evaluate", str(bare), "--truth", str(files["truth"]), "--voxel-size", "10"]) == 0


def test_metric_czii_is_fbeta_4_within_half_the_particle_radius(files, capsys):
    truth = pd.read_csv(files["truth"]).assign(radius_angstrom=[20.0, 20.0, 8.0, 8.0, 8.0])
    truth.to_csv(files["truth"], index=False)
    near = files["run"] / "picks" / "near.csv"  # 0.87 voxel = 8.7 Å off: within 10 Å for the large, not 4 Å
    write_picks_csv(near, make_picks(CENTRES + 0.5, voxel_size_angstrom=10.0, workflow="near"))
    czii = files["tmp"] / "czii"
    assert main(["-q", "evaluate", str(near), "--truth", str(files["truth"]), "--metric", "czii",
                 "--out", str(czii)]) == 0  # fmt: skip
    row = pd.read_csv(f"{czii}.csv").iloc[0]
    assert (row["tp"], row["fp"], row["fn"]) == (2, 3, 3)  # only the two large particles are hit
    precision, recall = 2 / 5, 2 / 5
    assert row["fbeta"] == pytest.approx(17 * precision * recall / (16 * precision + recall))
    explicit = files["tmp"] / "explicit"
    assert main(["-q", "evaluate", str(near), "--truth", str(files["truth"]), "--beta", "4",
                 "--match-radius-fraction", "0.5", "--out", str(explicit)]) == 0  # fmt: skip
    assert pd.read_csv(f"{explicit}.csv").iloc[0]["fbeta"] == row["fbeta"]
    assert main(["-q", "evaluate", str(near), "--truth", str(files["truth"]), "--metric", "czii", "--beta", "2"]) == 2
    assert "--metric czii sets beta 4" in capsys.readouterr().err
