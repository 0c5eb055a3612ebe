"""PickConfig: every option of a pick run, one frozen config per stage, serialisable."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from .._shared import StageConfig, UnpickInputError, check_choice, check_int, check_positive
from ..cluster import ClusterConfig
from ..features import FeatureConfig, PreprocessConfig
from ..instances import InstanceConfig
from ._names import FEATURE_MODES

logger = logging.getLogger(__name__)

# EM over 63-125 features costs ~10x a K-Means fit per sample voxel; 50 000 voxels keep its fit
# within seconds with no loss of F1 on the simulated sets (benchmarks/README.md).
GMM_SAMPLE_VOXELS = 50_000


def _z_range_or_none(value, name: str):
    """``value`` as ``(z0, z1)`` whole numbers with ``0 <= z0 < z1``, or None."""
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ok = ok and 0 <= value[0] < value[1]
    if not ok:
        raise UnpickInputError(
            f"{name}: expected a half-open range [z0, z1) of two whole numbers with 0 <= z0 < z1, got {value!r}"
        )
    return (int(value[0]), int(value[1]))


#: The type of each nested stage config of PickConfig, checked before it is used.
_NESTED = {
    "preprocess": PreprocessConfig, "intensities": FeatureConfig, "fft": FeatureConfig, "gabor": FeatureConfig,
    "kmeans": ClusterConfig, "gmm": ClusterConfig, "cc": InstanceConfig, "ws": InstanceConfig,
}  # fmt: skip
#: The sections whose options depend on their mode or method (``ONLY_FOR``), which is the section's name.
_VARIANT_SECTIONS = tuple(name for name, kind in _NESTED.items() if kind.ONLY_FOR)


def _drop_inapplicable(section: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of ``section`` less those its mode or method does not read (a config of the
    earlier layout wrote every option into every section): silently at their default, with a
    WARNING otherwise, since such a value never had an effect."""
    kind = _NESTED[section]
    kept = {}
    for name, value in options.items():
        if kind.reads(name, section):
            kept[name] = value
        elif value != kind.__dataclass_fields__[name].default:
            applies_to = kind.ONLY_FOR[name]
            logger.warning(
                "%s.%s: %r dropped: only %s reads it, so it never had an effect on %s; leave it out or move it "
                "to the %s section", section, name, value, " and ".join(applies_to), section, applies_to[0],
            )  # fmt: skip
    return kept


