"""Batch runs over folders of tomograms: resumable, failure-isolated, on local processes or Dask."""

from ._dask import dask_parallel, task_resources
from ._discover import (
    DEFAULT_PATTERNS,
    TomogramInput,
    check_output_dir,
    discover_tomograms,
    tomogram_inputs,
)
from ._evaluate import EVALUATION_FILE, POOLED, evaluate_batch, truth_files
from ._manifest import MANIFEST_FILE, Manifest
from ._memory import (
    BYTES_PER_VOXEL,
    default_memory_bytes,
    header_shape,
    memory_limited_jobs,
)
from ._run import BACKENDS, BatchResult, run_batch
from ._summary import (
    MERGED_DIR,
    SUMMARY_FILE,
    summary_table,
    write_merged_star,
    write_summary,
)
from ._tasks import (
    LOG_FILE,
    PickTask,
    TomogramOutcome,
    TomogramOutput,
    TomogramTask,
    execute,
)

__all__ = [
    "BACKENDS",
    "BYTES_PER_VOXEL",
    "DEFAULT_PATTERNS",
    "EVALUATION_FILE",
    "LOG_FILE",
    "MANIFEST_FILE",
    "MERGED_DIR",
    "POOLED",
    "SUMMARY_FILE",
    "BatchResult",
    "Manifest",
    "PickTask",
    "TomogramInput",
    "TomogramOutcome",
    "TomogramOutput",
    "TomogramTask",
    "check_output_dir",
    "dask_parallel",
    "default_memory_bytes",
    "discover_tomograms",
    "evaluate_batch",
    "execute",
    "header_shape",
    "memory_limited_jobs",
    "run_batch",
    "summary_table",
    "task_resources",
    "tomogram_inputs",
    "truth_files",
    "write_merged_star",
    "write_summary",
]
