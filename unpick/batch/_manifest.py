"""The batch manifest: one JSON line per tomogram run (done or failed), appended by the parent process only.

``OUT/manifest.jsonl`` is the batch's append-only log; the latest line for a tomogram wins. Whether
a tomogram is finished is not read here but from its run record (``unpick.workflows.finished_run``
on ``OUT/<name>/job.json``); the manifest keeps the history and guards an output folder against
another input file of the same name. A line is written with a single ``write`` on a file opened for
appending and then synced, so a killed batch leaves at worst one truncated last line, which is
ignored (with a warning) when the manifest is read.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .._shared import UnpickInputError

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.jsonl"
MANIFEST_SCHEMA = 2  # 2: settings_hash (was config_hash), no outputs (the run record lists them)


class Manifest:
    """Read and append the per-tomogram records of ``OUT/manifest.jsonl``.

    Records are dicts with at least ``tomogram``, ``status`` (``'done'`` or ``'failed'``),
    ``input``, ``size_bytes``, ``mtime_ns`` and ``settings_hash``.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST_FILE
        self.latest: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            lines = self.path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise UnpickInputError(
                f"{self.path}: cannot read the batch manifest ({err}); move it away to start the batch afresh"
            ) from err
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s: line %d is incomplete (a killed run?) and is ignored", self.path, number)
                continue
            if isinstance(record, dict) and isinstance(record.get("tomogram"), str):
                self.latest[record["tomogram"]] = record
            else:
                logger.warning("%s: line %d is not a tomogram record and is ignored", self.path, number)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record (one ``write`` call, then ``fsync``) and make it the latest.

        A last line left torn by a killed run (no final newline) is ended first, so this record
        starts a line of its own instead of gluing onto the torn one and being lost with it.
        """
        record = {"schema": MANIFEST_SCHEMA, **record}
        line = (json.dumps(record, sort_keys=True, default=_json_default) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.latest[record["tomogram"]] = record

    def check_same_input(self, name: str, path: Path, fingerprint: dict[str, int]) -> None:
        """Refuse to overwrite ``OUT/<name>`` when it holds the results of another input file.

        A file that moved (other path, same size and mtime) counts as the same input.
        """
        record = self.latest.get(name)
        if record is None or Path(record.get("input", "")) == path.resolve():
            return
        if all(record.get(key) == value for key, value in fingerprint.items()):
            return
        raise UnpickInputError(
            f"{path}: the output folder '{name}' already holds results of another file "
            f"({record.get('input')}); use a different --out for this data set or remove that folder "
            f"and its lines from {self.path}"
        )


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