@dataclasses.dataclass(frozen=True)
class PickConfig(StageConfig):
    """All options of ``unpick pick``; stage configs are nested and round-trip through YAML/JSON.

    ``fit_z_range`` bounds the voxels used to fit (Gabor selection, clustering sample);
    ``pick_z_range`` bounds where picks may lie. Both are half-open ``[z0, z1)`` slices.
    ``particle_radius_angstrom`` (Å, or None) sets the size filters, the operating point and the
    watershed spacing of both extractors; it is kept here only, and ``instance_config`` hands it to
    ``cc`` and ``ws``. A config written before (a radius under ``cc:`` and ``ws:``) is read as one
    radius here, and two different radii there are an error. Each feature mode's, clusterer's and
    extractor's section holds only the options it reads (``ONLY_FOR`` of ``FeatureConfig``,
    ``ClusterConfig`` and ``InstanceConfig``: ``min_distance_voxels`` is the watershed's); a config
    of the earlier layout, with every option in every section, loads: an option where it does not
    apply is dropped, with a WARNING when its value is not the default.
    ``exclude_fiducials`` removes gold beads (extreme density) and their streaks from picking;
    ``exclude_empty_slabs`` (with a particle radius) fits and picks only inside the specimen slab,
    not in the empty slabs above and below it (the fit slab then defaults to the specimen slab);
    ``exclude_membranes`` (with a particle radius) removes sheet-like voxels (lipid membranes) from
    every particle mask, so that a protein on a membrane is split from it.
    """

    preprocess: PreprocessConfig = PreprocessConfig()
    intensities: FeatureConfig = FeatureConfig(mode="intensities")
    fft: FeatureConfig = FeatureConfig(mode="fft")
    gabor: FeatureConfig = FeatureConfig(mode="gabor")
    kmeans: ClusterConfig = ClusterConfig(method="kmeans")
    gmm: ClusterConfig = ClusterConfig(method="gmm", sample_voxels=GMM_SAMPLE_VOXELS)
    cc: InstanceConfig = InstanceConfig(method="cc")
    ws: InstanceConfig = InstanceConfig(method="ws")
    particle_radius_angstrom: float | None = None
    fit_z_range: tuple[int, int] | None = None
    pick_z_range: tuple[int, int] | None = None
    exclude_fiducials: bool = True
    exclude_empty_slabs: bool = True
    exclude_membranes: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in _NESTED.items():
            if not isinstance(getattr(self, name), kind):
                raise UnpickInputError(
                    f"{name}: expected a mapping of {kind.__name__} options (e.g. {name}: {{...}}), got "
                    f"{getattr(self, name)!r}; leave it out for the defaults"
                )
        object.__setattr__(self, "seed", check_int(self.seed, "seed", minimum=0))
        self._gather_particle_radius()
        for name in ("exclude_fiducials", "exclude_empty_slabs", "exclude_membranes"):
            if not isinstance(getattr(self, name), bool):
                raise UnpickInputError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        object.__setattr__(self, "fit_z_range", _z_range_or_none(self.fit_z_range, "fit_z_range"))
        object.__setattr__(self, "pick_z_range", _z_range_or_none(self.pick_z_range, "pick_z_range"))
        for mode in ("intensities", "fft", "gabor"):
            got = getattr(self, mode).mode
            if got != mode:
                raise UnpickInputError(f"{mode}: expected a FeatureConfig with mode={mode!r}, got mode={got!r}")
        for method in ("kmeans", "gmm"):
            if getattr(self, method).method != method:
                raise UnpickInputError(f"{method}: expected a ClusterConfig with method={method!r}")
            for mode in getattr(self, method).whiten_modes:
                check_choice(mode, f"{method}.whiten_modes", FEATURE_MODES)
        for method in ("cc", "ws"):
            if getattr(self, method).method != method:
                raise UnpickInputError(f"{method}: expected an InstanceConfig with method={method!r}")

    def _gather_particle_radius(self) -> None:
        """Keep the particle radius in one place: a radius given to ``cc`` or ``ws`` (a config of
        the earlier layout) moves here; two different radii are refused, naming both."""
        given = {
            name: radius
            for name, radius in (
                ("particle_radius_angstrom", self.particle_radius_angstrom),
                ("cc.particle_radius_angstrom", self.cc.particle_radius_angstrom),
                ("ws.particle_radius_angstrom", self.ws.particle_radius_angstrom),
            )
            if radius is not None
        }
        if len(set(given.values())) > 1:
            raise UnpickInputError(
                "particle radius: " + ", ".join(f"{name} {value!r}" for name, value in given.items())
                + " differ; give one particle_radius_angstrom (Å) at the top of the config"
            )
        if given:
            radius = check_positive(next(iter(given.values())), "particle_radius_angstrom", unit="Å")
            object.__setattr__(self, "particle_radius_angstrom", radius)
        for method in ("cc", "ws"):
            if getattr(self, method).particle_radius_angstrom is not None:
                object.__setattr__(self, method, getattr(self, method).replace(particle_radius_angstrom=None))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PickConfig":
        """As ``StageConfig.from_dict``, dropping the options a section's mode or method does not
        read (``_drop_inapplicable``): a config or job.json of the earlier layout still loads."""
        if isinstance(data, dict):
            data = {
                name: _drop_inapplicable(name, value) if name in _VARIANT_SECTIONS and isinstance(value, dict) else value
                for name, value in data.items()
            }
        return super().from_dict(data)

    def to_dict(self) -> dict:
        """As ``StageConfig.to_dict``, without the extractors' radius fields (the radius is here)."""
        out = super().to_dict()
        for method in ("cc", "ws"):
            out[method].pop("particle_radius_angstrom", None)
        return out

    def with_particle_radius(self, radius_angstrom: float | None) -> "PickConfig":
        """A copy with the particle radius ``radius_angstrom`` (None: no radius-derived filters)."""
        if radius_angstrom is not None:
            check_positive(radius_angstrom, "particle radius", unit="Å")
        return self.replace(particle_radius_angstrom=radius_angstrom)

    def feature_config(self, mode: str) -> FeatureConfig:
        return getattr(self, mode)

    def cluster_config(self, method: str) -> ClusterConfig:
        return getattr(self, method)

    def instance_config(self, method: str) -> InstanceConfig:
        """The extractor's config with this config's particle radius."""
        return getattr(self, method).replace(particle_radius_angstrom=self.particle_radius_angstrom)
