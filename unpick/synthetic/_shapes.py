"""The built-in catalogue of particle classes and the sub-voxel renderer of their densities.

Every shape is defined in its own body frame by a signed distance ``d`` (voxels, negative inside)
and rendered as ``clip(0.5 - d, 0, 1)``: a one-voxel linear ramp across the surface that
approximates the fraction of each voxel covered, so a particle at a sub-voxel centre keeps its
centre of mass there. Every shape is point-symmetric about its centre, so its density-weighted
centroid is the truth position at any orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("textured-ball", "ball", "barrel", "ellipsoid", "torus")


@dataclass(frozen=True)
class ParticleClass:
    """One entry of the catalogue.

    Attributes
    ----------
    name : str
        Class name used in configs and in the truth table's ``class`` column.
    kind : str
        Shape kind, one of ``KINDS``.
    radius_angstrom : float
        Bounding radius in Å: every voxel of the particle lies within it of the centre. Used for
        non-overlap and reported in the truth table.
    description : str
        What the class stands for.
    """

    name: str
    kind: str
    radius_angstrom: float
    description: str


CATALOGUE: dict[str, ParticleClass] = {
    c.name: c
    for c in (
        ParticleClass("large-solid", "textured-ball", 100.0, "ribosome-like solid ball with internal texture"),
        ParticleClass("medium-hollow", "barrel", 75.0, "proteasome-like open barrel; its centre is empty"),
        ParticleClass("elongated", "ellipsoid", 60.0, "rod-like ellipsoid, semi-axes 60 x 27 x 27 Å"),
        ParticleClass("small-solid", "ball", 45.0, "small solid ball"),
        ParticleClass("ring", "torus", 60.0, "flat ring (torus); its centre is empty"),
    )
}

FIDUCIAL_RADIUS_ANGSTROM = 50.0  # gold bead
FIDUCIAL_AMPLITUDE = 10.0  # gold scatters an order of magnitude more than protein
MEMBRANE_THICKNESS_ANGSTROM = 40.0  # lipid bilayer
MEMBRANE_AMPLITUDE = 1.0  # same as protein

# Shape proportions, as fractions of the bounding radius R.
_BARREL_HALF_LENGTH, _BARREL_OUTER, _BARREL_INNER = 0.75, 0.66, 0.3
_ELLIPSOID_SHORT = 0.45
_TORUS_MAJOR, _TORUS_TUBE = 0.68, 0.3
_TEXTURE_DEPTH, _TEXTURE_PERIOD = 0.3, 0.8


def _signed_distance(kind: str, bz: np.ndarray, by: np.ndarray, bx: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance (voxels, < 0 inside) of body-frame points to a shape of bounding ``radius``.

    The body's symmetry axis (barrel, ellipsoid long axis, torus axis) is ``bz``. Distances are
    exact for balls and tori and close approximations elsewhere (exact on the surface).
    """
    if kind in ("ball", "textured-ball"):
        return np.sqrt(bz * bz + by * by + bx * bx) - radius
    if kind == "barrel":
        rho = np.sqrt(by * by + bx * bx)
        wall = np.maximum(rho - _BARREL_OUTER * radius, _BARREL_INNER * radius - rho)
        return np.maximum(wall, np.abs(bz) - _BARREL_HALF_LENGTH * radius)
    if kind == "ellipsoid":
        axes = (radius, _ELLIPSOID_SHORT * radius, _ELLIPSOID_SHORT * radius)
        k0 = np.sqrt((bz / axes[0]) ** 2 + (by / axes[1]) ** 2 + (bx / axes[2]) ** 2)
        k1 = np.sqrt((bz / axes[0] ** 2) ** 2 + (by / axes[1] ** 2) ** 2 + (bx / axes[2] ** 2) ** 2)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)
    if kind == "torus":
        ring = np.sqrt(by * by + bx * bx) - _TORUS_MAJOR * radius
        return np.sqrt(ring * ring + bz * bz) - _TORUS_TUBE * radius
    raise ValueError(f"unknown shape kind {kind!r}")


