"""Workflows: the twelve unsupervised pickers, run alone or together on a tomogram."""

from ._config import PickConfig
from ._consensus import agreement_scores, consensus_picks
from ._names import (
    ALL_WORKFLOWS,
    CLUSTERERS,
    COMBINED,
    DEFAULT_WORKFLOW,
    EXTRACTORS,
    FEATURE_MODES,
    WORKFLOW_NAMES,
    Workflow,
    parse_selection,
    parse_workflows,
)
from ._run import JOB_FILE, PICK_FORMATS, run_pick
from ._runner import PickResult, pick_tomogram
from ._segment import Segmentation

__all__ = [
    "ALL_WORKFLOWS",
    "DEFAULT_WORKFLOW",
    "JOB_FILE",
    "PICK_FORMATS",
    "CLUSTERERS",
    "COMBINED",
    "EXTRACTORS",
    "FEATURE_MODES",
    "WORKFLOW_NAMES",
    "PickConfig",
    "PickResult",
    "Segmentation",
    "Workflow",
    "agreement_scores",
    "consensus_picks",
    "parse_selection",
    "parse_workflows",
    "pick_tomogram",
    "run_pick",
]
