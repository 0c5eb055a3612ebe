"""Training patches: positive-centred and uniform crops, with flips and 90-degree z rotations.

NumPy only: batches are moved to torch by the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._shared import UnpickInputError
from ._targets import IGNORE


def crop_patch(array: np.ndarray, corner_zyx: np.ndarray, size: int, *, fill: float) -> np.ndarray:
    """The ``size``-cube of ``array`` starting at ``corner_zyx``; voxels outside are ``fill``."""
    out = np.full((size, size, size), fill, dtype=array.dtype)
    corner = np.asarray(corner_zyx, dtype=int)
    lo = np.maximum(corner, 0)
    hi = np.minimum(corner + size, array.shape)
    if np.any(hi <= lo):
        return out
    dst = tuple(slice(a - c, b - c) for a, b, c in zip(lo, hi, corner))
    out[dst] = array[tuple(slice(a, b) for a, b in zip(lo, hi))]
    return out


def augment_patch(rng: np.random.Generator, *arrays: np.ndarray) -> list[np.ndarray]:
    """Apply one random flip of each axis and one rotation by k x 90 degrees about z to all arrays.

    The same transform is applied to every array (image, labels, weights); the rotation acts
    in the (Y, X) plane, so patches must be square there. Flipping z keeps a missing wedge
    along z a missing wedge along z.
    """
    flips = [axis for axis in range(3) if rng.random() < 0.5]
    turns = int(rng.integers(4))
    out = []
    for array in arrays:
        if flips:
            array = np.flip(array, axis=flips)
        out.append(np.ascontiguousarray(np.rot90(array, k=turns, axes=(1, 2))))
    return out


@dataclass
class PatchSampler:
    """Draws batches of (image, labels, weights) cubes from several tomograms.

    A fraction ``positive_fraction`` of each batch is centred on a random pseudo-positive
    pick (shifted by up to a quarter patch so picks are not always in the middle); the rest
    are uniform over all tomograms (each chosen in proportion to its size). Outside the
    volume, image voxels are 0 and labels are 'ignore'.
    """

    images: list[np.ndarray]
    labels: list[np.ndarray]
    weights: list[np.ndarray]
    picks_zyx: list[np.ndarray]
    patch_size: int
    positive_fraction: float = 0.5
    augment: bool = True

    def __post_init__(self) -> None:
        n = len(self.images)
        if not n or len(self.labels) != n or len(self.weights) != n or len(self.picks_zyx) != n:
            raise UnpickInputError(
                f"PatchSampler: expected as many label, weight and pick arrays as images ({n}), got "
                f"{len(self.labels)}, {len(self.weights)}, {len(self.picks_zyx)}"
            )
        sizes = np.array([img.size for img in self.images], dtype=np.float64)
        self._volume_p = sizes / sizes.sum()
        self._pick_owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(self.picks_zyx)]).astype(int)
        self._all_picks = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in self.picks_zyx])

    def _corner(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        size = self.patch_size
        if len(self._all_picks) and rng.random() < self.positive_fraction:
            k = int(rng.integers(len(self._all_picks)))
            jitter = rng.integers(-(size // 4), size // 4 + 1, size=3)
            return int(self._pick_owner[k]), np.round(self._all_picks[k]).astype(int) - size // 2 + jitter
        index = int(rng.choice(len(self.images), p=self._volume_p))
        shape = np.array(self.images[index].shape)
        return index, np.array([int(rng.integers(min(0, n - size), max(0, n - size) + 1)) for n in shape])

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch: images float32, labels int8 and weights float32, each (B, 1, P, P, P)."""
        size = self.patch_size
        batch = ([], [], [])
        for _ in range(batch_size):
            index, corner = self._corner(rng)
            patch = [
                crop_patch(self.images[index], corner, size, fill=0.0),
                crop_patch(self.labels[index], corner, size, fill=IGNORE),
                crop_patch(self.weights[index], corner, size, fill=0.0),
            ]
            if self.augment:
                patch = augment_patch(rng, *patch)
            for store, array in zip(batch, patch):
                store.append(array[None])
        return tuple(np.stack(store) for store in batch)  # type: ignore[return-value]
