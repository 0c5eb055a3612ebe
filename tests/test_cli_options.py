"""One CLI vocabulary: every command spells --device, --seed, --voxel-size, --formats, --out and
--no-progress the same way, with one default each."""

from __future__ import annotations

import argparse

import pytest

from unpick.cli import build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(name: str) -> dict[str, argparse.Action]:
    return {flag: action for action in _subparsers()[name]._actions for flag in action.option_strings}


COMMANDS = sorted(_subparsers())


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_options_have_one_spelling_and_one_default(command):
    options = _options(command)
    if "--device" in options:
        device = options["--device"]
        assert device.choices == ("cpu", "gpu", "auto") and device.default is None
        assert "(default: auto" in device.help
    if "--seed" in options:
        seed = options["--seed"]
        assert seed.type is int and seed.default is None and "(default: 0" in seed.help
    if "--formats" in options:
        assert options["--formats"].default == "csv" and "imod" in options["--formats"].help
    if "--voxel-size" in options and command != "simulate":  # simulate's is the voxel size it writes
        assert options["--voxel-size"].help.startswith("voxel size in Å when the tomogram's header lacks one")
    assert "--out-dir" not in options or options["--out-dir"] is options.get("--out")
    assert "--no-progress" in options or command in ("simulate", "evaluate", "report", "infer")


def test_every_command_that_writes_takes_out():
    for command in ("pick", "batch", "demo", "infer", "refine", "train", "evaluate", "report"):
        assert "--out" in _options(command), command


def test_infer_takes_out_and_the_older_out_dir():
    parser, _ = build_parser()
    for flag in ("--out", "--out-dir"):
        args = parser.parse_args(["infer", "model.pt", "t.mrc", flag, "d"])
        assert args.out_dir == "d"


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--seed", "-1"],
        ["simulate", "OUTDIR", "--seed", "-1"],
        ["evaluate", "PICKS.csv", "--truth", "T.csv", "--voxel-size", "10", "--seed", "-1"],
    ],
)
def test_a_negative_seed_is_one_clear_error_with_exit_2(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seed: expected an integer >= 0, got -1" in err[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
