"""``unpick --help`` and the parser stay light: no heavy library is imported to list the commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "skimage", "matplotlib", "pandas", "scipy", "torch", "dask", "zarr", "copick", "joblib")


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from unpick.cli import build_parser\n"
        "parser, _ = build_parser()\n"
        "parser.format_help()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "unpick", "--help"], capture_output=True, text=True, check=True)
    for command in ("simulate", "pick", "evaluate", "report", "demo", "train", "infer", "refine", "batch"):
        assert command in done.stdout
