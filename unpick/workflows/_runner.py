"""Run any subset of the twelve workflows on one volume: each feature mode once, each segmentation once."""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .. import __version__
from .._shared import (
    check_positive,
    check_volume,
    check_z_range,
    get_backend,
    make_picks,
    release_pages,
    spill_to_disk,
    thread_map,
)
from ..cluster import N_LEVELS
from ..features import (
    Fiducials,
    Membranes,
    blur_tomogram,
    exclude_fiducials,
    exclude_membranes,
    rescale_robustly,
)
from ..instances import check_particle_fits, choose_operating_level, extract_instances, label_components
from ._config import PickConfig
from ._consensus import agreement_scores, consensus_picks
from ._contaminants import find_beads, find_slab, start_membranes, waited_on_exit
from ._names import DEFAULT_WORKFLOW, FEATURE_MODES, Workflow, parse_selection
from ._segment import Segmentation, segment_mode

logger = logging.getLogger(__name__)

#: A preprocessed volume of at least this many bytes (270 M float32 voxels) is moved to a temporary
#: file and its pages handed back after each feature mode: the instance stages, which need the
#: decision levels only, then run without it in memory (4 bytes per voxel less at their peak).
SPILL_BYTES = 2**30
#: The two segmentations of a feature mode (K-Means and GMM) are finished (operating point and
#: instances: mostly one core each) side by side on this many threads when the volume has at
#: most SIDE_BY_SIDE_VOXELS voxels, where a second label volume and its temporaries (about
#: 9 bytes a voxel) cost at most about 1.2 GB; larger volumes finish them one after the other.
SIDE_BY_SIDE = 2
SIDE_BY_SIDE_VOXELS = 2**27
_VERSIONED = ("numpy", "scipy", "scikit-learn", "scikit-image", "mrcfile", "pandas")


@dataclass
class PickResult:
    """Picks per workflow name and the job record (parameters, versions, decisions, timings)."""

    picks: dict[str, pd.DataFrame]
    record: dict[str, Any]
    segmentations: dict[str, Segmentation] = field(default_factory=dict)


