"""Pieces every stage shares: errors, backend switch, input checks, configs, the picks table.

The names that need SciPy, pandas, PyYAML or joblib are imported on first use (``lazy_exports``).
"""

from ._errors import UnpickInputError
from ._labels import LabelSums, label_sums, sparse_components, voxel_label_sums
from ._lazy import lazy_exports
from ._validate import (
    NEIGHBOURHOOD,
    as_rng,
    check_choice,
    check_int,
    check_positive,
    check_shape,
    check_volume,
    check_z_range,
)

_ORIGINS = {
    "CPU": "._backend",
    "Backend": "._backend",
    "get_backend": "._backend",
    "gpu_available": "._backend",
    "to_numpy": "._backend",
    "SCHEMA_VERSION": "._config",
    "StageConfig": "._config",
    "PICK_COLUMNS": "._picks",
    "make_picks": "._picks",
    "picks_zyx": "._picks",
    "available_threads": "._threads",
    "release_pages": "._pages",
    "spill_to_disk": "._pages",
    "thread_map": "._threads",
}
__getattr__, __dir__ = lazy_exports(__name__, _ORIGINS)

__all__ = [
    "CPU",
    "Backend",
    "LabelSums",
    "NEIGHBOURHOOD",
    "PICK_COLUMNS",
    "SCHEMA_VERSION",
    "StageConfig",
    "UnpickInputError",
    "as_rng",
    "available_threads",
    "check_choice",
    "check_int",
    "check_positive",
    "check_shape",
    "check_volume",
    "check_z_range",
    "get_backend",
    "gpu_available",
    "label_sums",
    "lazy_exports",
    "make_picks",
    "picks_zyx",
    "release_pages",
    "sparse_components",
    "spill_to_disk",
    "thread_map",
    "to_numpy",
    "voxel_label_sums",
]
