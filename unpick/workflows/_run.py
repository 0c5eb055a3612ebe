"""``unpick pick`` on files: read a tomogram, run workflows, write picks, masks and the job record."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._shared import UnpickInputError, check_choice
from ..io import atomic_write, read_tomogram, write_mrc, write_picks
from ._config import PickConfig
from ._runner import PickResult, pick_tomogram
from ._segment import Segmentation

logger = logging.getLogger(__name__)

PICK_FORMATS = {"csv": ".csv", "tsv": ".tsv", "star": ".star", "copick": ".json", "ndjson": ".ndjson"}
JOB_FILE = "job.json"


@dataclass
class PickRun:
    """Where one tomogram's outputs went, and the in-memory result."""

    out_dir: Path
    result: PickResult

    @property
    def job_file(self) -> Path:
        return self.out_dir / JOB_FILE


def run_pick(
    tomogram_path: str | Path,
    out_dir: str | Path,
    *,
    workflows: str | Iterable[str] = "gabor-kmeans-ws",
    config: PickConfig | None = None,
    voxel_size_angstrom: float | None = None,
    device: str = "cpu",
    formats: Iterable[str] = ("csv",),
    write_masks: bool = True,
    progress: bool = True,
) -> PickRun:
    """Pick one tomogram file and write ``out_dir/<name>/{picks/,masks/,job.json}``.

    Every file is written atomically and ``job.json`` last, so a folder without it is unfinished;
    an earlier ``job.json`` is removed first, so a failed re-run never looks complete.
    """
    formats = tuple(formats)
    for fmt in formats:
        check_choice(fmt, "pick format", tuple(PICK_FORMATS))
    config = config or PickConfig()
    start = time.perf_counter()
    tomogram = read_tomogram(tomogram_path, voxel_size_angstrom=voxel_size_angstrom)
    logger.info(
        "%s: shape %s, voxel size %.3g Å (from %s)",
        tomogram.path.name, tomogram.data.shape, tomogram.voxel_size_angstrom, tomogram.voxel_size_source,
    )
    target = Path(out_dir) / tomogram.name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnpickInputError(f"{target}: cannot create the output folder ({err}); choose a writable --out") from err
    (target / JOB_FILE).unlink(missing_ok=True)

    def save_mask(segmentation: Segmentation) -> None:
        if write_masks:
            (target / "masks").mkdir(exist_ok=True)
            write_mrc(target / "masks" / f"{segmentation.name}.mrc", segmentation.mask,
                      voxel_size_angstrom=tomogram.voxel_size_angstrom)

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
    written = []
    for name, picks in result.picks.items():
        for fmt in formats:
            path = target / "picks" / f"{name}{PICK_FORMATS[fmt]}"
            write_picks(path, picks, volume_shape_zyx=tomogram.data.shape, object_name="particle")
            written.append(str(path.relative_to(target)))
    result.record.update(
        input=str(tomogram.path),
        voxel_size_source=tomogram.voxel_size_source,
        outputs=written,
    )
    result.record["timings_s"]["total"] = time.perf_counter() - start
    with atomic_write(target / JOB_FILE) as tmp:
        Path(tmp).write_text(json.dumps(result.record, indent=2, default=_json_default))
    return PickRun(out_dir=target, result=result)


def _json_default(value):
    """numpy scalars and arrays in the record become plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
