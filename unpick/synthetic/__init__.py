"""Synthetic cryo-ET tomograms with exact ground truth: particles of several shapes and sizes,
crowding, membranes and gold fiducials, a missing wedge, a CTF-like band-pass and noise."""

from ._config import SimulationConfig
from ._shapes import CATALOGUE, ParticleClass
from ._simulate import TRUTH_COLUMNS, SyntheticTomogram, simulate_tomogram

__all__ = [
    "CATALOGUE",
    "TRUTH_COLUMNS",
    "ParticleClass",
    "SimulationConfig",
    "SyntheticTomogram",
    "simulate_tomogram",
]
