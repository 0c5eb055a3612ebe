"""PU-trained 3-D ResUNet picker: pseudo-labels -> training -> overlap-tile inference -> peaks.

``DeepConfig`` and the NumPy-only helpers (targets, priors, patches, peaks) import without torch; everything else
imports torch on first use, so ``import unpick.deep`` stays cheap and torch stays optional.
"""

from __future__ import annotations

from .._shared import lazy_exports
from ._config import DeepConfig
from ._contaminants import clear_contaminants
from ._normalise import normalise_volume
from ._peaks import find_peaks, otsu_threshold
from ._sampling import PatchSampler, augment_patch, crop_patch
from ._targets import ClassPriors, build_targets, estimate_priors, rank_weights
from ._threshold import PeakThreshold, choose_peak_threshold, labelled_peak_scores

# public name -> private module that needs torch (imported on first access)
_LAZY = {
    "ResUNet3d": "._model",
    "resolve_device": "._model",
    "pn_loss": "._losses",
    "nnpu_loss": "._losses",
    "gekl_loss": "._losses",
    "drop_high_loss_positives": "._losses",
    "STATE_FILE": "._train",
    "TrainedPicker": "._train",
    "train_picker": "._train",
    "predict_score_map": "._infer",
    "save_checkpoint": "._checkpoint",
    "load_checkpoint": "._checkpoint",
    "RefineResult": "._refine",
    "refine_picks": "._refine",
    "calibrate_peak_threshold": "._refine",
    "cleared_score_maps": "._refine",
    "peaks_at_threshold": "._refine",
}

__all__ = [
    "ClassPriors",
    "PeakThreshold",
    "choose_peak_threshold",
    "labelled_peak_scores",
    "DeepConfig",
    "clear_contaminants",
    "PatchSampler",
    "augment_patch",
    "build_targets",
    "crop_patch",
    "estimate_priors",
    "find_peaks",
    "normalise_volume",
    "otsu_threshold",
    "rank_weights",
    *sorted(_LAZY),
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
