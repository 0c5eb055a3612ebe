"""The README quickstart runs as written (in a temporary folder), so it cannot drift from the CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from unpick.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_commands() -> list[list[str]]:
    """The ``unpick ...`` lines of the bash block under '## Quickstart', comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert commands and all(c[0] == "unpick" for c in commands), commands
    return [c[1:] for c in commands]


def test_the_quickstart_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = quickstart_commands()
    assert [c[0] for c in commands] == ["simulate", "pick", "evaluate", "report"]
    for command in commands:
        assert main(["-q", *command]) == 0, command
    assert (tmp_path / "picks" / "synthetic" / "picks" / "consensus.csv").is_file()
    assert (tmp_path / "report.png").stat().st_size > 10_000
