"""Gold fiducials: found from extreme density, excluded from picking, kept on request."""

from __future__ import annotations

import numpy as np
import pytest

from unpick._shared import UnpickInputError, picks_zyx
from unpick.features import (
    FIDUCIAL_BLUR,
    Fiducials,
    PreprocessConfig,
    blur_tomogram,
    exclude_fiducials,
    find_fiducials,
)
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import DEFAULT_WORKFLOW, PickConfig, pick_tomogram


def simulated(n_fiducials: int, noise: float = 1.0):
    return simulate_tomogram(
        SimulationConfig(shape_zyx=(64, 128, 128), n_particles=40, noise=noise, seed=3, n_fiducials=n_fiducials)
    )


@pytest.mark.parametrize("noise", [0.5, 1.5])
def test_every_bead_is_found_and_particles_are_not(noise):
    sim = simulated(3, noise)
    found = find_fiducials(sim.volume, rng=0)
    for bead in sim.fiducials_zyx:
        assert np.linalg.norm(found.centres_zyx - bead, axis=1).min() < 5.0  # within one bead radius (50 Å)
    truth = sim.truth[["z", "y", "x"]].to_numpy()
    # nothing found sits on a particle (only beads and their wrapped-around halo)
    assert np.linalg.norm(found.centres_zyx[:, None] - truth[None], axis=2).min() > 3
    assert len(find_fiducials(simulated(0, noise).volume, rng=0)) == 0


def test_preprocessing_blur_read_instead_of_blurring_again_finds_the_same_beads():
    sim = simulated(3)
    assert PreprocessConfig().blur_sigma == FIDUCIAL_BLUR  # what the picking run shares
    blurred = blur_tomogram(sim.volume)
    shared = find_fiducials(sim.volume, rng=0, blurred=blurred)
    alone = find_fiducials(sim.volume, rng=0)
    assert len(alone) >= 3
    np.testing.assert_array_equal(shared.centres_zyx, alone.centres_zyx)
    np.testing.assert_array_equal(shared.radii_voxels, alone.radii_voxels)
    with pytest.raises(UnpickInputError, match="blurred: expected the shape"):
        find_fiducials(sim.volume, blurred=blurred[1:])


def test_exclusion_clears_an_ellipsoid_stretched_along_z():
    levels = np.full((40, 40, 40), 9, np.uint8)
    beads = Fiducials(centres_zyx=np.array([[20.0, 20.0, 20.0]]), radii_voxels=np.array([2.0]))
    cleared = exclude_fiducials(levels, beads)
    assert cleared == np.count_nonzero(levels == 0)
    assert levels[20, 20, 20] == 0 and levels[20 + 11, 20, 20] == 0 and levels[20, 20 + 5, 20] == 0
    assert levels[20, 20 + 7, 20] == 9 and levels[20 + 13, 20, 20] == 9


def test_no_pick_near_a_bead_unless_kept():
    sim = simulated(3)
    config = PickConfig().with_particle_radius(60.0)
    beads = sim.fiducials_zyx
    bead_radius = 5.0  # voxels: 50 Å beads at 10 Å
    excluded = pick_tomogram(sim.volume, voxel_size_angstrom=10.0, config=config)
    picks = picks_zyx(excluded.picks[DEFAULT_WORKFLOW])
    assert len(picks) >= 20
    assert np.linalg.norm(picks[:, None] - beads[None], axis=2).min() > 2 * bead_radius
    assert excluded.record["fiducials"]["n_fiducials"] >= 3
    kept = pick_tomogram(sim.volume, voxel_size_angstrom=10.0, config=config.replace(exclude_fiducials=False))
    assert kept.record["fiducials"] is None
    near = np.linalg.norm(picks_zyx(kept.picks[DEFAULT_WORKFLOW])[:, None] - beads[None], axis=2).min()
    assert near <= 2 * bead_radius


