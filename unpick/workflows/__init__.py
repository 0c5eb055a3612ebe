"""Workflows: the twelve unsupervised pickers, run alone or together on a tomogram.

The public names are imported on first use (``unpick._shared.lazy_exports``): the workflow names
alone (``unpick --help``) do not load scikit-learn, scikit-image or matplotlib.
"""

from .._shared import lazy_exports

_ORIGINS = {
    "PickConfig": "._config",
    "agreement_scores": "._consensus",
    "consensus_picks": "._consensus",
    "DEMO_SIMULATION": "._demo",
    "run_demo": "._demo",
    "save_simulation": "._files",
    "write_evaluation": "._files",
    "ALL_WORKFLOWS": "._names",
    "CLUSTERERS": "._names",
    "COMBINED": "._names",
    "DEFAULT_WORKFLOW": "._names",
    "EXTRACTORS": "._names",
    "FEATURE_MODES": "._names",
    "WORKFLOW_NAMES": "._names",
    "Workflow": "._names",
    "parse_selection": "._names",
    "parse_workflows": "._names",
    "DEFAULT_TEACHER": "._names",
    "RefineRun": "._refine",
    "refine_tomograms": "._refine",
    "teacher_name": "._refine",
    "JOB_FILE": "._run",
    "PICK_FORMATS": "._run",
    "run_pick": "._run",
    "PickResult": "._runner",
    "pick_tomogram": "._runner",
    "Segmentation": "._segment",
}
__getattr__, __dir__ = lazy_exports(__name__, _ORIGINS)

__all__ = [
    "ALL_WORKFLOWS",
    "DEFAULT_TEACHER",
    "DEFAULT_WORKFLOW",
    "DEMO_SIMULATION",
    "JOB_FILE",
    "PICK_FORMATS",
    "CLUSTERERS",
    "COMBINED",
    "EXTRACTORS",
    "FEATURE_MODES",
    "WORKFLOW_NAMES",
    "PickConfig",
    "PickResult",
    "RefineRun",
    "Segmentation",
    "Workflow",
    "agreement_scores",
    "consensus_picks",
    "parse_selection",
    "parse_workflows",
    "pick_tomogram",
    "refine_tomograms",
    "run_demo",
    "run_pick",
    "save_simulation",
    "teacher_name",
    "write_evaluation",
]
