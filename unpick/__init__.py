"""unpick: annotation-free particle picking in cryo-electron tomograms.

The names every layer shares are public here: ``UnpickInputError`` (bad input: one clear message),
and the picks table helpers ``make_picks``, ``picks_zyx`` and ``PICK_COLUMNS``. They are imported on
first use, so ``import unpick`` stays light.
"""

from ._shared import lazy_exports

__version__ = "0.1.0"

_ORIGINS = {
    "UnpickInputError": "._shared",
    "PICK_COLUMNS": "._shared",
    "make_picks": "._shared",
    "picks_zyx": "._shared",
}
__getattr__, __dir__ = lazy_exports(__name__, _ORIGINS)

__all__ = ["PICK_COLUMNS", "UnpickInputError", "__version__", "make_picks", "picks_zyx"]
