"""Configuration of the tomogram simulator."""

from __future__ import annotations

import dataclasses
import math

from .._shared import StageConfig, UnpickInputError, check_positive
from ._shapes import CATALOGUE, FIDUCIAL_RADIUS_ANGSTROM

MIN_RADIUS_VOXELS = 1.5  # smaller particles cannot be drawn as a recognisable shape


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnpickInputError(f"{name}: expected a whole number >= 0, got {value!r}")
    return value


def _check_fraction(value: object, name: str, *, low: float, high: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"{name}: expected a number in [{low}, {high}], got {value!r}") from err
    if not (math.isfinite(number) and low <= number <= high):
        raise UnpickInputError(f"{name}: expected a number in [{low}, {high}], got {value!r}")
    return number


@dataclasses.dataclass(frozen=True)
class SimulationConfig(StageConfig):
    """Everything that defines one synthetic tomogram; the same config always gives the same volume.

    Parameters
    ----------
    shape_zyx : tuple of int
        Volume shape (Z, Y, X) in voxels, each >= 5.
    voxel_size_angstrom : float
        Voxel edge in Å. Every particle class used (and the fiducials, when any) must be at least
        1.5 voxels in radius and fit in the volume.
    particle_classes : tuple of str
        Classes from the built-in catalogue (``unpick.synthetic.CATALOGUE``): ``large-solid``
        (100 Å, ribosome-like), ``medium-hollow`` (75 Å, proteasome-like barrel),
        ``elongated`` (60 Å half-length rod), ``small-solid`` (45 Å) and ``ring`` (60 Å torus).
    n_particles : int
        Total number of particles, split evenly over ``particle_classes`` in the order given
        (the first classes take the remainder). Crowding is set through this count: the
        occupied fraction of the volume is reported by ``SyntheticTomogram.occupancy``. When not
        all fit, as many as fit are placed and a warning is logged.
    min_separation_angstrom : float
        Gap in Å kept between the bounding spheres of any two objects (particles, fiducials,
        membrane): centres are at least ``r_i + r_j + min_separation_angstrom`` apart.
    edge_margin_fraction : float
        Least distance of a centre from every face, as a fraction of the object's radius: 1 keeps
        every particle whole, the default 0.5 lets border particles be cut by up to half a radius.
    membrane : bool
        Add one membrane: a 40 Å thick spherical shell, a vesicle or a gently curved sheet.
    n_fiducials : int
        Number of 50 Å gold beads, ten times the contrast of protein, same sign.
    missing_wedge_degrees : float or None
        Full opening angle of the missing wedge in degrees (60 = a ±60° tilt series about the
        y axis): Fourier components within half this angle of the kz axis (in the kx-kz plane)
        are zeroed. None keeps all of Fourier space.
    bandpass_angstrom : tuple of float or None
        ``(low, high)`` periods in Å kept by a smooth band-pass standing in for the CTF and the
        reconstruction filter: Gaussian low-pass ``exp(-f²/2f_lo²)`` with ``f_lo = 1/low`` times
        Gaussian high-pass ``1 - exp(-f²/2f_hi²)`` with ``f_hi = 1/high``. None disables it.
    noise : float
        Standard deviation of the added Gaussian noise relative to that of the noise-free
        filtered signal of the particles and membrane over the whole volume (the fiducials are
        left out, or their contrast would set the noise): 0 is noise-free, 0.5 low, 1.5 high.
        The noise passes through the same missing wedge and band-pass as the signal, as in a
        reconstruction, so it is spatially correlated.
    protein_dark : bool
        Cryo-ET convention: protein (and gold, membrane) darker than the background.
    seed : int
        Seed of every random choice (placement, orientations, distractors, noise).
    """

    shape_zyx: tuple[int, int, int] = (64, 128, 128)
    voxel_size_angstrom: float = 10.0
    particle_classes: tuple[str, ...] = tuple(CATALOGUE)
    n_particles: int = 50
    min_separation_angstrom: float = 10.0
    edge_margin_fraction: float = 0.5
    membrane: bool = True
    n_fiducials: int = 2
    missing_wedge_degrees: float | None = 60.0
    bandpass_angstrom: tuple[float, float] | None = (20.0, 300.0)
    noise: float = 1.0
    protein_dark: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalise types on a frozen dataclass
        try:
            shape = tuple(int(v) for v in self.shape_zyx)
        except (TypeError, ValueError) as err:
            raise UnpickInputError(f"shape_zyx: expected three integers (Z, Y, X), got {self.shape_zyx!r}") from err
        if shape != tuple(self.shape_zyx):
            raise UnpickInputError(f"shape_zyx: expected three integers (Z, Y, X), got {self.shape_zyx!r}")
        if len(shape) != 3 or min(shape) < 5:
            raise UnpickInputError(
                f"shape_zyx: expected three integers (Z, Y, X), each >= 5 voxels, got {self.shape_zyx!r}"
            )
        set_(self, "shape_zyx", shape)
        set_(self, "voxel_size_angstrom", check_positive(self.voxel_size_angstrom, "voxel_size_angstrom", unit="Å"))
        classes = (self.particle_classes,) if isinstance(self.particle_classes, str) else tuple(self.particle_classes)
        unknown = [c for c in classes if c not in CATALOGUE]
        if unknown or not classes:
            raise UnpickInputError(
                f"particle_classes: unknown class(es) {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"valid: {', '.join(CATALOGUE)}"
            )
        if len(set(classes)) != len(classes):
            raise UnpickInputError(f"particle_classes: expected each class once, got {classes!r}")
        set_(self, "particle_classes", classes)
        _check_count(self.n_particles, "n_particles")
        _check_count(self.n_fiducials, "n_fiducials")
        _check_count(self.seed, "seed")
        separation = _check_fraction(self.min_separation_angstrom, "min_separation_angstrom", low=0.0, high=math.inf)
        set_(self, "min_separation_angstrom", separation)
        set_(
            self,
            "edge_margin_fraction",
            _check_fraction(self.edge_margin_fraction, "edge_margin_fraction", low=0.0, high=1.0),
        )
        noise = _check_fraction(self.noise, "noise", low=0.0, high=math.inf)
        set_(self, "noise", noise)
        if self.missing_wedge_degrees is not None:
            wedge = _check_fraction(self.missing_wedge_degrees, "missing_wedge_degrees", low=0.0, high=179.0)
            set_(self, "missing_wedge_degrees", wedge)
        if self.bandpass_angstrom is not None:
            self._check_bandpass()
        for flag in ("membrane", "protein_dark"):
            if not isinstance(getattr(self, flag), bool):
                raise UnpickInputError(f"{flag}: expected true or false, got {getattr(self, flag)!r}")
        self._check_sizes()

    def _check_bandpass(self) -> None:
        try:
            low, high = (float(v) for v in self.bandpass_angstrom)  # type: ignore[union-attr]
        except (TypeError, ValueError) as err:
            raise UnpickInputError(
                f"bandpass_angstrom: expected two periods (low, high) in Å, got {self.bandpass_angstrom!r}"
            ) from err
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise UnpickInputError(
                f"bandpass_angstrom: expected 0 < low < high periods in Å (e.g. 20 300), got {self.bandpass_angstrom!r}"
            )
        object.__setattr__(self, "bandpass_angstrom", (low, high))

    def _check_sizes(self) -> None:
        """Each object used must be drawable (radius >= 1.5 voxels) and fit in the volume."""
        sizes = {name: CATALOGUE[name].radius_angstrom for name in self.particle_classes}
        if self.n_fiducials:
            sizes["fiducial"] = FIDUCIAL_RADIUS_ANGSTROM
        smallest, largest = min(sizes, key=sizes.get), max(sizes, key=sizes.get)  # type: ignore[arg-type]
        voxel = self.voxel_size_angstrom
        if sizes[smallest] / voxel < MIN_RADIUS_VOXELS:
            raise UnpickInputError(
                f"voxel_size_angstrom: {smallest!r} (radius {sizes[smallest]:g} Å) would be "
                f"{sizes[smallest] / voxel:.2f} voxels in radius at {voxel:g} Å/voxel; expected >= "
                f"{MIN_RADIUS_VOXELS} voxels; use a voxel size <= {sizes[smallest] / MIN_RADIUS_VOXELS:g} Å"
            )
        if sizes[largest] / voxel > min(self.shape_zyx) - 1:
            raise UnpickInputError(
                f"shape_zyx: {largest!r} (radius {sizes[largest]:g} Å = {sizes[largest] / voxel:.1f} voxels) "
                f"does not fit in a {self.shape_zyx} volume; use a larger shape, a larger voxel size "
                f"or other classes"
            )

    def class_counts(self) -> dict[str, int]:
        """Requested number of particles per class (even split, remainder to the first classes)."""
        base, extra = divmod(self.n_particles, len(self.particle_classes))
        return {name: base + (i < extra) for i, name in enumerate(self.particle_classes)}
