"""copick projects: tomograms chosen by run, type and voxel spacing; picks read and written through
copick's own API (``copick.from_file``, ``CopickRun.new_picks``, ``CopickPicks.from_numpy``).

A copick project is a ``config.json`` naming its storage and its pickable objects. Each run holds
voxel spacings, each voxel spacing tomograms of several types (``wbp``, ``denoised``, ...) stored
as OME-Zarr, and picks sets named by object, user and session. unpick reads a tomogram from the
local OME-Zarr store of its copick tomogram (the normal Zarr reader, lazily) and writes each
workflow's picks as the set (object, ``unpick-<workflow>``, session), scores included.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._shared import UnpickInputError, make_picks
from ._table import XYZ, check_picks, single_voxel_size

logger = logging.getLogger(__name__)

#: Prefix of the copick user id of unpick's picks: ``unpick-<workflow>`` (copick forbids ``_``).
USER_PREFIX = "unpick-"
#: copick's session id of picks made by a tool rather than a person.
TOOL_SESSION = "0"
#: A voxel spacing matches a requested one within this relative tolerance.
SPACING_TOLERANCE = 1e-3


@dataclass(frozen=True)
class CopickTomogram:
    """One copick tomogram: its run, voxel spacing (Å), type and local OME-Zarr store."""

    run: str
    voxel_size_angstrom: float
    tomo_type: str
    path: Path


@dataclass(frozen=True)
class CopickTarget:
    """Where picks go in a copick project: the project config, the pickable object and the session.

    The user id of a workflow's picks is ``user_id(workflow)``, so every workflow keeps its own set.
    The project is opened on the first write and kept for the later ones (``project``); a target
    pickled to a batch worker travels without it, and the worker opens its own.
    """

    config: Path
    object_name: str
    session_id: str = TOOL_SESSION

    @staticmethod
    def user_id(workflow: str) -> str:
        """``unpick-<workflow>`` with characters copick refuses (``_``, spaces, separators) as ``-``."""
        return copick_name(f"{USER_PREFIX}{workflow}")

    @functools.cached_property
    def project(self) -> Any:
        """The copick root of ``config``, opened once for every write through this target."""
        return open_copick_project(self.config)

    def __getstate__(self) -> dict[str, Any]:
        """The fields without the open project (copick roots hold file handles and caches)."""
        return {name: value for name, value in self.__dict__.items() if name != "project"}

    def write(self, run: str, picks: pd.DataFrame, *, workflow: str) -> None:
        """Write one workflow's picks of ``run`` into the project (replacing that set if it exists)."""
        _write_picks(
            self.project, self.config, run, picks, object_name=self.object_name, user_id=self.user_id(workflow),
            session_id=self.session_id,
        )  # fmt: skip


def copick_name(text: str) -> str:
    """``text`` as a copick name: the characters copick refuses in names become ``-``."""
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f\x7f\s_]', "-", str(text)).strip("-")
    if not name:
        raise UnpickInputError(f"copick name: {text!r} has no usable characters; use letters, digits, '-' or '.'")
    return name


def open_copick_project(config: str | os.PathLike) -> Any:
    """The copick root of ``config`` (a project ``config.json``), with clear errors."""
    path = Path(config)
    if not path.is_file():
        raise UnpickInputError(f"{path}: no copick project config here; pass the project's config.json with --copick")
    try:
        import copick
    except ImportError as err:
        raise UnpickInputError(
            f"{path}: reading a copick project needs copick; install it with pip install 'unpick[copick]'"
        ) from err
    try:
        return copick.from_file(str(path))
    except Exception as err:  # copick raises pydantic, JSON and fsspec errors for a bad config
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnpickInputError(f"{path}: not a readable copick project config ({first})") from err


def parse_tomogram_spec(text: str | None) -> tuple[str | None, float | None]:
    """``TYPE@VOXEL_SPACING`` (``wbp@10``), ``TYPE`` or ``@VOXEL_SPACING`` -> (type, spacing in Å)."""
    if text is None:
        return None, None
    tomo_type, _, spacing = str(text).partition("@")
    value = None
    if spacing:
        try:
            value = float(spacing)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value) or value <= 0:
            raise UnpickInputError(
                f"--tomogram: expected TYPE@VOXEL_SPACING such as wbp@10 (spacing in Å), got {text!r}"
            )
    return tomo_type.strip() or None, value


