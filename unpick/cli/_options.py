"""Options every command spells the same way: one name, one default and one help text each.

``--device`` (default ``auto``), ``--seed`` (default 0), ``--voxel-size`` (Å, when the header lacks
one), ``--formats`` (default ``csv``), ``--out`` (the output folder or file) and ``--no-progress``
(``-q`` hides progress bars too). Commands add them with these builders instead of their own
``add_argument`` calls.
"""

from __future__ import annotations

import argparse

from .._shared import UnpickInputError, check_choice, check_int

DEVICES = ("cpu", "gpu", "auto")
DEFAULT_DEVICE = "auto"
DEFAULT_SEED = 0
FORMATS_HELP = (
    "pick files to write, comma-separated: csv, tsv, star (RELION 5), relion4 (RELION 4 / Warp pixels), "
    "copick (or json), ndjson, dynamo (.tbl), imod (.mod) (default: %(default)s)"
)
FORMAT_ALIASES = {"json": "copick"}  # the copick picks file is a .json


def add_device_option(parser: argparse.ArgumentParser, *, what: str, saved: str = "") -> None:
    """``--device cpu|gpu|auto``: where ``what`` runs; 'auto' (the default) takes the GPU when one
    is usable. ``saved`` names a file whose device is the default instead (``device_from_args``)."""
    default = f"{DEFAULT_DEVICE}, or {saved}'s" if saved else DEFAULT_DEVICE
    parser.add_argument(
        "--device", choices=DEVICES,
        help=f"device for {what}: auto uses the GPU when one is usable, else the CPU; gpu fails without one "
        f"(default: {default})",
    )  # fmt: skip


def device_from_args(args: argparse.Namespace, default: str = DEFAULT_DEVICE) -> str:
    """The ``--device`` given, else ``default`` ('auto', or a saved file's device)."""
    return default if args.device is None else args.device


def add_seed_option(parser: argparse.ArgumentParser, *, what: str, saved: str = "") -> None:
    """``--seed N``: an integer >= 0 (checked by ``seed_from_args`` or the command's config, one
    clear error and exit 2), default 0. ``saved`` names a file whose seed is the default instead."""
    default = f"{DEFAULT_SEED}, or {saved}'s" if saved else str(DEFAULT_SEED)
    parser.add_argument(
        "--seed", type=int, metavar="N",
        help=f"seed of {what}: the same seed gives the same result (default: {default})",
    )  # fmt: skip


def seed_from_args(args: argparse.Namespace, default: int = DEFAULT_SEED) -> int:
    """The ``--seed`` given (checked: an integer >= 0), else ``default`` (0, or a saved file's seed)."""
    return default if args.seed is None else check_int(args.seed, "seed", minimum=0)


def add_voxel_size_option(parser: argparse.ArgumentParser, *, extra: str = "") -> None:
    """``--voxel-size Å``: the voxel edge when the tomogram's header lacks one (0 or 1)."""
    parser.add_argument(
        "--voxel-size", type=float, metavar="Å",
        help=f"voxel size in Å when the tomogram's header lacks one (0 or 1){extra}",
    )  # fmt: skip


def add_formats_option(parser: argparse.ArgumentParser) -> None:
    """``--formats LIST`` of pick files, read with ``format_list``."""
    parser.add_argument("--formats", default="csv", metavar="LIST", help=FORMATS_HELP)


def format_list(text: str) -> tuple[str, ...]:
    """Pick formats from a comma-separated ``--formats`` value (``json`` is copick), checked."""
    from ..workflows import PICK_FORMATS

    formats = tuple(dict.fromkeys(FORMAT_ALIASES.get(f.strip(), f.strip()) for f in text.split(",") if f.strip()))
    if not formats:
        raise UnpickInputError("--formats: expected at least one of csv, tsv, star, relion4, copick, ndjson, dynamo, imod")
    for fmt in formats:
        check_choice(fmt, "--formats", tuple(PICK_FORMATS))
    return formats


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``, for every command that draws progress bars (``-q`` hides them too)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (-q hides them too)")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars unless ``-q``/``--quiet`` or ``--no-progress`` was given."""
    return not (getattr(args, "quiet", False) or getattr(args, "no_progress", False))
