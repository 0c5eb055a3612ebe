"""The run record: what one run read, with which settings, what it wrote and what it decided.

``job.json`` in a run's folder is a :class:`RunRecord`, written atomically and after every output,
so a folder without one is unfinished. :func:`finished_run` is the one answer to "does this folder
hold a finished run of these inputs with these settings, all its outputs still there?": the batch's
resume, refine's teacher reuse and anything else that skips finished work ask it.

On disk the decisions stay at the top level of ``job.json`` (``segmentations``, ``picks``,
``config``, ``workflows``...: the paths the README documents and ``unpick pick --config job.json``
replays), beside the record's own keys ``schema_version``, ``kind``, ``inputs``, ``settings``,
``settings_hash`` and ``outputs``. A ``job.json`` written before the record had a schema (no
``schema_version``) reads as schema 0: its ``input`` path and ``outputs`` are kept, its input
fingerprints and settings were never recorded, so it is readable (evaluate, summaries) but never
current.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from .._shared import UnpickInputError
from ..io import atomic_write

logger = logging.getLogger(__name__)

JOB_FILE = "job.json"
_OWN_KEYS = ("schema_version", "kind", "inputs", "settings", "settings_hash", "outputs")


def input_fingerprint(path: str | os.PathLike) -> dict[str, int]:
    """Size (bytes) and latest modification time (ns) of an input file, or of all files of a Zarr
    store folder: what tells a changed input from the one a run read."""
    path = Path(path)
    if not path.is_dir():
        stat = path.stat()
        return {"size_bytes": int(stat.st_size), "mtime_ns": int(stat.st_mtime_ns)}
    stats = [entry.stat() for entry in path.rglob("*") if entry.is_file()]
    return {
        "size_bytes": sum(int(s.st_size) for s in stats),
        "mtime_ns": max((int(s.st_mtime_ns) for s in stats), default=int(path.stat().st_mtime_ns)),
    }


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short stable hash of a run's settings (their JSON with sorted keys): equal settings, equal hash."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One input of a run: its path and the fingerprint it had when the run read it.

    ``size_bytes`` and ``mtime_ns`` are None in a schema-0 record, which did not record them.
    """

    path: str
    size_bytes: int | None = None
    mtime_ns: int | None = None

    @classmethod
    def of(cls, path: str | os.PathLike) -> InputFile:
        """The input ``path`` (made absolute) with its fingerprint now."""
        return cls(str(Path(path).resolve()), **input_fingerprint(path))

    def fingerprint(self) -> dict[str, int | None]:
        """``{'size_bytes': ..., 'mtime_ns': ...}`` as recorded."""
        return {"size_bytes": self.size_bytes, "mtime_ns": self.mtime_ns}


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What one run read, with which settings, what it wrote and what it decided (``job.json``).

    Attributes
    ----------
    kind : str
        The kind of run, e.g. ``'pick'``.
    inputs : tuple of InputFile
        The files (or Zarr stores) it read, with their fingerprints.
    settings : dict
        Everything that changes the outputs (for a pick run ``pick_settings``: workflows, config,
        formats, ...); plain JSON. ``settings_hash`` is its stable hash.
    outputs : tuple of str
        Every file the run wrote, relative to its folder (POSIX separators), the record itself
        excepted.
    decisions : dict
        What the run found and chose (for a pick run ``PickResult.record``: segmentations, pick
        counts, timings, versions, ...); plain JSON.
    schema_version : int
        ``RunRecord.SCHEMA_VERSION`` for a record written now; 0 for a ``job.json`` from before.
    """

    SCHEMA_VERSION: ClassVar[int] = 1

    kind: str
    inputs: tuple[InputFile, ...]
    settings: dict[str, Any]
    outputs: tuple[str, ...]
    decisions: dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"kind: expected a non-empty string such as 'pick', got {self.kind!r}")
        inputs = tuple(self.inputs)
        if not all(isinstance(item, InputFile) for item in inputs):
            raise ValueError(f"inputs: expected InputFile items (InputFile.of(path)), got {inputs!r}")
        outputs = tuple(self.outputs)
        for name in outputs:
            if not isinstance(name, str) or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                raise ValueError(f"outputs: expected paths relative to the run folder, got {name!r}")
        decisions = _plain(self.decisions, "decisions")
        clash = sorted(set(decisions) & set(_OWN_KEYS))
        if clash:
            raise ValueError(f"decisions: the keys {clash} belong to the record itself; rename them")
        if isinstance(self.schema_version, bool) or not isinstance(self.schema_version, int):
            raise ValueError(f"schema_version: expected an integer, got {self.schema_version!r}")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "settings", _plain(self.settings, "settings"))
        object.__setattr__(self, "decisions", decisions)

    @property
    def settings_hash(self) -> str:
        """The stable hash of ``settings`` (``settings_hash``)."""
        return settings_hash(self.settings)

    @property
    def is_current_schema(self) -> bool:
        """True when written with this unpick's schema (only such a record can count as finished)."""
        return self.schema_version == self.SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The ``job.json`` document: the record's own keys, then the decisions at the top level."""
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "inputs": [dataclasses.asdict(item) for item in self.inputs],
            "settings": self.settings,
            "settings_hash": self.settings_hash,
            "outputs": list(self.outputs),
            **self.decisions,
        }

    @classmethod
    def from_json(cls, source: Mapping[str, Any] | str | os.PathLike) -> RunRecord:
        """A record from a ``job.json`` document, its file, or the run folder holding it.

        A document without ``schema_version`` is migrated from schema 0 (its ``input`` and
        ``outputs`` keys); one from a newer unpick is refused.
        """
        where = "run record"
        if not isinstance(source, Mapping):
            path = Path(source)
            path = path / JOB_FILE if path.is_dir() else path
            where, source = str(path), _read(path)
        try:
            return cls._parse(source)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise UnpickInputError(
                f"{where}: not a run record written by unpick ({err}); run it again to rewrite {JOB_FILE}"
            ) from err

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> RunRecord:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        rest = dict(data)
        if "schema_version" not in rest:  # schema 0: a pick run's job.json from before the record
            source = rest.pop("input", None)
            inputs = () if source is None else (InputFile(str(source)),)
            return cls("pick", inputs, {}, tuple(rest.pop("outputs", ())), rest, schema_version=0)
        version = rest.pop("schema_version")
        if isinstance(version, int) and version > cls.SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is newer than this unpick's {cls.SCHEMA_VERSION}; "
                             f"upgrade unpick")
        rest.pop("settings_hash", None)  # derived from the settings
        inputs = tuple(InputFile(**item) for item in rest.pop("inputs"))
        return cls(rest.pop("kind"), inputs, rest.pop("settings"), tuple(rest.pop("outputs")), rest,
                   schema_version=version)  # fmt: skip

    def write(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/job.json`` atomically (after the outputs it lists, so it marks them finished)."""
        return write_json(Path(folder) / JOB_FILE, self.to_json())


def finished_run(
    folder: str | os.PathLike, *, inputs: Sequence[str | os.PathLike], settings: Mapping[str, Any]
) -> RunRecord | None:
    """The record of ``folder`` when it holds a finished, current run of ``inputs`` with ``settings``.

    Current means: its ``job.json`` parses, has this unpick's schema, records the same inputs
    (size and modification time, in order; a file moved elsewhere unchanged is the same input),
    the same settings hash, and every output it lists exists. Otherwise None, and the reason is
    logged (INFO), so the caller runs it again.
    """
    folder = Path(folder)
    if not (folder / JOB_FILE).is_file():
        return None
    try:
        record = RunRecord.from_json(folder / JOB_FILE)
    except UnpickInputError as err:
        logger.info("%s: not finished: %s", folder, err)
        return None
    reason = _stale_reason(record, folder, [Path(p) for p in inputs], settings)
    if reason:
        logger.info("%s: not current: %s", folder, reason)
        return None
    return record


def _stale_reason(record: RunRecord, folder: Path, inputs: list[Path], settings: Mapping[str, Any]) -> str:
    """Why ``record`` is not a finished run of ``inputs`` with ``settings`` ('' when it is)."""
    if not record.is_current_schema:
        return f"{JOB_FILE} has schema {record.schema_version}, this unpick writes {RunRecord.SCHEMA_VERSION}"
    if len(record.inputs) != len(inputs):
        return f"it read {len(record.inputs)} input(s), this run reads {len(inputs)}"
    for recorded, path in zip(record.inputs, inputs):
        if recorded.fingerprint() != input_fingerprint(path):
            return f"{path} changed since it was read (size or modification time)"
    if record.settings_hash != settings_hash(settings):
        return "the settings changed"
    missing = [name for name in record.outputs if not (folder / name).is_file()]
    if missing:
        return f"its output {missing[0]} is missing"
    return ""


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically; numpy values become plain numbers and lists."""
    with atomic_write(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=False))
    return path


def _read(path: Path) -> Any:
    """The JSON document of a record file; a missing or unreadable file is one clear error."""
    if not path.is_file():
        raise UnpickInputError(
            f"{path}: no run record; a run folder holds its {JOB_FILE} once finished, so run it (again)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnpickInputError(f"{path}: cannot read the run record ({err}); run it again to rewrite it") from err


def _plain(value: Any, what: str) -> dict[str, Any]:
    """``value`` as plain JSON (tuples as lists, numpy values as numbers), so a record equals its round trip."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected a dict, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: expected plain JSON values ({err})") from err


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays become plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
