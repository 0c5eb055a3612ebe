"""The watershed split of touching particles, component by component, on CPU threads."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
from skimage.segmentation import watershed

from .._shared import thread_map

#: A watershed marker must rise this fraction of the marker spacing above the saddle that joins
#: it to a higher one (its dynamic in the distance transform): two touching spheres have a deep
#: neck, one particle elongated by the missing wedge has none (chosen on polnet tomo_01).
WS_DYNAMIC_FRACTION = 0.5


def split_touching(
    foreground: np.ndarray,
    components: np.ndarray,
    n_components: int,
    *,
    min_distance: int,
    min_size: int,
    max_size: float,
    connectivity: int,
) -> tuple[int, np.ndarray]:
    """Split, in place, each component whose distance transform has several spaced peaks.

    Works on one component's bounding box at a time (padded with background so a face counts as
    an edge), so memory stays at the size of the largest component and peaks of neighbouring
    components never suppress each other. Components under ``2 * min_size`` voxels cannot give
    two pieces that pass the size filter and are left whole, as are those too short to hold two
    markers and those over ``max_size`` (a membrane, carbon edge or aggregate, not particles: the
    size filter then drops them whole instead of keeping particle-sized chunks of them). The
    components are split on CPU threads (the distance transform, labelling and watershed
    release the GIL), then numbered in label order: the first piece keeps the component id, the
    others get ids after ``n_components``, whatever the thread count.

    Returns the largest id in use and the number of pieces per split component (for logging).
    """
    sizes = np.bincount(components[foreground], minlength=n_components + 1)  # foreground-sized temporaries
    candidates = [
        (label, box)
        for label, box in enumerate(ndi.find_objects(components), start=1)
        # None: an id freed by the local re-threshold of an oversized component
        if box is not None
        and 2 * min_size <= sizes[label] <= max_size
        and max(s.stop - s.start for s in box) > min_distance
    ]
    split = thread_map(
        lambda item: _component_pieces(components, *item, min_distance=min_distance, connectivity=connectivity),
        candidates,
    )
    next_id = n_components + 1
    pieces_per_split = []
    for (label, box), piece in zip(candidates, split):
        if piece is None:
            continue
        region = components[box]
        region[region == label] = np.where(piece == 1, label, piece + (next_id - 2))
        n_pieces = int(piece.max())
        next_id += n_pieces - 1
        pieces_per_split.append(n_pieces)
    return next_id - 1, np.asarray(pieces_per_split, dtype=np.int64)


def _component_pieces(
    components: np.ndarray, label: int, box: tuple[slice, ...], *, min_distance: int, connectivity: int
) -> np.ndarray | None:
    """The watershed pieces (1..K, in the C order of the component's voxels) of component
    ``label`` within ``box``, or None when it has fewer than two standing, spaced peaks."""
    region = components[box]
    own = np.zeros(tuple(n + 2 for n in region.shape), dtype=bool)
    own[1:-1, 1:-1, 1:-1] = region == label
    dist = ndi.distance_transform_edt(own)
    peaks = _spaced_peaks(dist, own, min_distance)
    if len(peaks) >= 2:  # a marker must stand out of the saddle to its neighbour (h-maxima)
        peaks = peaks[_standing_peaks(dist, peaks, WS_DYNAMIC_FRACTION * min_distance)]
    if len(peaks) < 2:
        return None
    markers = np.zeros(own.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    pieces = watershed(-dist, markers, mask=own, connectivity=connectivity)
    return pieces[own]


def _spaced_peaks(dist: np.ndarray, own: np.ndarray, min_distance: int) -> np.ndarray:
    """Local maxima of ``dist`` inside ``own``, greedily thinned to >= ``min_distance`` apart.

    The maxima of a ``2 * min_distance + 1`` cube window, strongest first (ties in raster
    order), each kept unless a kept one lies closer than ``min_distance`` voxels (Chebyshev), as
    ``skimage.feature.peak_local_max(..., exclude_border=False)`` does; written out because a
    component's maxima are few (one plateau for most) and the general KD-tree path dominated
    the run time. Returns (K, 3) int indices.
    """
    window_max = ndi.maximum_filter(dist, size=2 * min_distance + 1, mode="constant")
    candidates = np.argwhere((dist == window_max) & own)
    if len(candidates) < 2 or np.ptp(candidates, axis=0).max() < min_distance:
        return candidates[:1]
    order = np.argsort(-dist[tuple(candidates.T)], kind="stable")
    kept = [candidates[order[0]]]
    for point in candidates[order[1:]]:
        if np.abs(np.asarray(kept) - point).max(axis=1).min() >= min_distance:
            kept.append(point)
    return np.asarray(kept)


def _standing_peaks(dist: np.ndarray, peaks: np.ndarray, height: float) -> np.ndarray:
    """Which ``peaks`` are h-maxima of ``dist``: whether each rises at least ``height`` above the
    saddle that joins it to a higher voxel.

    Equal to ``skimage.morphology.h_maxima(dist, height)[tuple(peaks.T)] > 0`` (the test in
    tests/test_instances.py), with the same float tolerance, 26-connectivity and "nothing when
    ``height`` exceeds the range of ``dist``", but decided per
    peak instead of by a grey reconstruction of the whole box: a peak of value ``v`` falls when
    the connected part of ``dist > v - height`` holding it contains a voxel above ``v``. A
    component has a handful of peaks, so this is a few labellings of a small box, where the
    reconstruction sorted every voxel and took most of the watershed's time.
    Returns a (K,) bool array.
    """
    values = dist[tuple(peaks.T)]
    if height > np.ptp(dist):  # as h_maxima: nothing rises that far above the floor of the box
        return np.zeros(len(peaks), dtype=bool)
    # h_maxima's resolution: a voxel counts as higher only by more than float rounding
    above = dist - 2 * np.finfo(dist.dtype).resolution * np.abs(dist)
    structure = np.ones((3, 3, 3), dtype=bool)
    standing = np.ones(len(peaks), dtype=bool)
    for i, (peak, value) in enumerate(zip(peaks, values)):
        if not (above > value).any():  # nothing higher anywhere: nothing to merge into
            continue
        parts, _ = ndi.label(dist > value - height, structure=structure)
        standing[i] = not (above[parts == parts[tuple(peak)]] > value).any()
    return standing
