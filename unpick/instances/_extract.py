"""Split a semantic particle mask into instances and measure them (vectorised, no per-label loops)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from .._shared import UnpickInputError, check_volume, label_sums, to_numpy
from ._config import InstanceConfig, InstanceLimits
from ._watershed import split_touching

logger = logging.getLogger(__name__)

#: Levels added per local re-threshold of an oversized component (about 14 % fewer voxels each),
#: more where the top level is far, so that a component is relabelled at most
#: RETHRESHOLD_MAX_STEPS times on its way up: the cost stays a few passes over its box.
RETHRESHOLD_STEP = 4
RETHRESHOLD_MAX_STEPS = 8


@dataclasses.dataclass(frozen=True)
class Instances:
    """Instances found in a mask, in label order.

    Connected components come in raster order of their first voxel; with watershed, the
    components left whole keep that order and the pieces of split components follow.

    Attributes
    ----------
    centroids_zyx : (N, 3) float64
        Geometric centroid of each instance, voxel index units (voxel ``[iz, iy, ix]`` is at
        ``(iz, iy, ix)``), not rounded.
    sizes : (N,) int64
        Voxels per instance.
    scores : (N,) float64
        Mean confidence inside each instance (1.0 without a confidence volume).
    labels : (Z, Y, X) int32 or None
        Label volume, instance ``i`` (0-based row) labelled ``i + 1``; only with ``return_labels``.
    limits : InstanceLimits
        The size filters and marker spacing that were applied, in voxels.
    """

    centroids_zyx: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None
    limits: InstanceLimits

    def __len__(self) -> int:
        return len(self.sizes)


def extract_instances(
    mask: Any,
    *,
    config: InstanceConfig,
    voxel_size_angstrom: float,
    confidence: Any = None,
    levels: Any = None,
    components: tuple[np.ndarray, int] | None = None,
    overwrite_components: bool = False,
    return_labels: bool = False,
) -> Instances:
    """Split a semantic particle mask into instances (CPU).

    'cc' labels connected components (``scipy.ndimage.label``). 'ws' then splits touching
    particles component by component: Euclidean distance transform of the component, markers
    at its local maxima at least ``min_distance_voxels`` apart (``peak_local_max``, border
    kept), ``watershed(-edt, markers, mask=component)`` where there are two or more markers.
    ``min_size_voxels`` filters the final instances; ``max_size_voxels`` drops connected
    components (for 'ws': before splitting, so a membrane is not cut into particle-sized
    pieces). Instances touching a face are kept.

    With a decision-level volume (``levels``), a connected component over ``max_size_voxels`` is
    not dropped but re-thresholded locally: its voxels at ever higher levels (steps of at least
    ``RETHRESHOLD_STEP``, at most ``RETHRESHOLD_MAX_STEPS`` of them) are labelled again until every piece is at most ``max_size_voxels``;
    pieces of at least ``min_size_voxels`` become instances (particles merged with a membrane or
    with each other by a loose mask), the rest is discarded and counted in the log. Watershed
    then only ever sees components of at most particle size, so its cost cannot grow with a
    percolating mask.

    Parameters
    ----------
    mask : (Z, Y, X) array
        Nonzero = particle (bool or integer; numpy or cupy, copied to the host).
    config : InstanceConfig
    voxel_size_angstrom : float
        Voxel size in Å, to turn ``config.particle_radius_angstrom`` into voxels.
    confidence : (Z, Y, X) float array, optional
        Per-voxel confidence; each instance is scored by its mean inside the instance.
    levels : (Z, Y, X) uint8 array, optional
        Decision levels (``unpick.cluster.DecisionLevels.quantise``) whose higher levels split
        oversized components; needs a ``max_size_voxels`` (a particle radius).
    components : (labels, n), optional
        The mask's components from ``label_components`` (same connectivity, limits and levels),
        to skip that stage when several extractors share one mask.
    overwrite_components : bool
        Let 'ws' split the given ``components`` labels in place instead of a copy (one int32
        volume less), when the caller has no further use for them.
    return_labels : bool
        Also return the int32 label volume (costs one volume-sized array).

    Returns
    -------
    Instances
        Zero instances when the mask is empty.
    """
    if not isinstance(config, InstanceConfig):
        raise UnpickInputError(f"config: expected an InstanceConfig, got {type(config).__name__}")
    mask = to_numpy(mask)
    check_volume(mask, name="mask", min_size=1, check_finite=False)
    limits = config.limits(voxel_size_angstrom=voxel_size_angstrom)
    check_particle_fits(config.particle_radius_angstrom, voxel_size_angstrom=voxel_size_angstrom, shape_zyx=mask.shape)
    if confidence is not None:
        confidence = to_numpy(confidence)
        check_volume(confidence, name="confidence", min_size=1)
        if confidence.shape != mask.shape:
            raise UnpickInputError(
                f"confidence: expected the mask's shape {tuple(mask.shape)}, got {tuple(confidence.shape)}"
            )

    if levels is not None:
        levels = to_numpy(levels)
        if levels.shape != mask.shape or levels.dtype != np.uint8:
            raise UnpickInputError(
                f"levels: expected a uint8 volume of the mask's shape {tuple(mask.shape)}, got "
                f"{levels.dtype} {tuple(levels.shape)}"
            )

    foreground = mask if mask.dtype == bool else mask != 0
    if components is None:
        labels, n_labels = _components(foreground, levels, limits, config.connectivity)
    else:
        labels, n_labels = components
        if labels.shape != mask.shape:
            raise UnpickInputError(
                f"components: expected labels of the mask's shape {tuple(mask.shape)}, got {tuple(labels.shape)}"
            )
        if config.method == "ws" and not overwrite_components:  # the watershed splits in place
            labels = labels.copy()
    if config.method == "ws" and n_labels:
        n_components = n_labels
        n_labels, pieces = split_touching(
            foreground,
            labels,
            n_labels,
            min_distance=limits.min_distance_voxels,
            min_size=limits.min_size_voxels,
            max_size=np.inf if limits.max_size_voxels is None else limits.max_size_voxels,
            connectivity=config.connectivity,
        )
        logger.debug(
            "watershed: %d of %d components split into %d pieces", len(pieces), n_components, int(pieces.sum())
        )
    return _measure(labels, n_labels, limits, confidence, return_labels)


def check_particle_fits(
    radius_angstrom: float | None, *, voxel_size_angstrom: float, shape_zyx: tuple[int, ...]
) -> None:
    """Refuse a particle radius whose particle (its diameter) does not fit along every axis of the
    volume: such a radius is a unit mistake (nm for Å, or the voxel size), and the size filters
    would drop every instance. None (no radius) passes."""
    if radius_angstrom is None:
        return
    radius_voxels = radius_angstrom / voxel_size_angstrom
    if 2 * radius_voxels > min(shape_zyx):
        raise UnpickInputError(
            f"particle radius: {radius_angstrom:g} Å = {radius_voxels:.1f} voxels at {voxel_size_angstrom:g} Å/voxel, "
            f"so a particle is larger than the volume {tuple(shape_zyx)}; check --particle-radius (Å) and --voxel-size"
        )


def label_components(
    mask: Any, *, config: InstanceConfig, voxel_size_angstrom: float, levels: Any = None
) -> tuple[np.ndarray, int]:
    """Connected components of ``mask``, oversized ones re-thresholded locally with ``levels``.

    The first stage of ``extract_instances``, public so that the components of one mask can be
    computed once and passed (``components=``) to both extractors. Returns the int32 label volume
    (ids may have gaps) and the largest id.
    """
    mask = to_numpy(mask)
    foreground = mask if mask.dtype == bool else mask != 0
    levels = None if levels is None else to_numpy(levels)
    return _components(foreground, levels, config.limits(voxel_size_angstrom=voxel_size_angstrom), config.connectivity)


def _components(
    foreground: np.ndarray, levels: np.ndarray | None, limits: InstanceLimits, connectivity: int
) -> tuple[np.ndarray, int]:
    structure = ndi.generate_binary_structure(3, connectivity)
    labels, n_labels = ndi.label(foreground, structure=structure)
    if levels is not None and limits.max_size_voxels is not None and n_labels:
        n_labels = _rethreshold_giants(labels, n_labels, levels, limits=limits, structure=structure)
    return labels, n_labels


def _rethreshold_giants(
    labels: np.ndarray, n_labels: int, levels: np.ndarray, *, limits: InstanceLimits, structure: np.ndarray
) -> int:
    """Replace, in place, each component over the size maximum by its particle-sized pieces at
    higher levels (see ``extract_instances``). Returns the largest label id in use.

    The pieces are written straight into ``labels`` (the giant's voxels are cleared first), so a
    giant whose box spans the volume costs its box's bool masks and one int32 labelling of it,
    not a second label volume."""
    sizes = np.bincount(labels[labels > 0], minlength=n_labels + 1)
    giants = np.flatnonzero(sizes > limits.max_size_voxels)
    if not giants.size:
        return n_labels
    boxes = ndi.find_objects(labels)
    next_id = n_labels + 1
    before, kept_voxels, n_pieces = int(sizes[giants].sum()), 0, 0
    for label in giants:
        box = boxes[label - 1]
        region = labels[box]
        own = region == label
        region[own] = 0
        lowest = int(levels[box][own].min())
        count, voxels = _split_component(own, levels[box], lowest, limits, structure, region, next_id)
        next_id += count
        n_pieces += count
        kept_voxels += voxels
    logger.info(
        "%d components over %d voxels re-thresholded locally: %d particle-sized pieces kept, %d of %d voxels "
        "discarded (below the pieces' levels or pieces under %d voxels)",
        giants.size,
        limits.max_size_voxels,
        n_pieces,
        before - kept_voxels,
        before,
        limits.min_size_voxels,
    )
    return next_id - 1


def _split_component(
    own: np.ndarray,
    levels: np.ndarray,
    level: int,
    limits: InstanceLimits,
    structure: np.ndarray,
    out: np.ndarray,
    first_id: int,
) -> tuple[int, int]:
    """Label into ``out`` (ids from ``first_id``; ``out`` is zero on ``own``) the particle-sized
    pieces of ``own`` at levels above ``level``, recursing into pieces that are still too large.
    Returns the number of pieces and of their voxels."""
    count = voxels = 0
    while level + RETHRESHOLD_STEP <= 255:
        # at least RETHRESHOLD_STEP, and at most RETHRESHOLD_MAX_STEPS steps to the top level
        level += max(RETHRESHOLD_STEP, -(-(255 - level) // RETHRESHOLD_MAX_STEPS))
        core = own & (levels >= level)
        sub, n = ndi.label(core, structure=structure)
        if n == 0:
            return count, voxels
        sizes = np.bincount(sub[core], minlength=n + 1)  # from the core's voxels: no int64 copy of the box
        del core
        if n == 1 and sizes[1] > limits.max_size_voxels:
            own = sub == 1  # one core shrinking: raise the level again without recursion
            continue
        for child, box in enumerate(ndi.find_objects(sub), start=1):
            size = sizes[child]
            if size < limits.min_size_voxels:
                continue
            child_own = sub[box] == child
            if size > limits.max_size_voxels:
                pieces, piece_voxels = _split_component(
                    child_own, levels[box], level, limits, structure, out[box], first_id + count
                )
                count, voxels = count + pieces, voxels + piece_voxels
            else:
                out[box][child_own] = first_id + count
                count, voxels = count + 1, voxels + int(size)
        return count, voxels
    return count, voxels


def _measure(
    labels: np.ndarray,
    n_labels: int,
    limits: InstanceLimits,
    confidence: np.ndarray | None,
    return_labels: bool,
) -> Instances:
    """Sizes, centroids and mean confidence per label via bincount; apply the size filters."""
    sums = label_sums(labels, n_labels)
    sizes = sums.sizes
    keep = sizes >= limits.min_size_voxels
    if limits.max_size_voxels is not None:
        keep &= sizes <= limits.max_size_voxels
    keep[0] = False
    kept = np.flatnonzero(keep)
    logger.debug(
        "instances: %d labelled, %d kept by size [%s, %s] voxels",
        int(np.count_nonzero(sizes[1:])),
        len(kept),
        limits.min_size_voxels,
        limits.max_size_voxels,
    )
    kept_sizes = sizes[kept]
    centroids = sums.coordinate_sums[kept] / kept_sizes[:, None]
    scores = np.ones(len(kept)) if confidence is None else sums.totals(confidence)[kept] / kept_sizes
    label_volume = None
    if return_labels:
        lookup = np.zeros(n_labels + 1, dtype=np.int32)
        lookup[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
        label_volume = lookup[labels]
    return Instances(
        centroids_zyx=centroids.astype(np.float64),
        sizes=kept_sizes.astype(np.int64),
        scores=scores.astype(np.float64),
        labels=label_volume,
        limits=limits,
    )
