"""Gold fiducials and empty slabs cleared from a deep picker's score map, as in the workflows."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..features import exclude_fiducials, find_fiducials, find_specimen_slab

logger = logging.getLogger(__name__)


def clear_contaminants(
    volume: Any,
    score_map: np.ndarray,
    *,
    radius_voxels: float,
    fiducials: bool = True,
    empty_slabs: bool = True,
    name: str = "tomogram",
) -> dict[str, Any]:
    """Zero ``score_map`` in place on gold beads and outside the specimen slab; returns a record.

    A network trained on pseudo-labels scores a bead, which is dense and round, as a particle,
    and texture in the empty ice above and below the specimen as faint ones. The beads
    (``features.find_fiducials``, cleared in their exclusion ellipsoids) and the specimen slab
    (``features.find_specimen_slab``) are found on the tomogram as the workflows find them.

    Parameters
    ----------
    volume : (Z, Y, X) array
        The tomogram the map was predicted from.
    score_map : (Z, Y, X) float array
        Changed in place.
    radius_voxels : float
        Particle radius (the slab finder's scale).
    fiducials, empty_slabs : bool
        Clear beads / the slabs outside the specimen.
    name : str
        For the log.

    Returns
    -------
    dict
        ``fiducials`` (``Fiducials.to_record()``) and ``specimen_slab`` (z range) when searched.
    """
    record: dict[str, Any] = {}
    if fiducials:
        beads = find_fiducials(volume)
        cleared = exclude_fiducials(score_map, beads)
        record["fiducials"] = beads.to_record()
        if len(beads):
            logger.info("%s: %d gold fiducials; %d score-map voxels cleared around them", name, len(beads), cleared)
    if empty_slabs:
        slab = find_specimen_slab(volume, radius_voxels=radius_voxels)
        z0, z1 = slab.z_range
        record["specimen_slab"] = [z0, z1]
        if (z0, z1) != (0, score_map.shape[0]):
            score_map[:z0] = 0
            score_map[z1:] = 0
            logger.info("%s: specimen slab z %d-%d; the score map is cleared outside it", name, z0, z1)
    return record
