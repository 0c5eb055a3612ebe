"""Evaluation of picks against ground truth, and the baselines every workflow is compared with.

Everything here takes ``(N, 3)`` zyx voxel coordinates (or picks tables with ``x, y, z`` in
voxels) and does no file I/O; the ``unpick evaluate`` command reads the files.

- :func:`match_points`: exact maximum one-to-one matching within a radius (KD-tree + sparse
  assignment); :func:`score_points`: TP/FP/FN, precision, recall, F1, F-beta.
- :func:`relative_recall`: PickET's recall balanced against random picks in the same region.
- :func:`czii_score`: the CZII cryo-ET challenge metric ("any-hit" counting, β = 4).
- :func:`pr_curve`: precision–recall curve and average precision of scored picks.
- :func:`per_class_recall`: recall of each ground-truth class; :func:`select_classes`: the truth
  rows of some classes (an incomplete annotation).
- Baselines: :func:`random_points`, :func:`dog_picks`, :func:`baseline_picks`.
- :func:`evaluate_workflows`: one table, one row per workflow; :func:`format_table`, :func:`verdict`.
"""

from ._baselines import baseline_picks, dog_picks, dog_sigmas_from_radius, random_points
from ._czii import czii_score
from ._matching import Matching, match_points
from ._metrics import counts_to_scores, per_class_recall, score_points
from ._pr import PRCurve, pr_curve
from ._relative_recall import relative_recall, relative_recall_from
from ._table import (
    BASELINE_NAMES,
    DEFAULT_MATCH_RADIUS_ANGSTROM,
    evaluate_workflows,
    format_table,
    select_classes,
    verdict,
)

__all__ = [
    "counts_to_scores",
    "relative_recall_from",
    "BASELINE_NAMES",
    "DEFAULT_MATCH_RADIUS_ANGSTROM",
    "Matching",
    "PRCurve",
    "baseline_picks",
    "czii_score",
    "dog_picks",
    "dog_sigmas_from_radius",
    "evaluate_workflows",
    "format_table",
    "match_points",
    "per_class_recall",
    "pr_curve",
    "random_points",
    "relative_recall",
    "score_points",
    "select_classes",
    "verdict",
]
