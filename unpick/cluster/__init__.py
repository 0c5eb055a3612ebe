"""Two-cluster voxel classification: fit on a sample, predict chunk by chunk, name the particle cluster."""

from ._border import zero_border
from ._config import ClusterConfig
from ._fit import fit_clusterer
from ._levels import N_LEVELS, DecisionLevels, decision_levels
from ._model import ClusterParams, FittedClusterer
from ._rule import choose_particle_cluster

__all__ = [
    "N_LEVELS",
    "ClusterConfig",
    "ClusterParams",
    "DecisionLevels",
    "FittedClusterer",
    "choose_particle_cluster",
    "decision_levels",
    "fit_clusterer",
    "zero_border",
]
