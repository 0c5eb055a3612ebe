"""Membranes: found as sheet-like structure, cleared from particle masks, particles on them kept."""

from __future__ import annotations

import numpy as np
import pytest

from unpick._shared import picks_zyx
from unpick.features import exclude_membranes, find_membranes
from unpick.features._membranes import _largest_eigenvalues
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import PickConfig, pick_tomogram


def full_mask(membranes, depth: int) -> np.ndarray:
    return np.stack([membranes.slab_mask(z) for z in range(depth)])


@pytest.mark.parametrize("noise", [0.5, 1.5])
def test_the_membrane_is_found_and_particles_are_not(noise):
    sim = simulate_tomogram(
        SimulationConfig(shape_zyx=(48, 128, 128), n_particles=30, noise=noise, n_fiducials=0, seed=2)
    )
    assert sim.distractor_mask.any()  # the simulator's membrane
    found = full_mask(find_membranes(sim.volume, radius_voxels=6.0), sim.volume.shape[0])
    assert found[sim.distractor_mask].mean() > 0.9
    assert found[sim.particle_mask].mean() < 0.05


def test_without_a_membrane_almost_nothing_is_cleared_from_particles():
    sim = simulate_tomogram(
        SimulationConfig(shape_zyx=(48, 128, 128), n_particles=40, membrane=False, n_fiducials=0, seed=4)
    )
    found = full_mask(find_membranes(sim.volume, radius_voxels=6.0), sim.volume.shape[0])
    assert found[sim.particle_mask].mean() < 0.03


def test_binned_in_two_steps_with_bounded_chunk_memory_finds_the_same_membranes(monkeypatch):
    """The picking run bins the tomogram itself (its last read of the input) and finds the
    membranes in the binned volume on a background thread, whose chunks are bounded in memory:
    one thread or two, and small chunks, give the mask ``find_membranes`` gives."""
    import unpick.features._membranes as membranes_module
    from unpick.features import bin_for_membranes, membranes_in_binned

    sim = simulate_tomogram(SimulationConfig(shape_zyx=(48, 128, 128), n_particles=30, n_fiducials=0, seed=2))
    whole = find_membranes(sim.volume, radius_voxels=6.0)
    binned, binning = bin_for_membranes(sim.volume, radius_voxels=6.0)
    assert binning == 2 and binned.shape == (24, 64, 64)
    monkeypatch.setattr(membranes_module, "CHUNK_SLICES", 5)  # five chunks, each with its halo
    threads = []
    monkeypatch.setattr(membranes_module, "thread_map", lambda f, items, max_threads: (
        threads.append(max_threads), [f(i) for i in items]))  # fmt: skip
    for chunk_bytes in (1.0, 1e12):  # one chunk at a time (less than one fits), or two
        found = membranes_in_binned(binned, binning=binning, shape_zyx=sim.volume.shape, radius_voxels=6.0,
                                    chunk_bytes=chunk_bytes)  # fmt: skip
        np.testing.assert_array_equal(found.binned_mask, whole.binned_mask)
    assert threads == [1, 2]


def test_closed_form_eigenvalues_match_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3, 3))
    matrices = (a @ a.transpose(0, 2, 1)).astype(np.float32)
    matrices[0] = np.eye(3)  # a degenerate (isotropic) tensor
    fields = {(i, j): matrices[:, i, j] for i in range(3) for j in range(i, 3)}
    largest, middle = _largest_eigenvalues(fields)
    expected = np.linalg.eigvalsh(matrices.astype(np.float64))
    np.testing.assert_allclose(largest, expected[:, 2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(middle, expected[:, 1], rtol=1e-4, atol=1e-4)


def sheet_with_particles():
    """A dark 4-voxel sheet across the volume with six balls sitting on it and six free ones."""
    rng = np.random.default_rng(5)
    shape = (48, 96, 96)
    z, y, x = np.indices(shape)
    density = (np.abs(x - 48) < 2).astype(np.float32)
    centres = [(24, yy, 48 + side * 7) for yy in (16, 48, 80) for side in (-1, 1)]
    centres += [(24, yy, xx) for yy in (20, 70) for xx in (14, 84)] + [(12, 48, 20), (36, 48, 76)]
    for c in centres:
        density[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 25] = 1.0
    volume = -density + 0.3 * rng.normal(size=shape).astype(np.float32)
    return volume, np.array(centres, dtype=float)


def test_particles_on_a_membrane_are_split_from_it_and_the_sheet_is_not_picked():
    volume, centres = sheet_with_particles()
    config = PickConfig().with_particle_radius(50.0)
    picks = picks_zyx(pick_tomogram(volume, voxel_size_angstrom=10.0, workflows="intensities-gmm-cc", config=config).picks[
        "intensities-gmm-cc"
    ])
    distance = np.linalg.norm(picks[:, None] - centres[None], axis=2)
    assert (distance.min(axis=0) < 3).all()  # every ball, those on the sheet too
    assert (distance.min(axis=1) < 3).all()  # no pick on the bare sheet
    kept = pick_tomogram(
        volume, voxel_size_angstrom=10.0, workflows="intensities-gmm-cc", config=config.replace(exclude_membranes=False)
    )
    assert kept.record["membranes"] is None


def test_exclusion_clears_only_membrane_voxels_and_is_recorded():
    volume, _ = sheet_with_particles()
    membranes = find_membranes(volume, radius_voxels=5.0)
    levels = np.full(volume.shape, 7, np.uint8)
    cleared = exclude_membranes(levels, membranes)
    assert cleared == np.count_nonzero(levels == 0) > 0
    assert levels[24, 30, 48] == 0 and levels[24, 20, 14] == 7  # the bare sheet; a free ball's centre
    record = membranes.to_record()
    assert record["binning"] == 1 and 0 < record["voxel_share"] < 0.5
    with pytest.raises(ValueError, match="do not match"):
        exclude_membranes(np.zeros((4, 4, 4), np.uint8), membranes)