def copick_tomograms(
    config: str | os.PathLike, *, runs: list[str] | None = None, tomogram: str | None = None
) -> list[CopickTomogram]:
    """The tomograms of a copick project to pick, one per run, sorted by run.

    Parameters
    ----------
    config : path
        The project's ``config.json``.
    runs : list of str, optional
        Run names; default every run of the project. A named run without the tomogram is an error;
        when every run is taken, such runs are skipped with a WARNING naming them.
    tomogram : str, optional
        ``TYPE@VOXEL_SPACING`` (e.g. ``wbp@10``), ``TYPE`` or ``@SPACING``; default the run's
        only tomogram (a run with several must be told which).

    Raises
    ------
    UnpickInputError
        Unknown runs, no or several matching tomograms, or a tomogram not on a local filesystem.
    """
    root = open_copick_project(config)
    tomo_type, spacing = parse_tomogram_spec(tomogram)
    available = {run.name: run for run in root.runs}
    if runs:
        unknown = [name for name in runs if name not in available]
        if unknown:
            raise UnpickInputError(
                f"{config}: no copick run named {', '.join(map(repr, unknown))}; the project has "
                f"{_listing(sorted(available))}"
            )
        chosen = [available[name] for name in dict.fromkeys(runs)]
    else:
        chosen = [available[name] for name in sorted(available)]
    if not chosen:
        raise UnpickInputError(f"{config}: the copick project has no runs; add tomograms to it first")
    found, missing = [], []
    for run in chosen:
        matches = _matching_tomograms(run, tomo_type, spacing)
        if len(matches) > 1:
            options = ", ".join(sorted(f"{t.tomo_type}@{t.voxel_spacing.voxel_size:g}" for t in matches))
            raise UnpickInputError(
                f"{config}: run {run.name!r} has several tomograms ({options}); choose one with --tomogram TYPE@SPACING"
            )
        if not matches:
            missing.append(run)
            continue
        found.append(_local_tomogram(config, run.name, matches[0]))
    wanted = tomogram or "a tomogram"
    if missing and (runs or not found):
        have = {r.name: _tomogram_options(r) for r in missing}
        detail = "; ".join(f"{name}: {opts or 'none'}" for name, opts in have.items())
        raise UnpickInputError(
            f"{config}: no {wanted} in run(s) {', '.join(have)} (they have {detail}); choose one with "
            f"--tomogram TYPE@SPACING"
        )
    if missing:
        logger.warning(
            "%s: %d run(s) without %s skipped: %s", config, len(missing), wanted, ", ".join(r.name for r in missing)
        )
    return found


def _matching_tomograms(run: Any, tomo_type: str | None, spacing: float | None) -> list[Any]:
    matches = []
    for voxel_spacing in run.voxel_spacings:
        if spacing is not None and abs(voxel_spacing.voxel_size / spacing - 1) > SPACING_TOLERANCE:
            continue
        matches.extend(t for t in voxel_spacing.tomograms if tomo_type is None or t.tomo_type == tomo_type)
    return matches


def _tomogram_options(run: Any) -> str:
    return ", ".join(sorted(f"{t.tomo_type}@{vs.voxel_size:g}" for vs in run.voxel_spacings for t in vs.tomograms))


def _local_tomogram(config: str | os.PathLike, run: str, tomogram: Any) -> CopickTomogram:
    """The local OME-Zarr store of a copick tomogram (only local filesystems are read)."""
    store = tomogram.zarr()
    protocol = getattr(getattr(store, "fs", None), "protocol", None)
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol or ())
    if not {"file", "local"} & set(protocols):
        raise UnpickInputError(
            f"{config}: run {run!r} keeps its tomogram on {protocols[0] if protocols else 'a remote store'}; "
            f"unpick reads local copick projects only (copy the tomogram locally, e.g. with copick's own tools)"
        )
    return CopickTomogram(
        run=run, voxel_size_angstrom=float(tomogram.voxel_spacing.voxel_size), tomo_type=tomogram.tomo_type,
        path=Path(store.path),
    )  # fmt: skip


def copick_object_name(config: str | os.PathLike, object_name: str | None) -> str:
    """``object_name`` checked against the project's pickable objects, else its only particle object."""
    root = open_copick_project(config)
    names = [o.name for o in root.pickable_objects]
    particles = [o.name for o in root.pickable_objects if o.is_particle]
    if object_name is not None:
        if object_name not in names:
            raise UnpickInputError(
                f"{config}: --object {object_name!r} is not a pickable object of the project ({_listing(names)})"
            )
        return object_name
    if len(particles) == 1:
        return particles[0]
    raise UnpickInputError(
        f"{config}: the project has {len(particles)} particle objects ({_listing(particles)}); "
        f"name the one the picks are with --object"
    )


