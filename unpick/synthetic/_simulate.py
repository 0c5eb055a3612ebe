"""Build a synthetic tomogram with exact ground truth."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from .._shared import UnpickInputError
from ._config import SimulationConfig
from ._imaging import filter_and_add_noise, filtered_std, needs_fourier, normalise, spectrum_of
from ._placement import place_spheres
from ._shapes import (
    CATALOGUE,
    FIDUCIAL_AMPLITUDE,
    FIDUCIAL_RADIUS_ANGSTROM,
    MEMBRANE_AMPLITUDE,
    MEMBRANE_THICKNESS_ANGSTROM,
    random_rotations,
    render_object,
    render_shell,
)

logger = logging.getLogger(__name__)

TRUTH_COLUMNS = ("x", "y", "z", "class", "radius_angstrom", "radius_voxels")
_FIDUCIAL = "fiducial"


@dataclasses.dataclass
class SyntheticTomogram:
    """A simulated tomogram and its ground truth.

    Attributes
    ----------
    volume : np.ndarray
        ``(Z, Y, X)`` float32 image, z-scored (mean 0, std 1).
    truth : pd.DataFrame
        One row per particle: ``x, y, z`` (voxels, sub-voxel floats; voxel ``[iz, iy, ix]`` is
        centred at ``(ix, iy, iz)``), ``class``, ``radius_angstrom``, ``radius_voxels``. Membranes
        and fiducials are not in it.
    voxel_size_angstrom : float
        Voxel edge in Å.
    config : SimulationConfig
        The config that made it.
    labels : np.ndarray
        ``(Z, Y, X)`` unsigned integer instance labels of the noise-free particle support
        (density >= 0.5): 0 background, ``k`` the particle in truth row ``k - 1``.
    distractor_mask : np.ndarray
        ``(Z, Y, X)`` bool support of the membrane and fiducials.
    fiducials_zyx : np.ndarray
        ``(M, 3)`` float zyx voxel centres of the gold fiducials.
    """

    volume: np.ndarray
    truth: pd.DataFrame
    voxel_size_angstrom: float
    config: SimulationConfig
    labels: np.ndarray
    distractor_mask: np.ndarray
    fiducials_zyx: np.ndarray

    @property
    def particle_mask(self) -> np.ndarray:
        """``(Z, Y, X)`` bool noise-free particle support."""
        return self.labels > 0

    @property
    def occupancy(self) -> float:
        """Fraction of the volume's voxels inside a particle."""
        return float(np.count_nonzero(self.labels)) / self.labels.size


def simulate_tomogram(config: SimulationConfig | None = None) -> SyntheticTomogram:
    """Simulate a cryo-ET tomogram with particles of several shapes, distractors, wedge and noise.

    Objects are placed at random without overlap (largest first; a warning is logged when the
    volume cannot take all of them), each particle is rendered at its sub-voxel centre with a
    uniformly random orientation inside its own bounding box, then the whole volume goes once
    through Fourier space (``scipy.fft``, float32) for the missing wedge, the band-pass and the
    equally filtered noise, and is z-scored. Particles whose centre lies within a radius of a
    face are cut by it (see ``edge_margin_fraction``) and stay in the truth.

    Parameters
    ----------
    config : SimulationConfig, optional
        What to simulate; the defaults when omitted. The same config gives a bit-identical
        result (on the same machine and library versions).

    Returns
    -------
    SyntheticTomogram
        The z-scored volume, its ground truth and noise-free masks.

    Examples
    --------
    >>> from unpick.synthetic import SimulationConfig, simulate_tomogram
    >>> tomo = simulate_tomogram(SimulationConfig(shape_zyx=(32, 64, 64), n_particles=6, seed=1))
    >>> tomo.volume.shape, len(tomo.truth)
    ((32, 64, 64), 6)
    """
    if config is None:
        config = SimulationConfig()
    if not isinstance(config, SimulationConfig):
        raise UnpickInputError(f"config: expected a SimulationConfig, got {type(config).__name__}")
    scene_seed, noise_seed = np.random.SeedSequence(config.seed).spawn(2)
    rng = np.random.default_rng(scene_seed)
    voxel = config.voxel_size_angstrom
    gap = config.min_separation_angstrom / voxel

    names, radii = _objects(config)
    allowed = None
    density = np.zeros(config.shape_zyx, dtype=np.float32)
    distractor_mask = np.zeros(config.shape_zyx, dtype=bool)
    if config.membrane:
        allowed = _add_membrane(density, distractor_mask, rng, voxel_size_angstrom=voxel, gap=gap)
    centres = place_spheres(
        radii, config.shape_zyx, rng, gap=gap, edge_fraction=config.edge_margin_fraction, allowed=allowed
    )
    rotations = random_rotations(len(names), rng)
    placed = ~np.isnan(centres[:, 0])
    is_fiducial = names == _FIDUCIAL
    _warn_unplaced(names, placed)

    particles = np.flatnonzero(placed & ~is_fiducial)
    # truth rows follow the config's class order, then placement order
    order = {name: k for k, name in enumerate(config.particle_classes)}
    particles = particles[np.argsort([order[names[i]] for i in particles], kind="stable")]
    labels = np.zeros(config.shape_zyx, dtype=np.min_scalar_type(max(len(particles), 1)))
    for row, i in enumerate(particles):
        render_object(
            density,
            labels,
            centres[i],
            kind=CATALOGUE[names[i]].kind,
            radius_voxels=radii[i],
            rotation=rotations[i],
            amplitude=1.0,
            label=row + 1,
        )
    fiducials = centres[placed & is_fiducial]
    volume = _image(density, distractor_mask, fiducials, config, np.random.default_rng(noise_seed))
    logger.debug(
        "simulated %s voxels: %d particles (%.1f%% of the volume), %d fiducials, membrane %s",
        "x".join(map(str, config.shape_zyx)),
        len(particles),
        100 * np.count_nonzero(labels) / labels.size,
        len(fiducials),
        config.membrane,
    )
    truth = pd.DataFrame(
        {
            "x": centres[particles, 2],
            "y": centres[particles, 1],
            "z": centres[particles, 0],
            "class": pd.Series(names[particles], dtype=object),
            "radius_angstrom": [CATALOGUE[names[i]].radius_angstrom for i in particles],
            "radius_voxels": radii[particles],
        },
        columns=list(TRUTH_COLUMNS),
    )
    return SyntheticTomogram(
        volume=volume,
        truth=truth,
        voxel_size_angstrom=voxel,
        config=config,
        labels=labels,
        distractor_mask=distractor_mask,
        fiducials_zyx=fiducials,
    )