def test_cli_switches_keep_fiducials_empty_slabs_and_membranes(tmp_path):
    import json

    from unpick.cli import main
    from unpick.io import write_mrc

    sim = simulated(2)
    path = tmp_path / "TS_01.mrc"
    write_mrc(path, sim.volume, voxel_size_angstrom=10.0)
    base = ["-q", "pick", str(path), "--particle-radius", "60", "--no-report", "--no-masks"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    excluded = json.loads((tmp_path / "a" / "TS_01" / "job.json").read_text())
    assert excluded["fiducials"]["n_fiducials"] >= 2 and excluded["specimen_slab"]["z_range"] == [0, 64]
    assert 0 < excluded["membranes"]["voxel_share"] < 0.5  # the simulator's membrane
    keep = ["--keep-fiducials", "--keep-empty-slabs", "--keep-membranes"]
    assert main([*base, "--out", str(tmp_path / "b"), *keep]) == 0
    kept = json.loads((tmp_path / "b" / "TS_01" / "job.json").read_text())
    assert kept["fiducials"] is None and kept["specimen_slab"] is None and kept["membranes"] is None
    assert not any(kept["config"][f"exclude_{name}"] for name in ("fiducials", "empty_slabs", "membranes"))


def test_a_deep_score_map_is_cleared_on_beads_and_outside_the_specimen_slab():
    from unpick.deep import clear_contaminants

    sim = simulated(3)
    rng = np.random.default_rng(0)
    ice = [0.1 * float(sim.volume.std()) * rng.standard_normal((30, 128, 128)) for _ in range(2)]
    volume = np.concatenate([ice[0], sim.volume, ice[1]]).astype(np.float32)  # empty ice above and below
    score_map = np.ones(volume.shape, np.float32)
    record = clear_contaminants(volume, score_map, radius_voxels=6.0)
    z0, z1 = record["specimen_slab"]
    assert 28 <= z0 <= 32 and 92 <= z1 <= 96 and not score_map[:z0].any() and not score_map[z1:].any()
    for bead in sim.fiducials_zyx:
        assert score_map[tuple(np.round(bead + [30, 0, 0]).astype(int))] == 0
    assert record["fiducials"]["n_fiducials"] >= 3 and score_map[z0:z1].mean() > 0.8  # beads (and halo pieces)
    kept = np.ones(volume.shape, np.float32)
    assert clear_contaminants(volume, kept, radius_voxels=6.0, fiducials=False, empty_slabs=False) == {}
    assert kept.all()


def sparse_dense_particles(n_particles: int, beads_zyx: list[tuple[int, int, int]]) -> np.ndarray:
    """Noise, ``n_particles`` dense 2-voxel spheres (30 noise SD: protein in a sparse, low-noise
    volume passes the gold cutoff) and beads ten times denser: particles under 1 % of the voxels."""
    rng = np.random.default_rng(5)
    volume = rng.normal(size=(64, 160, 160)).astype(np.float32)
    grid = np.indices((5, 5, 5)) - 2
    ball = (grid**2).sum(axis=0) <= 4
    centres = rng.integers(4, np.array(volume.shape) - 4, size=(n_particles, 3))
    for density, where in [(-30.0, centres), (-300.0, np.asarray(beads_zyx).reshape(-1, 3))]:
        for z, y, x in where:
            volume[z - 2 : z + 3, y - 2 : y + 3, x - 2 : x + 3][ball] = density
    return volume


def test_an_implausible_number_of_beads_is_a_warning(caplog, monkeypatch):
    """Over a hundred components above a step in density are more likely dense particles than
    fiducials: the exclusion still follows the rule, but the log says it is doubtful and how to
    keep them."""
    import unpick.workflows._contaminants as contaminants

    centres = np.random.default_rng(4).uniform(4, 36, size=(150, 3))
    monkeypatch.setattr(contaminants, "find_fiducials", lambda volume, rng, blurred: Fiducials(centres, np.full(150, 1.5)))
    volume = np.random.default_rng(4).normal(size=(40, 160, 160)).astype(np.float32)
    with caplog.at_level("WARNING"):
        pick_tomogram(volume, voxel_size_angstrom=10.0, config=PickConfig().with_particle_radius(30.0))
    assert any("more than the 100 a tomogram plausibly holds" in r.getMessage() and "--keep-fiducials" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")


def test_many_dense_particles_are_not_gold_only_the_beads_above_the_density_step_are(caplog):
    beads = [(20, 40, 40), (44, 120, 100)]
    found = find_fiducials(sparse_dense_particles(300, beads), rng=0)
    assert len(found) == 2  # 300 particles pass the cutoff too, ten times less dense than the beads
    np.testing.assert_allclose(np.sort(found.centres_zyx, axis=0), np.sort(np.array(beads, float), axis=0), atol=0.5)
    with caplog.at_level("WARNING", logger="unpick"):
        assert len(find_fiducials(sparse_dense_particles(300, []), rng=0)) == 0  # no step: no gold at all
    assert "dense particles, not gold; none excluded" in caplog.text
