"""The twelve workflow names: feature mode × clusterer × instance extractor."""

from __future__ import annotations

import itertools
from typing import Iterable, NamedTuple

from .._shared import UnpickInputError

FEATURE_MODES = ("intensities", "fft", "gabor")
CLUSTERERS = ("kmeans", "gmm")
EXTRACTORS = ("cc", "ws")


class Workflow(NamedTuple):
    """One workflow, e.g. ``Workflow('gabor', 'kmeans', 'ws')`` named ``gabor-kmeans-ws``."""

    feature: str
    clusterer: str
    extractor: str

    @property
    def name(self) -> str:
        return f"{self.feature}-{self.clusterer}-{self.extractor}"

    @property
    def segmentation(self) -> str:
        """Name of the semantic segmentation it extracts from, e.g. ``gabor-kmeans``."""
        return f"{self.feature}-{self.clusterer}"


# Recommended default, from benchmarks/README.md (data-driven operating points): fft-gmm-cc is the
# best single workflow on polnet tomo_01-03 (median F1 0.90, recall 0.91, 3gl1 0.80, membrane-bound
# 0.79-0.83) and on tomo_04 with gold and empty slabs (0.87). 'consensus' is 0.02 better in median
# F1 but runs all twelve (about 3x the time).
DEFAULT_WORKFLOW = "fft-gmm-cc"
#: The default teacher: the picks at least half of the twelve workflows agree on. Its student beat
#: the default workflow's on every held-out polnet tomogram but tomo_04 (F1 0.967 / 0.966 / 0.916 on
#: tomo_02-04 against 0.968 / 0.931 / 0.929; benchmarks/README.md, session 8): the consensus is
#: more precise (0.97 against 0.91), so PN training sees fewer false pseudo-positives. It costs the
#: twelve workflows per tomogram, in refine and again in infer's threshold run.
DEFAULT_TEACHER = "consensus"

ALL_WORKFLOWS = tuple(Workflow(*combo) for combo in itertools.product(FEATURE_MODES, CLUSTERERS, EXTRACTORS))
WORKFLOW_NAMES = tuple(w.name for w in ALL_WORKFLOWS)


#: Picks combined from several workflows: ``consensus`` (picks on which at least half of the
#: workflows agree) and ``auto`` (the workflow that agrees best with the consensus).
COMBINED = ("consensus", "auto")


def parse_selection(spec: str | Iterable[str]) -> tuple[tuple[Workflow, ...], tuple[str, ...]]:
    """Parse a selection that may also name combined picks (``consensus``, ``auto``).

    Returns the workflows to run and the combined picks to add. A selection of combined picks
    only (e.g. ``'consensus'``) runs all twelve workflows; ``'auto,intensities-gmm-cc,...'``
    combines just the named ones.
    """
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip().lower() for n in names if n.strip()]
    combined = tuple(c for c in COMBINED if c in names)
    rest = [n for n in names if n not in COMBINED]
    workflows = parse_workflows(rest) if rest else ALL_WORKFLOWS
    if combined and len(workflows) < 2:
        raise UnpickInputError(
            f"workflows: {', '.join(combined)} combine several workflows, got only {workflows[0].name}; "
            "name two or more, or 'all'"
        )
    return workflows, combined


def parse_workflows(spec: str | Iterable[str]) -> tuple[Workflow, ...]:
    """Parse ``'all'``, ``'gabor-kmeans-ws'``, ``'a,b'`` or a list of names into workflows.

    Order follows the canonical order of the twelve; duplicates are dropped.
    """
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip().lower() for n in names if n.strip()]
    if not names:
        raise UnpickInputError("workflows: expected 'all' or at least one workflow name, got nothing")
    if "all" in names:
        return ALL_WORKFLOWS
    unknown = [n for n in names if n not in WORKFLOW_NAMES]
    if unknown:
        raise UnpickInputError(
            f"workflows: unknown workflow(s) {', '.join(unknown)}; valid names are 'all', "
            f"{', '.join(COMBINED)} or {', '.join(WORKFLOW_NAMES)}"
        )
    return tuple(w for w in ALL_WORKFLOWS if w.name in names)