def _image(
    density: np.ndarray,
    distractor_mask: np.ndarray,
    fiducials_zyx: np.ndarray,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add the fiducials, filter, add noise, set the sign and z-score; consumes ``density``.

    The noise is scaled to the filtered particles and membrane only (the gold's tenfold contrast
    would otherwise set it), so the fiducials join the spectrum after it has been measured.
    """
    radius = FIDUCIAL_RADIUS_ANGSTROM / config.voxel_size_angstrom
    if needs_fourier(config):
        spectrum = spectrum_of(density)
        noise_std = config.noise * filtered_std(spectrum, config.shape_zyx, config)
        if len(fiducials_zyx):
            density.fill(0)
            _add_fiducials(density, distractor_mask, fiducials_zyx, radius_voxels=radius)
            spectrum += spectrum_of(density)
        del density
        volume = filter_and_add_noise(spectrum, config.shape_zyx, config, rng, noise_std=noise_std)
    else:
        _add_fiducials(density, distractor_mask, fiducials_zyx, radius_voxels=radius)
        volume = density
    if config.protein_dark:
        np.negative(volume, out=volume)
    return normalise(volume)


def _objects(config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Names and radii (voxels) of every object to place, largest first."""
    names = [_FIDUCIAL] * config.n_fiducials
    for name, count in config.class_counts().items():
        names += [name] * count
    radii_angstrom = [FIDUCIAL_RADIUS_ANGSTROM if n == _FIDUCIAL else CATALOGUE[n].radius_angstrom for n in names]
    order = np.argsort(-np.asarray(radii_angstrom, dtype=np.float64), kind="stable")
    radii = np.asarray(radii_angstrom, dtype=np.float64)[order] / config.voxel_size_angstrom
    return np.asarray(names, dtype=object)[order], radii


def _add_fiducials(density: np.ndarray, mask: np.ndarray, centres_zyx: np.ndarray, *, radius_voxels: float) -> None:
    """Render gold beads (solid balls of ``FIDUCIAL_AMPLITUDE``) into ``density`` and ``mask``."""
    for centre in centres_zyx:
        render_object(
            density,
            mask,
            centre,
            kind="ball",
            radius_voxels=radius_voxels,
            rotation=np.eye(3),
            amplitude=FIDUCIAL_AMPLITUDE,
            label=True,
        )


def _add_membrane(
    density: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    voxel_size_angstrom: float,
    gap: float,
) -> Callable[[np.ndarray, float], np.ndarray]:
    """Render one curved membrane sheet and return the placement exclusion it imposes.

    The sheet is a 40 Å shell of a sphere 1-2 times the volume's largest edge in radius, passing
    through a random point of the central half of the volume with a random normal.
    """
    shape = np.asarray(density.shape, dtype=np.float64)
    radius = rng.uniform(1.0, 2.0) * shape.max()
    through = rng.uniform(0.25, 0.75, size=3) * (shape - 1)
    normal = rng.standard_normal(3)
    centre = through - radius * normal / np.linalg.norm(normal)
    thickness = MEMBRANE_THICKNESS_ANGSTROM / voxel_size_angstrom
    render_shell(
        density,
        mask,
        centre,
        radius_voxels=radius,
        thickness_voxels=thickness,
        amplitude=MEMBRANE_AMPLITUDE,
        label=True,
    )

    def allowed(candidates: np.ndarray, object_radius: float) -> np.ndarray:
        distance = np.abs(np.linalg.norm(candidates - centre, axis=1) - radius)
        return distance >= object_radius + thickness / 2 + gap

    return allowed


def _warn_unplaced(names: np.ndarray, placed: np.ndarray) -> None:
    """Log one warning listing the objects that found no room."""
    if placed.all():
        return
    missing = pd.Series(names[~placed]).value_counts()
    logger.warning(
        "the volume is too crowded: %d of %d objects were not placed (%s); "
        "ask for fewer particles, a smaller separation or a larger volume",
        int((~placed).sum()),
        len(names),
        ", ".join(f"{count} {name}" for name, count in missing.items()),
    )