def write_copick_picks(
    config: str | os.PathLike,
    run: str,
    picks: pd.DataFrame,
    *,
    object_name: str,
    user_id: str,
    session_id: str = TOOL_SESSION,
) -> None:
    """Write a picks table into a copick run as the set (object, user, session), through copick.

    Locations are in Å from the volume corner (voxel coordinate x voxel size), the scores are kept
    and orientations are the identity (unknown). An existing set of the same names is replaced.
    """
    _write_picks(
        open_copick_project(config), config, run, picks, object_name=object_name, user_id=user_id, session_id=session_id
    )


def _write_picks(
    root: Any, config: str | os.PathLike, run: str, picks: pd.DataFrame, *, object_name: str, user_id: str,
    session_id: str,
) -> None:
    """``write_copick_picks`` into the open project ``root`` (of ``config``, named in messages)."""
    picks = check_picks(picks)
    voxel_size = single_voxel_size(picks, fmt="a copick picks set") or 1.0
    copick_run = root.get_run(run)
    if copick_run is None:
        raise UnpickInputError(f"{config}: no copick run named {run!r} to write picks into")
    positions = picks[list(XYZ)].to_numpy(dtype=float) * voxel_size
    scores = picks["score"].to_numpy(dtype=float) if "score" in picks.columns else np.ones(len(picks))
    try:
        target = copick_run.new_picks(object_name, session_id, user_id=user_id, exist_ok=True)
        target.from_numpy(positions, scores=np.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=0.0))
    except ValueError as err:  # copick: unknown object, bad names
        raise UnpickInputError(f"{config}: cannot write picks of run {run!r} ({err})") from err
    logger.info("%s: wrote %d picks to copick run %s as %s/%s/%s", config, len(picks), run, object_name, user_id,
                session_id)  # fmt: skip


def read_copick_picks(
    config: str | os.PathLike,
    run: str,
    *,
    object_name: str,
    voxel_size_angstrom: float,
    user_id: str | None = None,
    session_id: str | None = None,
) -> pd.DataFrame:
    """The picks of one set of a copick run as a picks table in voxels (``x, y, z``, ``score``).

    A point's position is its location plus the translation of its transformation (copick's
    ``full_positions``), in Å, divided by ``voxel_size_angstrom``. Exactly one set must match the
    object, user and session given.
    """
    root = open_copick_project(config)
    copick_run = root.get_run(run)
    if copick_run is None:
        raise UnpickInputError(f"{config}: no copick run named {run!r}")
    sets = copick_run.get_picks(object_name=object_name, user_id=user_id, session_id=session_id)
    if len(sets) != 1:
        found = ", ".join(f"{p.user_id}/{p.session_id}" for p in copick_run.get_picks(object_name=object_name))
        asked = f"user {user_id or 'any'}, session {session_id or 'any'}"
        raise UnpickInputError(
            f"{config}: run {run!r} has {len(sets)} picks sets of {object_name!r} for {asked} (sets: {found or 'none'}); "
            f"name one with its user and session"
        )
    positions = sets[0].full_positions() / voxel_size_angstrom
    return make_picks(
        positions[:, ::-1].reshape(-1, 3), voxel_size_angstrom=voxel_size_angstrom, score=sets[0].scores(),
        workflow=sets[0].user_id, tomogram=run,
    )  # fmt: skip


def unpick_picks_sets(config: str | os.PathLike, run: str, *, object_name: str, session_id: str) -> dict[str, str]:
    """The picks sets unpick wrote into a run for an object and session: workflow -> user id
    (``unpick-<workflow>``)."""
    copick_run = open_copick_project(config).get_run(run)
    if copick_run is None:
        raise UnpickInputError(f"{config}: no copick run named {run!r}")
    sets = copick_run.get_picks(object_name=object_name, session_id=session_id)
    users = sorted(p.user_id for p in sets if p.user_id.startswith(USER_PREFIX))
    return {user.removeprefix(USER_PREFIX): user for user in users}


def _listing(names: list[str]) -> str:
    return ", ".join(map(repr, names)) if names else "none"
