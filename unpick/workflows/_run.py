"""``unpick pick`` on files: read a tomogram, run workflows, write picks, masks and the job record."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._shared import UnpickInputError, check_choice
from ..io import check_tomogram_name, read_tomogram, write_mrc, write_picks
from ._config import PickConfig
from ._files import write_picks_report
from ._names import DEFAULT_WORKFLOW, parse_selection
from ._record import JOB_FILE, InputFile, RunRecord
from ._runner import PickResult, pick_tomogram
from ._segment import Segmentation

if TYPE_CHECKING:
    from ..io import CopickTarget

logger = logging.getLogger(__name__)

PICK_FORMATS = {
    "csv": ".csv", "tsv": ".tsv", "star": ".star", "relion4": "_relion4.star", "copick": ".json", "ndjson": ".ndjson",
    "dynamo": ".tbl", "imod": ".mod",
}  # fmt: skip


@dataclass
class PickRun:
    """Where one tomogram's outputs went, the in-memory result and the run record written last."""

    out_dir: Path
    result: PickResult
    record: RunRecord

    @property
    def job_file(self) -> Path:
        return self.out_dir / JOB_FILE


def pick_settings(
    *,
    workflows: str | Iterable[str],
    config: PickConfig,
    voxel_size_angstrom: float | None,
    formats: Iterable[str],
    write_masks: bool,
    report: bool,
    copick: CopickTarget | None = None,
) -> dict[str, Any]:
    """The settings a pick run records in its ``job.json`` and ``finished_run`` compares: all that
    changes its outputs (``run_pick``'s arguments of the same names), not the device (CPU and GPU
    agree within float tolerance) nor the progress bars. The order of the workflows counts (the
    report shows the first one); the order of the formats does not."""
    chosen, combined = parse_selection(workflows)
    return {
        "workflows": [w.name for w in chosen] + list(combined),
        "config": config.to_dict(),
        "voxel_size_angstrom": voxel_size_angstrom,
        "formats": sorted(set(formats)),
        "write_masks": bool(write_masks),
        "report": bool(report),
        "copick": None if copick is None else {
            "config": str(copick.config), "object": copick.object_name, "session": copick.session_id,
        },
    }  # fmt: skip


def run_pick(
    tomogram_path: str | Path,
    out_dir: str | Path,
    *,
    workflows: str | Iterable[str] = DEFAULT_WORKFLOW,
    config: PickConfig | None = None,
    voxel_size_angstrom: float | None = None,
    device: str = "cpu",
    formats: Iterable[str] = ("csv",),
    write_masks: bool = True,
    report: bool = True,
    copick: CopickTarget | None = None,
    progress: bool = True,
    name: str | None = None,
) -> PickRun:
    """Pick one tomogram file and write ``out_dir/<name>/{picks/,masks/,report.png,job.json}``.

    ``report`` draws the picks of the first workflow over orthogonal slabs (``report.png``).
    ``copick`` also writes each workflow's picks into that copick project (run = the name).
    ``name`` replaces the tomogram's name (the file stem, ``tomogram_name``): the output folder,
    the ``tomogram`` column of the picks and ``rlnTomoName`` of STAR files.

    Every file is written atomically and ``job.json`` (a :class:`RunRecord` of kind ``'pick'``:
    the input's fingerprint, ``pick_settings``, the outputs, ``PickResult.record``) last, so a
    folder without it is unfinished; an earlier ``job.json`` is removed first, so a failed re-run
    never looks complete, and the outputs of an earlier run that this one does not write again
    (other workflows, formats, masks, the report) are removed before ``job.json``, so the folder
    holds one run only.
    """
    formats = tuple(formats)
    for fmt in formats:
        check_choice(fmt, "pick format", tuple(PICK_FORMATS))
    config = config or PickConfig()
    settings = pick_settings(workflows=workflows, config=config, voxel_size_angstrom=voxel_size_angstrom,
                             formats=formats, write_masks=write_masks, report=report, copick=copick)  # fmt: skip
    workflows = settings["workflows"]  # a bad name failed above, before any work
    start = time.perf_counter()
    source = InputFile.of(tomogram_path)  # before reading: a file changed meanwhile is read again next time
    tomogram = read_tomogram(tomogram_path, voxel_size_angstrom=voxel_size_angstrom)
    logger.info(
        "%s: shape %s, voxel size %.3g Å (from %s)",
        tomogram.path.name,
        tomogram.data.shape,
        tomogram.voxel_size_angstrom,
        tomogram.voxel_size_source,
    )
    if name is not None:
        tomogram = dataclasses.replace(tomogram, name=check_tomogram_name(name))
    target = Path(out_dir) / tomogram.name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnpickInputError(f"{target}: cannot create the output folder ({err}); choose a writable --out") from err
    (target / JOB_FILE).unlink(missing_ok=True)

    written = []

    def save_mask(segmentation: Segmentation) -> None:
        if write_masks:
            (target / "masks").mkdir(exist_ok=True)
            path = write_mrc(
                target / "masks" / f"{segmentation.name}.mrc",
                segmentation.mask,
                voxel_size_angstrom=tomogram.voxel_size_angstrom,
            )
            written.append(Path(path).relative_to(target).as_posix())

    result = pick_tomogram(
        tomogram.data,
        voxel_size_angstrom=tomogram.voxel_size_angstrom,
        workflows=workflows,
        config=config,
        tomogram=tomogram.name,
        device=device,
        progress=progress,
        on_segmentation=save_mask,
    )
    (target / "picks").mkdir(exist_ok=True)
    for name, picks in result.picks.items():
        for fmt in formats:
            path = target / "picks" / f"{name}{PICK_FORMATS[fmt]}"
            write_picks(path, picks, volume_shape_zyx=tomogram.data.shape, object_name="particle")
            written.append(path.relative_to(target).as_posix())
        if copick is not None:
            copick.write(tomogram.name, picks, workflow=name)
    if report:
        shown = next(iter(result.picks))
        write_picks_report(
            target / "report.png",
            tomogram.data,
            result.picks[shown],
            radius_voxels=_display_radius_voxels(config, tomogram.voxel_size_angstrom),
            title=f"{tomogram.name}: {shown}",
        )
        written.append("report.png")
    remove_stale_outputs(target, written)
    result.record["voxel_size_source"] = tomogram.voxel_size_source
    result.record["timings_s"]["total"] = time.perf_counter() - start
    record = RunRecord("pick", (source,), settings, tuple(written), result.record)
    record.write(target)
    return PickRun(out_dir=target, result=result, record=record)


#: What ``run_pick`` writes in a tomogram's folder (besides ``job.json``): a rerun removes what it did not write again.
OUTPUT_GLOBS = ("picks/*", "masks/*.mrc", "report.png")


def remove_stale_outputs(target: Path, written: list[str]) -> None:
    """Delete the outputs an earlier run left in ``target`` that this run did not write (other
    workflows, formats, masks or a report), so the folder holds one run's results only."""
    keep = {target / name for name in written}
    for pattern in OUTPUT_GLOBS:
        for path in target.glob(pattern):
            if path.is_file() and path not in keep:
                logger.info("%s: removing %s, left by an earlier run", target.name, path.relative_to(target))
                path.unlink()


def _display_radius_voxels(config: PickConfig, voxel_size_angstrom: float) -> float:
    """Circle radius for the report: the particle radius when given, else the watershed spacing."""
    radius = config.particle_radius_angstrom
    if radius is not None:
        return radius / voxel_size_angstrom
    return float(config.instance_config("ws").limits(voxel_size_angstrom=voxel_size_angstrom).min_distance_voxels)
