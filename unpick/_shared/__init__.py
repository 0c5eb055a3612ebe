"""Pieces every stage shares: errors, backend switch, input checks, configs, the picks table."""

from ._backend import CPU, Backend, get_backend, gpu_available, to_numpy
from ._config import SCHEMA_VERSION, StageConfig
from ._errors import UnpickInputError
from ._picks import PICK_COLUMNS, make_picks, picks_zyx
from ._threads import thread_map
from ._validate import (
    NEIGHBOURHOOD,
    as_rng,
    check_choice,
    check_int,
    check_positive,
    check_volume,
    check_z_range,
)

__all__ = [
    "CPU",
    "Backend",
    "NEIGHBOURHOOD",
    "PICK_COLUMNS",
    "SCHEMA_VERSION",
    "StageConfig",
    "UnpickInputError",
    "as_rng",
    "check_choice",
    "check_int",
    "check_positive",
    "check_volume",
    "check_z_range",
    "get_backend",
    "gpu_available",
    "make_picks",
    "picks_zyx",
    "thread_map",
    "to_numpy",
]