def pick_tomogram(
    volume: np.ndarray,
    *,
    voxel_size_angstrom: float,
    workflows: str | Iterable[str] = DEFAULT_WORKFLOW,
    config: PickConfig | None = None,
    tomogram: str = "",
    device: str = "cpu",
    progress: bool = False,
    keep_segmentations: bool = False,
    on_segmentation: Callable[[Segmentation], None] | None = None,
) -> PickResult:
    """Pick particles in ``volume`` (Z, Y, X) with the chosen workflows.

    Parameters
    ----------
    volume : array (Z, Y, X)
        The tomogram (any real dtype; a float32 memmap is read, never copied whole).
    voxel_size_angstrom : float
        Voxel edge in Å; converts ``particle_radius_angstrom`` into voxels.
    workflows : str or list of str
        ``'all'``, one name like ``'gabor-kmeans-ws'``, a comma list, or a list of names.
    on_segmentation : callable, optional
        Called with each semantic segmentation as soon as it exists (e.g. to write its mask), so
        that masks need not all be held in memory; ``keep_segmentations`` keeps them in the result.

    Returns
    -------
    PickResult
        ``picks[name]`` is a picks table (x, y, z in voxels, score = mean decision level / 255 in
        the instance, size in voxels); ``record`` is JSON-serialisable.
    """
    config = config or PickConfig()
    chosen, combined = parse_selection(workflows)
    volume = _read_only(volume)  # so the stages below check it once (check_volume remembers it)
    volume = check_volume(volume, name=tomogram or "volume")
    voxel_size_angstrom = check_positive(voxel_size_angstrom, "voxel size", unit="Å")
    check_particle_fits(config.particle_radius_angstrom, voxel_size_angstrom=voxel_size_angstrom, shape_zyx=volume.shape)
    fit_z_range = check_z_range(config.fit_z_range, volume.shape[0], name="fit z-slab")
    pick_z_range = check_z_range(config.pick_z_range, volume.shape[0], name="pick z-slab")
    backend = get_backend(device)

    # One BLAS thread per operation for the whole job, set here in the calling thread before the
    # membranes' background thread starts (BLAS's count is global, and changing it while another
    # thread is in a product is not safe): the blurs run their matrix products side by side on
    # threads, and the background thread's products stay on its own lowered-priority thread.
    # The background work is waited for before the count goes back, on an error's way out too.
    with threadpool_limits(limits=1, user_api="blas"), waited_on_exit() as background:
        timings: dict[str, Any] = {}
        start = time.perf_counter()
        blurred = blur_tomogram(volume, config=config.preprocess, backend=backend)
        timings["preprocess"] = time.perf_counter() - start
        fiducials = find_beads(volume, blurred, config, backend, timings) if config.exclude_fiducials else None
        start = time.perf_counter()
        pre = rescale_robustly(blurred, config=config.preprocess, backend=backend, rng=config.seed)
        del blurred
        pre = spill_to_disk(pre, min_bytes=SPILL_BYTES)  # a large one waits on disk while masks are split
        timings["preprocess"] += time.perf_counter() - start
        slab = None
        radius = config.instance_config("cc").limits(voxel_size_angstrom=voxel_size_angstrom).radius_voxels
        if config.exclude_empty_slabs and radius is not None:
            slab, fit_z_range, pick_z_range = find_slab(volume, radius, config, fit_z_range, pick_z_range, timings)
        # needed only to clear the masks: found in the background while the first feature mode is fitted
        membranes = None
        membranes_found = start_membranes(volume, radius, timings) if (
            config.exclude_membranes and radius is not None) else None  # fmt: skip
        if membranes_found is not None:
            background.append(membranes_found)
        release_pages(volume)  # the input is read no more (the features work on `pre`)
        record: dict[str, Any] = {
            "unpick_version": __version__,
            "versions": _versions(),
            "python": platform.python_version(),
            "tomogram": tomogram,
            "shape_zyx": list(volume.shape),
            "voxel_size_angstrom": voxel_size_angstrom,
            "device": backend.device_name,
            "workflows": [w.name for w in chosen] + list(combined),
            "config": config.to_dict(),
            "fit_z_range": list(fit_z_range),
            "pick_z_range": list(pick_z_range),
            "specimen_slab": None if slab is None else slab.to_record(),
            "fiducials": None if fiducials is None else fiducials.to_record(),
            "membranes": None,  # when found
            "features": {},
            "segmentations": {},
            "picks": {},
            "timings_s": timings,
        }
        picks: dict[str, pd.DataFrame] = {}
        kept: dict[str, Segmentation] = {}
        for mode in FEATURE_MODES:
            in_mode = [w for w in chosen if w.feature == mode]
            if not in_mode:
                continue
            clusterers = tuple(dict.fromkeys(w.clusterer for w in in_mode))
            segmentations, mode_record = segment_mode(
                pre,
                mode=mode,
                clusterers=clusterers,
                config=config,
                fit_z_range=fit_z_range,
                pick_z_range=pick_z_range,
                backend=backend,
                progress=progress,
            )
            release_pages(pre)  # read again by the next feature mode only
            if membranes_found is not None:  # the first mode's masks need them now
                membranes, membranes_found = membranes_found.result(), None
                record["membranes"] = membranes.to_record()
            record["features"][mode] = mode_record
            timings[mode] = mode_record["timings_s"]
            start = time.perf_counter()
            side_by_side = SIDE_BY_SIDE if volume.size <= SIDE_BY_SIDE_VOXELS else 1
            finished = thread_map(
                lambda segmentation: _finish_segmentation(
                    segmentation, in_mode, fiducials, membranes, config, voxel_size_angstrom, tomogram
                ),
                segmentations,
                max_threads=side_by_side,
            )
            timings[f"{mode}-finished"] = time.perf_counter() - start  # wall: its segmentations may overlap
            for segmentation, (seg_record, seg_picks, seg_timings) in zip(segmentations, finished):
                record["segmentations"][segmentation.name] = seg_record
                timings.update(seg_timings)
                picks.update(seg_picks)
                record["picks"].update({name: len(table) for name, table in seg_picks.items()})
                if on_segmentation is not None:
                    on_segmentation(segmentation)
                if keep_segmentations:
                    kept[segmentation.name] = segmentation
            del segmentations
        if combined:
            _combine(picks, combined, record, config, voxel_size_angstrom, tomogram)
        return PickResult(picks=picks, record=record, segmentations=kept)


