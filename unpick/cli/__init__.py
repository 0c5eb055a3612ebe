"""The ``unpick`` command line: one module per subcommand, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .._shared import UnpickInputError

# subcommand name -> module (imported lazily so ``unpick --help`` stays instant)
COMMANDS = {
    "simulate": "._simulate",
    "pick": "._pick",
    "evaluate": "._evaluate",
    "report": "._report",
    "demo": "._demo",
    "train": "._train",
    "infer": "._infer",
    "refine": "._refine",
    "batch": "._batch",
}

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]


def _available_commands() -> dict:
    """Import each command module that exists; a missing module is simply not offered."""
    modules = {}
    for name, module in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module, __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}{module}":
                raise
    return modules


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="unpick",
        description="Annotation-free particle picking in cryo-electron tomograms.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"unpick {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log every decision (DEBUG)")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = _available_commands()
    for module in modules.values():
        module.add_parser(sub)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    console = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    # INFO records exist even under -q (a batch's per-tomogram unpick.log keeps them); the console
    # handler shows what was asked
    logging.basicConfig(level=min(console, logging.INFO), format="%(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.setLevel(console)
    try:
        return int(args.run(args) or EXIT_OK)
    except UnpickInputError as err:
        print(f"unpick {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
