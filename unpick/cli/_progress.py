"""``--no-progress``, one option for every command that draws progress bars (``-q`` hides them too)."""

from __future__ import annotations

import argparse


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (-q hides them too)")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars unless ``-q``/``--quiet`` or ``--no-progress`` was given."""
    return not (getattr(args, "quiet", False) or getattr(args, "no_progress", False))