def _combine(
    picks: dict[str, pd.DataFrame],
    combined: tuple[str, ...],
    record: dict[str, Any],
    config: PickConfig,
    voxel_size_angstrom: float,
    tomogram: str,
) -> None:
    """Add the consensus and/or auto picks, and every workflow's label-free agreement score."""
    limits = config.instance_config("ws").limits(voxel_size_angstrom=voxel_size_angstrom)
    radius = limits.radius_voxels if limits.radius_voxels is not None else float(limits.min_distance_voxels)
    singles = dict(picks)
    consensus = consensus_picks(singles, radius_voxels=radius, voxel_size_angstrom=voxel_size_angstrom, tomogram=tomogram)
    agreement = agreement_scores(singles, consensus, radius_voxels=radius)
    best = max(agreement, key=lambda name: (agreement[name], -list(singles).index(name)))
    record["quality"] = {
        "measure": "F1 of each workflow against the consensus picks (label-free)",
        "agreement_f1": agreement,
        "auto_workflow": best,
    }
    logger.info(
        "consensus: %d picks supported by at least half of %d workflows; best agreement %s (F1 %.3f vs consensus)",
        len(consensus),
        len(singles),
        best,
        agreement[best],
    )
    if "consensus" in combined:
        picks["consensus"] = consensus
        record["picks"]["consensus"] = len(consensus)
    if "auto" in combined:
        picks["auto"] = singles[best].assign(workflow="auto")
        record["picks"]["auto"] = len(picks["auto"])


def _finish_segmentation(
    segmentation: Segmentation,
    in_mode: list[Workflow],
    fiducials: Fiducials | None,
    membranes: Membranes | None,
    config: PickConfig,
    voxel_size_angstrom: float,
    tomogram: str,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], dict[str, float]]:
    """Clear the contaminants from one segmentation's levels, choose its operating point and
    extract the instances of each of its workflows: ``(its job record, picks per workflow name,
    timings)``. Touches nothing but the segmentation, so that two can run side by side."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if fiducials is not None and len(fiducials):
        exclude_fiducials(segmentation.levels, fiducials)
    if membranes is not None:
        exclude_membranes(segmentation.levels, membranes)
    _choose_operating_point(segmentation, config, voxel_size_angstrom)
    timings[f"{segmentation.name}-operating-point"] = time.perf_counter() - start
    seg_record = {
        "particle_cluster": segmentation.decision,
        "decision_levels": segmentation.decision_levels.to_record(),
        "operating_point": None if segmentation.operating is None else segmentation.operating.to_record(),
        "level": segmentation.level,
        "particle_voxel_fraction": segmentation.particle_fraction,
    }
    if segmentation.particle_fraction == 0:
        logger.warning("%s: no voxel was called particle; its workflows give zero picks", segmentation.name)
    start = time.perf_counter()
    foreground = segmentation.levels >= segmentation.level  # one bool mask for every extractor
    shared = _shared_components(segmentation, foreground, in_mode, config, voxel_size_angstrom)
    timings[f"{segmentation.name}-components"] = time.perf_counter() - start
    picks: dict[str, pd.DataFrame] = {}
    extracting = [w for w in in_mode if w.segmentation == segmentation.name]
    for workflow in extracting:
        start = time.perf_counter()
        last = workflow is extracting[-1]  # may split the shared components in place: no copy
        picks[workflow.name] = _extract(segmentation, foreground, workflow, config, voxel_size_angstrom, tomogram, shared, last)
        timings[workflow.name] = time.perf_counter() - start
        logger.info("%s: %d picks", workflow.name, len(picks[workflow.name]))
    return seg_record, picks, timings


def _choose_operating_point(segmentation: Segmentation, config: PickConfig, voxel_size_angstrom: float) -> None:
    """Set the segmentation's mask level from the data (with a particle radius), and log it."""
    limits = config.instance_config("cc").limits(voxel_size_angstrom=voxel_size_angstrom)
    boundary = segmentation.decision_levels
    if limits.max_size_voxels is None:
        logger.info(
            "%s: no particle radius, mask at the clusterer's own boundary (%.2f %% of sample voxels); "
            "give --particle-radius for a data-driven operating point",
            segmentation.name,
            100 * boundary.tail_fractions[boundary.boundary_level],
        )
        return
    segmentation.operating = choose_operating_level(
        segmentation.levels, limits=limits, tail_fractions=boundary.tail_fractions, connectivity=config.cc.connectivity
    )
    log = logger.warning if segmentation.operating.doubtful else logger.info
    log(
        "%s: operating point %s (the clusterer's own boundary: %.2f %% of voxels)",
        segmentation.name,
        segmentation.operating.reason,
        100 * boundary.tail_fractions[boundary.boundary_level],
    )


