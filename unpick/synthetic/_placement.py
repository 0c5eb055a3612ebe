"""Random non-overlapping placement of spheres by rejection sampling on a uniform grid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BATCH = 32  # candidate centres drawn per attempt
MAX_ATTEMPTS = 40  # attempts per object before it is given up


class _Grid:
    """Placed centres bucketed in cubic cells at least as wide as any conflict distance."""

    def __init__(self, cell: float) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int, int], list[int]] = {}
        self.centres: list[np.ndarray] = []
        self.radii: list[float] = []

    def add(self, centre: np.ndarray, radius: float) -> None:
        key = tuple(int(v) for v in np.floor(centre / self.cell))
        self.buckets.setdefault(key, []).append(len(self.centres))  # type: ignore[arg-type]
        self.centres.append(centre)
        self.radii.append(radius)

    def free(self, candidate: np.ndarray, radius: float, gap: float) -> bool:
        """Whether a ``(3,)`` candidate keeps ``r_i + radius + gap`` from every placed centre."""
        key = np.floor(candidate / self.cell).astype(int)
        near = [
            i
            for dz in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            for i in self.buckets.get((key[0] + dz, key[1] + dy, key[2] + dx), ())
        ]
        if not near:
            return True
        centres = np.asarray([self.centres[i] for i in near])
        limits = np.asarray([self.radii[i] for i in near]) + radius + gap
        return bool(np.all(np.sum((centres - candidate) ** 2, axis=1) >= limits**2))


def place_spheres(
    radii: np.ndarray,
    shape_zyx: tuple[int, int, int],
    rng: np.random.Generator,
    *,
    gap: float,
    edge_fraction: float,
    allowed: Callable[[np.ndarray, float], np.ndarray] | None = None,
) -> np.ndarray:
    """Place spheres at random so that none overlap, in the order given.

    Parameters
    ----------
    radii : np.ndarray
        ``(N,)`` radii in voxels; place the largest first for the densest packing.
    shape_zyx : tuple of int
        Volume shape.
    rng : np.random.Generator
        Source of candidate centres.
    gap : float
        Voxels kept between any two spheres: ``|c_i - c_j| >= r_i + r_j + gap``.
    edge_fraction : float
        Each centre stays at least ``edge_fraction * r`` from the outer voxel centres on every axis.
    allowed : callable, optional
        ``allowed(candidates (K, 3), radius) -> (K,) bool`` for extra exclusions (a membrane).

    Returns
    -------
    np.ndarray
        ``(N, 3)`` float64 zyx centres in voxels; NaN rows for spheres that found no room after
        ``MAX_ATTEMPTS * BATCH`` candidates. Once a radius fails, larger or equal radii are not tried.
    """
    radii = np.asarray(radii, dtype=np.float64)
    centres = np.full((len(radii), 3), np.nan)
    if len(radii) == 0:
        return centres
    grid = _Grid(cell=2 * float(radii.max()) + gap)
    upper = np.asarray(shape_zyx, dtype=np.float64) - 1
    failed_at = np.inf
    for i, radius in enumerate(radii):
        if radius >= failed_at:
            continue
        low = np.minimum(edge_fraction * radius, upper / 2)
        for _ in range(MAX_ATTEMPTS):
            candidates = rng.uniform(low, upper - low, size=(BATCH, 3))
            if allowed is not None:
                candidates = candidates[allowed(candidates, radius)]
            hit = next((c for c in candidates if grid.free(c, radius, gap)), None)
            if hit is not None:
                centres[i] = hit
                grid.add(hit, radius)
                break
        else:
            failed_at = radius
    return centres
