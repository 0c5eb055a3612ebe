"""Tests of the tomogram simulator: geometry, imaging model, determinism and config checks."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform

from unpick._shared import UnpickInputError
from unpick.synthetic import CATALOGUE, TRUTH_COLUMNS, SimulationConfig, simulate_tomogram
from unpick.synthetic._placement import place_spheres

SMALL = {"shape_zyx": (32, 64, 64), "n_particles": 12, "seed": 3}
# noise-free, unfiltered, no distractors: the image is the density itself (z-scored)
CLEAN = {
    "noise": 0.0,
    "missing_wedge_degrees": None,
    "bandpass_angstrom": None,
    "membrane": False,
    "n_fiducials": 0,
    "protein_dark": False,
}
# analytic volumes in voxels at 10 Å/voxel, from the shape proportions in the catalogue docs
EXPECTED_VOXELS = {
    "large-solid": 4 / 3 * math.pi * 10**3,
    "medium-hollow": math.pi * ((0.66 * 7.5) ** 2 - (0.3 * 7.5) ** 2) * 2 * 0.75 * 7.5,
    "elongated": 4 / 3 * math.pi * 6 * 2.7 * 2.7,
    "small-solid": 4 / 3 * math.pi * 4.5**3,
    "ring": 2 * math.pi**2 * (0.68 * 6) * (0.3 * 6) ** 2,
}


@pytest.fixture(scope="module")
def clean():
    """Whole, well-separated particles of every class, no noise or filtering."""
    config = SimulationConfig(
        shape_zyx=(48, 80, 80), n_particles=20, edge_margin_fraction=1.0, min_separation_angstrom=30.0, seed=1, **CLEAN
    )
    return simulate_tomogram(config)


def test_same_seed_is_bit_identical_and_other_seed_differs():
    a = simulate_tomogram(SimulationConfig(**SMALL))
    b = simulate_tomogram(SimulationConfig(**SMALL))
    c = simulate_tomogram(SimulationConfig(**{**SMALL, "seed": 4}))
    assert a.volume.dtype == np.float32 and a.volume.shape == (32, 64, 64)
    np.testing.assert_array_equal(a.volume, b.volume)
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not np.array_equal(a.truth[["x", "y", "z"]].to_numpy(), c.truth[["x", "y", "z"]].to_numpy())
    assert np.abs(a.volume - c.volume).mean() > 0.1


def test_volume_is_z_scored():
    tomo = simulate_tomogram(SimulationConfig(**SMALL))
    assert abs(float(tomo.volume.mean(dtype=np.float64))) < 1e-5
    assert float(tomo.volume.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("classes", "n", "expected"),
    [
        (("large-solid", "ring"), 7, {"large-solid": 4, "ring": 3}),
        (("small-solid",), 5, {"small-solid": 5}),
        (tuple(CATALOGUE), 10, dict.fromkeys(CATALOGUE, 2)),
    ],
)
def test_counts_and_classes_as_requested(classes, n, expected):
    tomo = simulate_tomogram(SimulationConfig(shape_zyx=(40, 96, 96), particle_classes=classes, n_particles=n))
    assert list(tomo.truth.columns) == list(TRUTH_COLUMNS)
    assert tomo.truth["class"].value_counts().to_dict() == expected
    # rows follow the config's class order; radii come from the catalogue
    assert list(dict.fromkeys(tomo.truth["class"])) == [c for c in classes if expected[c]]
    radii = tomo.truth["class"].map(lambda c: CATALOGUE[c].radius_angstrom)
    np.testing.assert_array_equal(tomo.truth["radius_angstrom"], radii)
    np.testing.assert_allclose(tomo.truth["radius_voxels"], radii / 10.0)
    assert tomo.truth["x"].dtype == np.float64


def test_particles_and_fiducials_never_overlap():
    config = SimulationConfig(shape_zyx=(40, 80, 80), n_particles=80, n_fiducials=4, min_separation_angstrom=20.0)
    tomo = simulate_tomogram(config)
    assert len(tomo.truth) >= 30 and len(tomo.fiducials_zyx) == 4
    centres = np.vstack([tomo.truth[["z", "y", "x"]].to_numpy(), tomo.fiducials_zyx])
    radii = np.concatenate([tomo.truth["radius_voxels"].to_numpy(), np.full(4, 5.0)])
    distance = squareform(pdist(centres))
    needed = radii[:, None] + radii[None, :] + 2.0
    off_diagonal = ~np.eye(len(radii), dtype=bool)
    assert np.all(distance[off_diagonal] >= needed[off_diagonal] - 1e-9)
    # the noise-free supports are disjoint: particles, and particles vs membrane + gold
    assert set(np.unique(tomo.labels)) == set(range(len(tomo.truth) + 1))
    assert not np.any(tomo.particle_mask & tomo.distractor_mask)


@settings(max_examples=40, deadline=None)
@given(
    radii=st.lists(st.floats(1.0, 6.0), min_size=1, max_size=60),
    gap=st.floats(0.0, 3.0),
    edge=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_placement_never_overlaps_and_stays_inside(radii, gap, edge, seed):
    radii = np.sort(radii)[::-1]
    shape = (16, 24, 20)
    centres = place_spheres(radii, shape, np.random.default_rng(seed), gap=gap, edge_fraction=edge)
    placed = ~np.isnan(centres[:, 0])
    assert placed[0]  # the first sphere always fits (every radius is below half the smallest axis)
    pairs = ~np.eye(placed.sum(), dtype=bool)
    distance = squareform(pdist(centres[placed]))[pairs]
    needed = (radii[placed][:, None] + radii[placed][None, :] + gap)[pairs]
    assert np.all(distance >= needed - 1e-9)
    margin = np.minimum(edge * radii[placed][:, None], (np.array(shape) - 1) / 2)
    assert np.all(centres[placed] >= margin - 1e-9)
    assert np.all(centres[placed] <= np.array(shape) - 1 - margin + 1e-9)


def test_overcrowded_request_places_what_fits_and_warns(caplog):
    config = SimulationConfig(shape_zyx=(24, 48, 48), particle_classes=("small-solid",), n_particles=2000)
    with caplog.at_level(logging.WARNING, logger="unpick.synthetic"):
        tomo = simulate_tomogram(config)
    assert 20 < len(tomo.truth) < 2000
    assert "too crowded" in caplog.text and f"{2000 - len(tomo.truth)} of 2002 objects" in caplog.text
    assert tomo.occupancy > 0.1


def test_truth_is_the_density_centroid(clean):
    """With no noise or filtering, the density-weighted centroid near each truth point is that point."""
    density = clean.volume - clean.volume.min()  # background is exactly the minimum
    grid = np.indices(density.shape)
    assert len(clean.truth) == 20
    for row in clean.truth.itertuples():
        centre = np.array([row.z, row.y, row.x])
        ball = np.sum((grid - centre[:, None, None, None]) ** 2, axis=0) <= (row.radius_voxels + 1) ** 2
        weights = density[ball]
        centroid = (grid[:, ball] * weights).sum(axis=1) / weights.sum()
        assert np.abs(centroid - centre).max() < 0.05, row


def test_labels_match_shapes(clean):
    """Support sizes agree with the analytic volumes; hollow classes have an empty centre."""
    for k, row in enumerate(clean.truth.itertuples(), start=1):
        support = clean.labels == k
        assert support.sum() == pytest.approx(EXPECTED_VOXELS[row[4]], rel=0.06), row
        centre_label = clean.labels[round(row.z), round(row.y), round(row.x)]
        assert centre_label == (0 if row[4] in ("medium-hollow", "ring") else k), row
        centroid = np.argwhere(support).mean(axis=0)
        assert np.abs(centroid - [row.z, row.y, row.x]).max() < 0.15


@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_edge_margin(fraction):
    config = SimulationConfig(shape_zyx=(30, 60, 60), n_particles=60, edge_margin_fraction=fraction, seed=2)
    truth = simulate_tomogram(config).truth
    centres = truth[["z", "y", "x"]].to_numpy()
    to_face = np.minimum(centres, np.array(config.shape_zyx) - 1 - centres).min(axis=1)
    assert np.all(to_face >= fraction * truth["radius_voxels"] - 1e-9)
    if fraction < 1:  # border particles, cut by a face, are part of the truth
        assert np.any(to_face < truth["radius_voxels"])


def _solid_contrast(tomo) -> float:
    solid = np.isin(tomo.labels, np.flatnonzero(tomo.truth["class"].isin(["large-solid", "small-solid"])) + 1)
    background = (tomo.labels == 0) & ~tomo.distractor_mask
    return float(tomo.volume[solid].mean() - tomo.volume[background].mean())


def test_protein_is_dark_by_default_and_bright_on_request():
    dark = simulate_tomogram(SimulationConfig(**SMALL, noise=0.5))
    bright = simulate_tomogram(SimulationConfig(**SMALL, noise=0.5, protein_dark=False))
    assert _solid_contrast(dark) < -0.3
    assert _solid_contrast(bright) > 0.3
    np.testing.assert_allclose(bright.volume, -dark.volume, atol=1e-5)


def _wedge(shape, half_angle_degrees):
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    kx = np.fft.rfftfreq(shape[2])[None, None, :]
    angle_from_kz = np.degrees(np.arctan2(np.abs(kx), np.abs(kz)))
    inside = (angle_from_kz < half_angle_degrees) & (kz != 0)  # the ky axis (kz = kx = 0) is measured
    return np.broadcast_to(inside, (shape[0], shape[1], len(kx[0, 0])))


@pytest.mark.parametrize("wedge_degrees", [60.0, 90.0])
def test_missing_wedge_is_empty_in_fourier_space(wedge_degrees):
    base = dict(**SMALL, noise=1.0, bandpass_angstrom=None)
    shape = SMALL["shape_zyx"]
    config = SimulationConfig(**{**base, "missing_wedge_degrees": wedge_degrees})
    with_wedge = np.abs(scipy.fft.rfftn(simulate_tomogram(config).volume)) ** 2
    without = np.abs(scipy.fft.rfftn(simulate_tomogram(config.replace(missing_wedge_degrees=None)).volume)) ** 2
    inside = _wedge(shape, wedge_degrees / 2 - 2)  # keep clear of the boundary
    outside = ~_wedge(shape, wedge_degrees / 2 + 2)
    assert with_wedge[inside].mean() < 1e-9 * with_wedge[outside].mean()
    assert without[inside].mean() > 0.2 * without[outside].mean()


def test_bandpass_is_the_documented_transfer_function():
    base = SimulationConfig(**SMALL, **{**CLEAN, "bandpass_angstrom": None})
    filtered = base.replace(bandpass_angstrom=(30.0, 200.0))
    raw = scipy.fft.rfftn(simulate_tomogram(base).volume.astype(np.float64))
    out = scipy.fft.rfftn(simulate_tomogram(filtered).volume.astype(np.float64))
    shape = SMALL["shape_zyx"]
    f2 = (
        np.fft.fftfreq(shape[0])[:, None, None] ** 2
        + np.fft.fftfreq(shape[1])[None, :, None] ** 2
        + np.fft.rfftfreq(shape[2])[None, None, :] ** 2
    ) / 10.0**2
    expected = np.exp(-f2 * 30.0**2 / 2) * (1 - np.exp(-f2 * 200.0**2 / 2))
    strong = np.abs(raw) > 1e-2 * np.abs(raw).max()
    strong[0, 0, 0] = False  # the mean is removed by the z-scoring
    ratio = out[strong] / (raw[strong] * expected[strong])
    np.testing.assert_allclose(ratio.real, np.median(ratio.real), rtol=1e-3)
    np.testing.assert_allclose(ratio.imag, 0, atol=1e-3 * abs(np.median(ratio.real)))


@pytest.mark.parametrize("noise", [0.5, 1.5])
def test_noise_std_is_relative_to_the_signal_std(noise):
    base = SimulationConfig(**{**SMALL, "n_fiducials": 0, "noise": 0.0})
    signal = simulate_tomogram(base).volume.astype(np.float64)
    noisy = simulate_tomogram(base.replace(noise=noise)).volume.astype(np.float64)
    gain = np.sum(noisy * signal) / np.sum(signal * signal)  # noisy = gain * (signal + noise)
    residual = noisy - gain * signal
    assert residual.std() / (gain * signal.std()) == pytest.approx(noise, rel=0.05)


def test_fiducials_are_much_stronger_than_protein_and_not_in_truth():
    config = SimulationConfig(**{**SMALL, **CLEAN, "n_fiducials": 3, "protein_dark": True})
    tomo = simulate_tomogram(config)
    assert len(tomo.fiducials_zyx) == 3
    gold = [tomo.volume[tuple(np.round(c).astype(int))] for c in tomo.fiducials_zyx]
    protein = tomo.volume[tomo.particle_mask].mean()
    background = tomo.volume[~tomo.particle_mask & ~tomo.distractor_mask].mean()
    assert np.all(np.asarray(gold) - background < 8 * (protein - background))
    assert all(tomo.distractor_mask[tuple(np.round(c).astype(int))] for c in tomo.fiducials_zyx)
    assert len(tomo.truth) == SMALL["n_particles"]


def test_membrane_is_a_distractor_sheet():
    with_membrane = simulate_tomogram(SimulationConfig(**{**SMALL, "n_fiducials": 0}))
    without = simulate_tomogram(SimulationConfig(**{**SMALL, "n_fiducials": 0, "membrane": False}))
    assert not without.distractor_mask.any()
    sheet = with_membrane.distractor_mask
    # a 4-voxel sheet crossing the volume: a few percent of the voxels
    assert 0.01 < sheet.mean() < 0.3
    assert len(with_membrane.truth) == len(without.truth) == SMALL["n_particles"]
    assert not np.any(with_membrane.particle_mask & sheet)


def test_config_round_trips_through_yaml_and_dict(tmp_path):
    config = SimulationConfig(
        shape_zyx=(20, 30, 40), particle_classes=("ring", "elongated"), bandpass_angstrom=(25, 250), seed=9
    )
    path = tmp_path / "sim.yaml"
    path.write_text(config.to_yaml())
    assert SimulationConfig.from_file(path) == config
    assert SimulationConfig.from_dict(config.to_dict()) == config
    assert SimulationConfig.from_dict({**config.to_dict(), "missing_wedge_degrees": None}).missing_wedge_degrees is None
    assert config.bandpass_angstrom == (25.0, 250.0) and config.shape_zyx == (20, 30, 40)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"noise": -0.5}, r"noise: expected a number in \[0"),
        ({"noise": float("nan")}, "noise"),
        ({"shape_zyx": (4, 64, 64)}, r"shape_zyx: .*each >= 5"),
        ({"shape_zyx": (64, 64)}, "shape_zyx: expected three integers"),
        ({"shape_zyx": ("a", 1, 2)}, "shape_zyx: expected three integers"),
        ({"voxel_size_angstrom": 0}, "voxel_size_angstrom: expected a positive number"),
        ({"voxel_size_angstrom": -3.0}, "voxel_size_angstrom"),
        ({"voxel_size_angstrom": 100.0}, r"'small-solid' .* 0\.45 voxels .* voxel size <= 30 Å"),
        ({"voxel_size_angstrom": 2.0}, r"'large-solid' .* does not fit .* volume"),
        ({"particle_classes": ("ribosome",)}, "unknown class.*'ribosome'.*valid: large-solid, medium-hollow"),
        ({"particle_classes": ()}, "particle_classes.*valid"),
        ({"particle_classes": ("ring", "ring")}, "each class once"),
        ({"n_particles": -1}, "n_particles: expected a whole number"),
        ({"n_particles": 2.5}, "n_particles"),
        ({"n_fiducials": True}, "n_fiducials"),
        ({"seed": -1}, "seed"),
        ({"missing_wedge_degrees": 200.0}, "missing_wedge_degrees"),
        ({"bandpass_angstrom": (300.0, 20.0)}, "bandpass_angstrom: expected 0 < low < high"),
        ({"bandpass_angstrom": (20.0,)}, "bandpass_angstrom: expected two periods"),
        ({"edge_margin_fraction": 1.5}, "edge_margin_fraction"),
        ({"min_separation_angstrom": -1.0}, "min_separation_angstrom"),
        ({"membrane": "yes"}, "membrane: expected true or false"),
    ],
)
def test_bad_config_raises(changes, match):
    with pytest.raises(UnpickInputError, match=match):
        SimulationConfig(**{**SMALL, **changes})


def test_unknown_option_and_wrong_config_type_raise():
    with pytest.raises(UnpickInputError, match="unknown option.*density"):
        SimulationConfig.from_dict({"density": 0.1})
    with pytest.raises(UnpickInputError, match="config: expected a SimulationConfig, got dict"):
        simulate_tomogram({"n_particles": 3})