def _density(kind: str, bz: np.ndarray, by: np.ndarray, bx: np.ndarray, radius: float) -> np.ndarray:
    """Density in [0, 1] (float32) of a shape at body-frame points (voxels)."""
    density = np.clip(0.5 - _signed_distance(kind, bz, by, bx, radius), 0.0, 1.0)
    if kind == "textured-ball":
        # an even texture (product of cosines) varies the interior but keeps the centroid
        k = 2.0 * np.pi / (_TEXTURE_PERIOD * radius)
        density = density * (1.0 + _TEXTURE_DEPTH * np.cos(k * bz) * np.cos(k * by) * np.cos(k * bx))
    return density.astype(np.float32, copy=False)


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3, 3)`` rotation matrices drawn uniformly (normalised Gaussian quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, a, b, c = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)], axis=-1),
            np.stack([2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)], axis=-1),
            np.stack([2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], axis=-1),
        ],
        axis=1,
    )


def render_object(
    density: np.ndarray,
    labels: np.ndarray | None,
    centre_zyx: np.ndarray,
    *,
    kind: str,
    radius_voxels: float,
    rotation: np.ndarray,
    amplitude: float,
    label: int = 0,
) -> None:
    """Add one object's density to ``density`` in place, inside its own bounding box only.

    Parameters
    ----------
    density : np.ndarray
        ``(Z, Y, X)`` float32 volume, modified in place.
    labels : np.ndarray or None
        ``(Z, Y, X)`` integer volume; voxels where this object's density is >= 0.5 get ``label``.
    centre_zyx : np.ndarray
        ``(3,)`` float centre in voxels (sub-voxel allowed; may lie near a face).
    kind : str
        Shape kind from ``KINDS``.
    radius_voxels : float
        Bounding radius in voxels.
    rotation : np.ndarray
        ``(3, 3)`` body-to-volume rotation acting on zyx vectors.
    amplitude : float
        Peak density (1 for protein).
    label : int
        Instance label written into ``labels``.
    """
    lo = np.maximum(np.floor(centre_zyx - radius_voxels - 1).astype(int), 0)
    hi = np.minimum(np.ceil(centre_zyx + radius_voxels + 2).astype(int), density.shape)
    if np.any(hi <= lo):
        return
    z = (np.arange(lo[0], hi[0]) - centre_zyx[0])[:, None, None]
    y = (np.arange(lo[1], hi[1]) - centre_zyx[1])[None, :, None]
    x = (np.arange(lo[2], hi[2]) - centre_zyx[2])[None, None, :]
    # body coordinates = rotation^T @ (z, y, x)
    bz, by, bx = (rotation[0, i] * z + rotation[1, i] * y + rotation[2, i] * x for i in range(3))
    local = _density(kind, bz, by, bx, radius_voxels)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    density[box] += amplitude * local
    if labels is not None:
        labels[box][local >= 0.5] = label


def render_shell(
    density: np.ndarray,
    labels: np.ndarray | None,
    centre_zyx: np.ndarray,
    *,
    radius_voxels: float,
    thickness_voxels: float,
    amplitude: float,
    label: int = 0,
    slab: int = 16,
) -> None:
    """Add a spherical shell (a membrane: a vesicle, or a gently curved sheet when the sphere is
    larger than the volume) to ``density`` in place, ``slab`` z-slices at a time.

    ``centre_zyx`` and ``radius_voxels`` may lie far outside the volume.
    """
    # float32 is ample: radii of ~1000 voxels keep distances to ~1e-4 voxel
    y = (np.arange(density.shape[1]) - centre_zyx[1])[:, None] ** 2
    x = (np.arange(density.shape[2]) - centre_zyx[2])[None, :] ** 2
    yx = (y + x).astype(np.float32)
    for z0 in range(0, density.shape[0], slab):
        z = ((np.arange(z0, min(z0 + slab, density.shape[0])) - centre_zyx[0]) ** 2).astype(np.float32)
        distance = np.sqrt(z[:, None, None] + yx)
        distance -= np.float32(radius_voxels)
        np.abs(distance, out=distance)
        local = np.clip(np.float32(thickness_voxels / 2 + 0.5) - distance, 0.0, 1.0)
        density[z0 : z0 + slab] += amplitude * local
        if labels is not None:
            labels[z0 : z0 + slab][local >= 0.5] = label