def _shared_components(
    segmentation: Segmentation,
    foreground: np.ndarray,
    workflows: list[Workflow],
    config: PickConfig,
    voxel_size_angstrom: float,
) -> tuple[np.ndarray, int] | None:
    """The mask's components, computed once when both extractors run on it with the same
    connectivity and size limits (the components do not depend on the watershed's marker spacing)."""
    extractors = {w.extractor for w in workflows if w.segmentation == segmentation.name}
    cc, ws = (config.instance_config(m).limits(voxel_size_angstrom=voxel_size_angstrom) for m in ("cc", "ws"))
    same = config.cc.connectivity == config.ws.connectivity and (cc.min_size_voxels, cc.max_size_voxels) == (
        ws.min_size_voxels,
        ws.max_size_voxels,
    )
    if len(extractors) < 2 or not same:
        return None
    return label_components(
        foreground, config=config.instance_config("cc"), voxel_size_angstrom=voxel_size_angstrom, levels=segmentation.levels
    )


def _extract(
    segmentation: Segmentation,
    foreground: np.ndarray,
    workflow: Workflow,
    config: PickConfig,
    voxel_size_angstrom: float,
    tomogram: str,
    components: tuple[np.ndarray, int] | None,
    last_use: bool,
) -> pd.DataFrame:
    """Instances of one segmentation (its ``foreground`` mask) with the workflow's extractor, as a
    picks table; ``last_use``: no later extractor needs the shared ``components``."""
    instances = extract_instances(
        foreground,
        config=config.instance_config(workflow.extractor),
        voxel_size_angstrom=voxel_size_angstrom,
        confidence=segmentation.levels,
        levels=segmentation.levels,
        components=components,
        overwrite_components=last_use,
    )
    return make_picks(
        instances.centroids_zyx,
        voxel_size_angstrom=voxel_size_angstrom,
        score=np.asarray(instances.scores, dtype=np.float64) / N_LEVELS,
        size=instances.sizes,
        workflow=workflow.name,
        tomogram=tomogram,
    )


def _read_only(volume: Any) -> Any:
    """``volume`` itself when it is a read-only NumPy array (e.g. from ``read_tomogram``), else a
    read-only view of it (other array-likes are left as they are)."""
    if not isinstance(volume, np.ndarray) or not volume.flags.writeable:
        return volume
    view = volume.view()
    view.flags.writeable = False
    return view


def _versions() -> dict[str, str]:
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
