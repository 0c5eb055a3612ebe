"""Configuration of instance extraction: connected components or watershed, and size filters."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from .._shared import StageConfig, UnpickInputError, check_choice, check_int, check_positive

METHODS = ("cc", "ws")
# Without a particle radius: islands under this many voxels are noise, never picks.
DEFAULT_MIN_SIZE_VOXELS = 8
# Without a particle radius: watershed markers at least this many voxels apart.
DEFAULT_MIN_DISTANCE_VOXELS = 5
# With a radius r (voxels) and sphere volume V = 4/3 pi r^3: a segment under MIN_FRACTION * V
# (a sphere of ~0.46 r) is a noise speck after the blur rather than a particle's core; one over
# MAX_VOLUMES * V cannot be one particle, nor a few touching ones, but is a membrane, carbon edge
# or fiducial cluster. Markers are MIN_DISTANCE_FRACTION * r apart: two touching particles
# (centres 2 r apart) always get two markers, one particle rarely two.
MIN_FRACTION = 0.1
MAX_VOLUMES = 8.0
MIN_DISTANCE_FRACTION = 0.8


@dataclasses.dataclass(frozen=True)
class InstanceLimits:
    """Size filters and marker spacing resolved for one voxel size (voxels; None = no limit)."""

    min_size_voxels: int
    max_size_voxels: int | None
    min_distance_voxels: int
    radius_voxels: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class InstanceConfig(StageConfig):
    """How a semantic particle mask is split into instances.

    ``min_distance_voxels`` is read by the watershed only (``ONLY_FOR``): a 'cc' config refuses a
    value for it other than the default (None), and ``to_dict`` leaves it out.

    Parameters
    ----------
    method : {'cc', 'ws'}
        Connected components, or watershed of the distance transform from spaced markers.
    connectivity : {1, 2, 3}
        Neighbours that touch: faces (1), faces and edges (2), or all 26 (3), as in
        ``scipy.ndimage.generate_binary_structure(3, connectivity)``.
    particle_radius_angstrom : float or None
        Expected particle radius in Å; derives the size filters and marker spacing left as None.
    min_size_voxels, max_size_voxels : int or None
        Size filters in voxels: instances under the minimum and connected components over the
        maximum are dropped (watershed does not split the latter). Defaults: with a radius,
        0.1 and 8 sphere volumes; without, 8 voxels and no maximum.
    min_distance_voxels : int or None
        Watershed marker spacing in voxels ('ws' only). Default: 0.8 × radius, else 5.
    """

    VARIANT_FIELD: ClassVar[str] = "method"
    #: The options only one method reads, with that method; every other option applies to both.
    ONLY_FOR: ClassVar[dict[str, tuple[str, ...]]] = {"min_distance_voxels": ("ws",)}

    method: str = "cc"
    connectivity: int = 1
    particle_radius_angstrom: float | None = None
    min_size_voxels: int | None = None
    max_size_voxels: int | None = None
    min_distance_voxels: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.method, "instance method", METHODS)
        if self.connectivity not in (1, 2, 3) or isinstance(self.connectivity, bool):
            raise UnpickInputError(f"connectivity: expected 1, 2 or 3, got {self.connectivity!r}")
        if self.particle_radius_angstrom is not None:
            object.__setattr__(
                self,
                "particle_radius_angstrom",
                check_positive(self.particle_radius_angstrom, "particle_radius_angstrom", unit="Å"),
            )
        for name in ("min_size_voxels", "max_size_voxels", "min_distance_voxels"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)
        if (
            self.min_size_voxels is not None
            and self.max_size_voxels is not None
            and self.min_size_voxels > self.max_size_voxels
        ):
            raise UnpickInputError(
                f"min_size_voxels ({self.min_size_voxels}) is larger than max_size_voxels "
                f"({self.max_size_voxels}); no instance could pass"
            )
        super().__post_init__()

    def limits(self, *, voxel_size_angstrom: float) -> InstanceLimits:
        """Resolve the size filters and marker spacing (voxels) for a voxel size in Å."""
        voxel = check_positive(voxel_size_angstrom, "voxel_size_angstrom", unit="Å")
        radius = None if self.particle_radius_angstrom is None else self.particle_radius_angstrom / voxel
        if radius is None:
            min_size, max_size, min_distance = DEFAULT_MIN_SIZE_VOXELS, None, DEFAULT_MIN_DISTANCE_VOXELS
        else:
            volume = 4.0 / 3.0 * math.pi * radius**3
            min_size = max(DEFAULT_MIN_SIZE_VOXELS, round(MIN_FRACTION * volume))
            max_size = math.ceil(MAX_VOLUMES * volume)
            min_distance = max(1, round(MIN_DISTANCE_FRACTION * radius))
        if self.min_size_voxels is not None:
            min_size = self.min_size_voxels
            max_size = None if max_size is None else max(max_size, min_size)
        elif max_size is not None and max_size < min_size:  # no instance could pass both size filters
            raise UnpickInputError(
                f"particle_radius_angstrom: {self.particle_radius_angstrom:g} Å is {radius:.3g} voxels at {voxel:g} "
                f"Å/voxel, too small for any particle to be kept ({min_size} voxels at least); give the radius in "
                "Å (e.g. 60 for a 12 nm particle) and check the voxel size"
            )
        return InstanceLimits(
            min_size_voxels=min_size,
            max_size_voxels=self.max_size_voxels if self.max_size_voxels is not None else max_size,
            min_distance_voxels=self.min_distance_voxels if self.min_distance_voxels is not None else min_distance,
            radius_voxels=radius,
        )
