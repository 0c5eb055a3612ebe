"""Find the tomograms of a batch and make sure the output folder can take the results."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._shared import UnpickInputError
from ..io import is_zarr, tomogram_name

logger = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.mrc", "*.rec", "*.zarr")
LOCK_FILE = ".unpick-batch.lock"


@dataclass(frozen=True)
class TomogramInput:
    """One input file and the name of its output folder (``OUT/<name>``)."""

    name: str
    path: Path


def discover_tomograms(
    input_dir: str | os.PathLike,
    *,
    patterns: str | Sequence[str] = DEFAULT_PATTERNS,
    recursive: bool = False,
    exclude: str | os.PathLike | None = None,
) -> list[TomogramInput]:
    """List the tomogram files of ``input_dir`` matching any of ``patterns``, sorted by name.

    Parameters
    ----------
    input_dir : path
        Folder holding the tomograms.
    patterns : str or sequence of str
        Shell globs matched against file names (``'*.mrc'``); hidden files are ignored. Zarr stores
        (``*.zarr`` / ``*.ome.zarr`` folders) are tomograms too.
    recursive : bool
        Also search sub-folders.
    exclude : path, optional
        A folder whose files are never inputs (the batch output folder, so that written masks
        are not picked up as tomograms when it lies inside ``input_dir``).

    Returns
    -------
    list of TomogramInput
        One per file; ``name`` is the file stem without a leading ``rec_``.

    Raises
    ------
    UnpickInputError
        If ``input_dir`` is not a folder, nothing matches, or two files share a name (their
        outputs would overwrite each other).
    """
    root = Path(input_dir)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise UnpickInputError(f"{root}: input directory {what}; pass the folder that holds the tomograms")
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise UnpickInputError(f"glob: expected one or more non-empty patterns like '*.mrc', got {patterns!r}")
    excluded = Path(exclude).resolve() if exclude is not None else None
    found: dict[Path, None] = {}
    for pattern in patterns:
        for path in sorted(root.rglob(pattern) if recursive else root.glob(pattern)):
            if path.name.startswith(".") or not (path.is_file() or is_zarr(path)):
                continue
            if excluded is not None and path.resolve().is_relative_to(excluded):
                continue
            found[path] = None
    if not found:
        quoted = ", ".join(repr(p) for p in patterns)
        raise UnpickInputError(
            f"no tomograms matching {quoted} in {root}{' (searched recursively)' if recursive else ''}; "
            f"use --glob to match your file names"
        )
    items = tomogram_inputs(list(found))
    logger.info("found %d tomogram(s) in %s", len(items), root)
    return items


def tomogram_inputs(paths: Sequence[str | os.PathLike]) -> list[TomogramInput]:
    """``paths`` as named batch inputs, sorted by name.

    A file whose name gives no output folder (``...mrc``) is skipped with a WARNING naming it, so
    the rest of the batch still runs; two files sharing a name are an error (their outputs would
    overwrite each other).
    """
    by_name: dict[str, TomogramInput] = {}
    for path in map(Path, paths):
        try:
            item = TomogramInput(name=tomogram_name(path), path=path)
        except UnpickInputError as err:
            logger.warning("skipped: %s", err)
            continue
        if item.name in by_name:
            raise UnpickInputError(
                f"{path} and {by_name[item.name].path} both map to the output folder '{item.name}'; "
                f"rename one or narrow --glob"
            )
        by_name[item.name] = item
    if not by_name:
        raise UnpickInputError(f"no tomogram with a usable name among {len(paths)} input(s); rename the files")
    return sorted(by_name.values(), key=lambda item: item.name)


def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and prove it is writable, before any work starts.

    Raises
    ------
    UnpickInputError
        If the folder cannot be created or a file cannot be written in it.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".unpick-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UnpickInputError(
            f"{out}: output directory is not writable ({err.strerror or err}); choose a writable --out"
        ) from err
    return out


@contextlib.contextmanager
def batch_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` so two batches never write one manifest at once.

    The lock (``flock`` on ``OUT/.unpick-batch.lock``) dies with its process, so a killed batch
    never blocks the next one. Where ``fcntl`` is missing (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = out_dir / LOCK_FILE
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UnpickInputError(
                f"{out_dir}: another unpick batch is writing here (process {holder}); wait for it "
                f"to finish or use a different --out"
            ) from err
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
