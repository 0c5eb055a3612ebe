"""Two-cluster voxel classification: fit, float32 prediction vs scikit-learn, particle rules."""

from __future__ import annotations

import functools
import json
import logging

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from unpick._shared import UnpickInputError
from unpick.cluster import (
    ClusterConfig,
    _model,
    choose_particle_cluster,
    decision_levels,
    fit_clusterer,
    zero_border,
)

GMM_TYPES = ("full", "diag", "tied", "spherical")


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """K-Means on these tiny samples runs ~30x slower when its OpenMP threads compete with
    other processes for the two cores; the results do not depend on the thread count."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def minority_features(seed=0, n=4000, n_features=5, fraction=0.1):
    """Gaussian features with a shifted minority cluster; returns (features, truth, intensity)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < fraction
    features = rng.normal(size=(n, n_features)) + 4.0 * truth[:, None]
    features[:, 0] *= 10.0  # unequal scales: standardisation must handle them
    intensity = 0.55 - 0.25 * truth + rng.normal(0, 0.03, n)
    return features.astype(np.float32), truth, intensity


def blob_volume(*, dark, seed=0, shape=(24, 40, 40), n_blobs=14, radius=3.0):
    """Gaussian-profile blobs on a flat background plus noise, blurred and scaled to [0, 1].

    Returns (volume, truth) with truth True inside the blobs (within ``radius`` of a centre).
    """
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    signal = np.zeros(shape, np.float32)
    truth = np.zeros(shape, bool)
    for _ in range(n_blobs):
        centre = [rng.uniform(radius + 2, s - radius - 3) for s in shape]
        d2 = sum((g - c) ** 2 for g, c in zip(grid, centre))
        signal += np.exp(-d2 / (2 * (radius / 1.5) ** 2))
        truth |= d2 <= radius**2
    volume = (-signal if dark else signal) + rng.normal(0, 0.15, shape)
    volume = ndi.gaussian_filter(volume, 1.0)
    lo, hi = np.percentile(volume, [0.5, 99.5])
    return np.clip((volume - lo) / (hi - lo), 0, 1).astype(np.float32), truth


def volume_features(volume):
    """Simple per-voxel features: blurred intensity, 5^3 local mean, local mean of squares."""
    mean5 = ndi.uniform_filter(volume, 5)
    sq5 = ndi.uniform_filter(volume * volume, 5)
    return np.stack([volume, mean5, sq5], axis=-1)


@functools.cache
def blob_sample(dark):
    """Features, intensity and truth of the interior voxels of a blob volume (cached, read-only)."""
    volume, truth = blob_volume(dark=dark)
    inner = (slice(2, -2),) * 3
    keep = slice(None, None, 3)  # a third of the voxels: a sample, as the workflow fits on
    arrays = (
        volume_features(volume)[inner].reshape(-1, 3)[keep],
        volume[inner].reshape(-1)[keep],
        truth[inner].reshape(-1)[keep],
    )
    for array in arrays:
        array.flags.writeable = False
    return arrays


def fit_on_volume(dark, rule, method="kmeans"):
    feats, intensity, truth = blob_sample(dark)
    # a full-covariance GMM splits these three features by spread (narrow core vs wide tails),
    # not blob vs background; tied covariances split like K-Means
    config = ClusterConfig(method=method, covariance_type="tied", particle_cluster=rule)
    fitted = fit_clusterer(feats, intensity, config=config, rng=1)
    is_particle, _ = fitted.predict_chunk(feats)
    return fitted, is_particle, truth


# ---------------------------------------------------------------- config


def test_config_round_trip(tmp_path):
    config = ClusterConfig(method="gmm", covariance_type="diag", max_iter=50, particle_cluster="darker")
    assert ClusterConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "cluster.yaml"
    path.write_text(config.to_yaml())
    assert ClusterConfig.from_file(path) == config


def test_config_accepts_integer_cluster_index():
    assert ClusterConfig(particle_cluster=1).particle_cluster == "1"
    assert ClusterConfig.from_dict({"particle_cluster": 0}).particle_cluster == "0"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "dbscan"}, "cluster method: expected one of kmeans, gmm, got 'dbscan'"),
        ({"n_init": 0}, "n_init: expected an integer >= 1, got 0"),
        ({"n_init": True}, "n_init: expected an integer >= 1, got True"),
        ({"n_init": 2.5}, "n_init: expected an integer >= 1"),
        ({"covariance_type": "banded"}, "covariance_type: expected one of full, diag, tied, spherical"),
        ({"max_iter": -1}, "max_iter: expected an integer >= 1"),
        ({"particle_cluster": "2"}, "particle_cluster: expected one of auto, smaller, darker, brighter, 0, 1, got '2'"),
        ({"particle_cluster": 2}, "particle_cluster: expected one of"),
        ({"sample_voxels": 5}, "sample_voxels: expected an integer >= 10, got 5"),
    ],
)
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(UnpickInputError, match=match):
        ClusterConfig(**changes)


def test_config_rejects_unknown_key():
    with pytest.raises(UnpickInputError, match="unknown option"):
        ClusterConfig.from_dict({"n_clusters": 3})


# ---------------------------------------------------------------- fitting and prediction


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_minority_cluster_recovered(method):
    features, truth, intensity = minority_features()
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(method=method), rng=0)
    is_particle, decision = fitted.predict_chunk(features)
    assert is_particle.dtype == bool and decision.dtype == np.float32
    assert np.mean(is_particle == truth) > 0.995
    assert fitted.decision["fractions"][fitted.particle_label] == pytest.approx(truth.mean(), abs=0.01)
    # the decision value is positive exactly where the voxel is called particle, and ranks voxels
    np.testing.assert_array_equal(decision > 0, is_particle)
    assert decision[truth].mean() > 0 > decision[~truth].mean()


def standardised(fitted, features):
    return (features - fitted.params.mean) / fitted.params.scale


def test_kmeans_prediction_matches_sklearn():
    features, _, intensity = minority_features(seed=3, n_features=8)
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(method="kmeans"), rng=3)
    is_particle, decision = fitted.predict_chunk(features)
    expected = fitted.estimator.predict(standardised(fitted, features)) == fitted.particle_label
    np.testing.assert_array_equal(is_particle, expected)
    # the decision is d_bg**2 - d_particle**2, from a float64 reference
    z = standardised(fitted, features).astype(np.float64)
    centers = fitted.estimator.cluster_centers_.astype(np.float64)
    sq = ((z[:, None, :] - centers[None]) ** 2).sum(axis=2)
    p = fitted.particle_label
    expected_decision = sq[:, 1 - p] - sq[:, p]
    np.testing.assert_allclose(decision, expected_decision, rtol=1e-4, atol=1e-3 * np.abs(expected_decision).max())


@pytest.mark.parametrize("covariance_type", GMM_TYPES)
def test_gmm_prediction_matches_sklearn(covariance_type):
    features, _, intensity = minority_features(seed=4, n_features=6)
    config = ClusterConfig(method="gmm", covariance_type=covariance_type)
    fitted = fit_clusterer(features, intensity, config=config, rng=4)
    is_particle, decision = fitted.predict_chunk(features)
    z = standardised(fitted, features)
    np.testing.assert_array_equal(is_particle, fitted.estimator.predict(z) == fitted.particle_label)
    # the decision is the log-odds of the particle component
    log_resp = fitted.estimator._estimate_weighted_log_prob(z)
    log_odds = log_resp[:, fitted.particle_label] - log_resp[:, 1 - fitted.particle_label]
    np.testing.assert_allclose(decision, log_odds, rtol=1e-3, atol=1e-2)


def test_gmm_posterior_stable_far_from_the_clusters():
    features, _, intensity = minority_features(seed=5)
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(method="gmm"), rng=5)
    far = np.vstack([features[:2] * 1e4, -features[:2] * 1e4]).astype(np.float32)
    is_particle, decision = fitted.predict_chunk(far)
    assert np.all(np.isfinite(decision))
    np.testing.assert_array_equal(decision > 0, is_particle)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_predict_chunk_blocks_and_dtypes_agree(method, monkeypatch):
    features, _, intensity = minority_features(seed=6)
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(method=method), rng=6)
    whole = fitted.predict_chunk(features)
    monkeypatch.setattr(_model, "_BLOCK_ELEMENTS", 7)  # 1024-row blocks, last one partial
    monkeypatch.setattr(_model, "_CPU_LINEAR_BLOCK_ELEMENTS", 7)
    blocked = fitted.predict_chunk(features.astype(np.float64))
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])
    empty = fitted.predict_chunk(np.zeros((0, features.shape[1]), np.float32))
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_seeded_fit_is_reproducible(method):
    features, _, intensity = minority_features(seed=7)
    config = ClusterConfig(method=method)
    a = fit_clusterer(features, intensity, config=config, rng=11)
    b = fit_clusterer(features, intensity, config=config, rng=np.random.default_rng(11))
    assert a.decision == b.decision
    np.testing.assert_array_equal(a.predict_chunk(features)[1], b.predict_chunk(features)[1])


def test_constant_feature_is_centred_not_divided():
    features, truth, intensity = minority_features(seed=8)
    features[:, 2] = 3.0
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(), rng=0)
    assert fitted.params.scale[2] == 1.0
    assert np.mean(fitted.predict_chunk(features)[0] == truth) > 0.995


# ---------------------------------------------------------------- whitening


def texture_and_minority(seed=0, n=20000, n_texture=30, fraction=0.1):
    """One feature that separates a 10 % minority (+10 SD), and ``n_texture`` copies of a shared
    texture factor (plus a little noise each), as the AC magnitudes of a local FFT all follow the
    local contrast. Returns (features, truth, intensity)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < fraction
    texture = rng.normal(size=n)
    features = np.empty((n, 1 + n_texture), np.float32)
    features[:, 0] = rng.normal(size=n) + 10.0 * truth
    features[:, 1:] = texture[:, None] + 0.1 * rng.normal(size=(n, n_texture))
    intensity = 0.55 - 0.25 * truth + rng.normal(0, 0.03, n)
    return features, truth, intensity


def test_whitening_lets_kmeans_find_a_minority_that_repeated_features_outvote():
    features, truth, intensity = texture_and_minority()
    config = ClusterConfig(method="kmeans", whiten_modes=("fft",), whiten_shrinkage=0.05)
    plain = fit_clusterer(features, intensity, config=config, rng=0, feature_mode="intensities")
    whitened = fit_clusterer(features, intensity, config=config, rng=0, feature_mode="fft")
    assert plain.params.whitening is None and plain.decision["conditioning"] == "standardised"
    assert whitened.decision["conditioning"] == "whitened (shrinkage 0.05)"
    # z-scored, the 30 texture copies dominate the distances: 2-means halves the texture factor
    plain_call = plain.predict_chunk(features)[0]
    assert abs(plain_call.mean() - 0.5) < 0.1 and np.mean(plain_call == truth) < 0.7
    # whitened, each direction counts once and the split follows the minority (2-means prefers it to
    # halving the Gaussian texture when the minority carries over 2/pi of its direction's variance)
    whitened_call = whitened.predict_chunk(features)[0]
    assert np.mean(whitened_call[truth]) > 0.95 and np.mean(whitened_call[~truth]) < 0.01


def test_whitening_matrix_gives_shrunk_unit_variances_along_the_principal_axes():
    from unpick.cluster._fit import whitening_matrix

    rng = np.random.default_rng(2)
    mixing = rng.normal(size=(6, 6))
    sample = (rng.normal(size=(50000, 6)) @ mixing).astype(np.float32)
    sample -= sample.mean(axis=0)
    variances = np.linalg.eigvalsh(np.cov(sample.T, bias=True))
    shrinkage = 0.5
    matrix = whitening_matrix(sample, shrinkage=shrinkage)
    whitened_cov = np.cov((sample @ matrix).T.astype(np.float64), bias=True)
    expected = np.sort(variances / (variances + shrinkage))
    np.testing.assert_allclose(np.sort(np.diag(whitened_cov)), expected, rtol=1e-3)
    np.testing.assert_allclose(whitened_cov - np.diag(np.diag(whitened_cov)), 0, atol=1e-3)
    # deterministic: the same sample gives the same matrix, eigenvector signs included
    np.testing.assert_array_equal(whitening_matrix(sample.copy(), shrinkage=shrinkage), matrix)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_a_whitened_decision_is_still_linear_in_the_raw_features(method):
    features, _, intensity = texture_and_minority(seed=3, n=6000, n_texture=8)
    config = ClusterConfig(method=method, whiten_modes=("gabor",))
    fitted = fit_clusterer(features, intensity, config=config, rng=1, feature_mode="gabor")
    weights, offset = fitted.linear_decision
    decision = fitted.predict_chunk(features)[1]
    np.testing.assert_allclose(features.astype(np.float64) @ weights + offset, decision, rtol=1e-4,
                               atol=1e-4 * float(np.abs(decision).max()))


@pytest.mark.parametrize(
    "modes, message",
    [("fft", "expected a list of distinct feature modes"), (["fft", "fft"], "distinct"), ([1], "feature modes")],
)
def test_whiten_modes_must_be_a_list_of_distinct_names(modes, message):
    with pytest.raises(UnpickInputError, match=message):
        ClusterConfig(whiten_modes=modes)


def test_pick_config_names_the_unknown_whiten_mode():
    from unpick.workflows import PickConfig

    with pytest.raises(UnpickInputError, match="kmeans.whiten_modes: expected one of intensities, fft, gabor, got 'ff'"):
        PickConfig.from_dict({"kmeans": {"method": "kmeans", "whiten_modes": ["ff"]}})
    assert PickConfig().kmeans.whiten_modes == ("fft",) and PickConfig().gmm.whiten_modes == ()


# ---------------------------------------------------------------- which cluster is particle


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
@pytest.mark.parametrize("dark", [True, False])
@pytest.mark.parametrize("rule", ["auto", "smaller", "darker", "brighter"])
def test_particle_rules_on_blob_volumes(method, dark, rule):
    fitted, is_particle, inner_truth = fit_on_volume(dark, rule, method)
    means = fitted.decision["mean_intensity"]
    p = fitted.particle_label
    wants_blobs = rule in ("auto", "smaller") or (rule == "darker") == dark
    recall = np.mean(is_particle[inner_truth])
    if wants_blobs:  # the blobs (and a halo around them), little of the background
        assert recall > 0.8 and np.mean(is_particle[~inner_truth]) < 0.15
        assert (means[p] < means[1 - p]) == dark
    else:  # the contrast rule asked for the background side
        assert recall < 0.2
    assert fitted.decision["rule"] == rule


@pytest.mark.parametrize("rule", ["0", "1"])
def test_explicit_cluster_index(rule):
    fitted, is_particle, _ = fit_on_volume(True, rule)
    assert fitted.particle_label == int(rule)
    assert "explicit" in fitted.decision["reason"]
    _, other_particle, _ = fit_on_volume(True, str(1 - int(rule)))
    np.testing.assert_array_equal(is_particle, ~other_particle)


def test_auto_near_even_split_takes_the_darker_cluster():
    rng = np.random.default_rng(0)
    labels = (rng.random(10000) < 0.55).astype(np.intp)  # cluster 1 is the larger one...
    intensity = np.where(labels == 1, 0.3, 0.6) + rng.normal(0, 0.05, labels.size)  # ...and darker
    decision = choose_particle_cluster(labels, intensity, rule="auto")
    assert decision["particle_label"] == 1
    assert "auto: dark protein" in decision["reason"] and "darker cluster" in decision["reason"]
    assert "the particle cluster is the majority" in decision["reason"] and decision["doubtful"]
    assert choose_particle_cluster(labels, intensity, rule="smaller")["particle_label"] == 0


def test_auto_near_even_split_without_contrast_keeps_smaller():
    rng = np.random.default_rng(1)
    labels = (rng.random(10000) < 0.55).astype(np.intp)
    intensity = 0.5 + rng.normal(0, 0.05, labels.size)
    decision = choose_particle_cluster(labels, intensity, rule="auto")
    assert decision["particle_label"] == 0
    assert "texture split" in decision["reason"] and "smaller cluster" in decision["reason"]


def test_auto_reads_bright_protein_from_positive_skew():
    rng = np.random.default_rng(2)
    labels = (rng.random(10000) < 0.1).astype(np.intp)
    intensity = np.where(labels == 1, 0.8, 0.4)
    decision = choose_particle_cluster(labels, intensity, rule="auto")
    assert decision["particle_label"] == 1
    assert "bright protein (intensity skewness +" in decision["reason"]
    assert decision["skewness"] > 0
    assert decision["mean_intensity"] == pytest.approx([0.4, 0.8])


def test_auto_ignores_a_small_bright_cluster_in_dark_protein_data():
    # dark particles (15 %) make the histogram skew negative; the clusterer split off a small bright
    # artefact (3 %) instead: the smaller-cluster rule takes the artefact, auto takes the dark side
    rng = np.random.default_rng(4)
    kind = rng.choice(3, size=20000, p=[0.82, 0.15, 0.03])  # background, dark particles, bright artefact
    intensity = np.choose(kind, [0.5, 0.2, 0.75]) + rng.normal(0, 0.03, kind.size)
    labels = (kind == 2).astype(np.intp)  # cluster 1 = the bright artefact
    assert choose_particle_cluster(labels, intensity, rule="smaller")["particle_label"] == 1
    decision = choose_particle_cluster(labels, intensity, rule="auto")
    assert decision["skewness"] < 0
    assert decision["particle_label"] == 0 and "dark protein" in decision["reason"]


def test_decision_logged_and_json_serialisable(caplog):
    features, _, intensity = minority_features(seed=9, fraction=0.082)
    with caplog.at_level(logging.INFO, logger="unpick.cluster"):
        fitted = fit_clusterer(features, intensity, config=ClusterConfig(), rng=0)
    p = fitted.particle_label
    message = f"particle cluster = {p} (auto: dark protein (intensity skewness -"
    assert any(message in record.getMessage() for record in caplog.records)
    assert f"{100 * fitted.decision['fractions'][p]:.1f} % of sample voxels" in caplog.text
    record = json.loads(json.dumps(fitted.decision))
    assert record["particle_label"] == p and record["method"] == "kmeans"
    assert record["mean_intensity"][p] < record["mean_intensity"][1 - p]


# ---------------------------------------------------------------- bad input


def test_fit_rejects_bad_input():
    features, _, intensity = minority_features(n=100)
    config = ClusterConfig()
    with pytest.raises(UnpickInputError, match=r"features: expected an \(N, F\) array"):
        fit_clusterer(features[:, 0], intensity, config=config)
    with pytest.raises(UnpickInputError, match=r"intensity: expected shape \(100,\)"):
        fit_clusterer(features, intensity[:50], config=config)
    bad = features.copy()
    bad[3, 1] = np.nan
    with pytest.raises(UnpickInputError, match="features: contains NaN"):
        fit_clusterer(bad, intensity, config=config)
    with pytest.raises(UnpickInputError, match="config: expected a ClusterConfig"):
        fit_clusterer(features, intensity, config={"method": "kmeans"})
    with pytest.raises(UnpickInputError, match="rng: expected an int seed"):
        fit_clusterer(features, intensity, config=config, rng="seed")


def test_fit_rejects_single_cluster_sample():
    features = np.ones((50, 3), np.float32)
    with pytest.raises(UnpickInputError, match="fall into a single cluster"):
        fit_clusterer(features, np.full(50, 0.5), config=ClusterConfig())


def test_predict_rejects_wrong_feature_count():
    features, _, intensity = minority_features(n=200)
    fitted = fit_clusterer(features, intensity, config=ClusterConfig(), rng=0)
    with pytest.raises(UnpickInputError, match=r"features: expected an \(n, 5\) array .* got shape \(200, 4\)"):
        fitted.predict_chunk(features[:, :4])
    with pytest.raises(UnpickInputError, match=r"got shape \(200,\)"):
        fitted.predict_chunk(features[:, 0])


# ---------------------------------------------------------------- border


def test_zero_border_clears_faces_in_place():
    mask = np.ones((7, 8, 9), np.uint8)
    out = zero_border(mask, 2)
    assert out is mask
    assert mask.sum() == 3 * 4 * 5
    assert mask[2:-2, 2:-2, 2:-2].all()
    assert zero_border(np.ones((6, 6, 6), bool), 0).all()
    assert not zero_border(np.ones((6, 6, 6), bool), 3).any()
    assert zero_border(np.ones((9, 9, 9), bool)).sum() == 5**3  # default: half the 5-voxel neighbourhood


@pytest.mark.parametrize(
    ("mask", "width", "match"),
    [
        (np.ones((5, 5)), 1, r"mask: expected a 3-D \(Z, Y, X\) array, got \(5, 5\)"),
        (np.ones((5, 5, 5)), -1, "width: expected an integer >= 0"),
        (np.ones((5, 5, 5)), 1.5, "width: expected an integer >= 0"),
    ],
)
def test_zero_border_rejects_bad_input(mask, width, match):
    with pytest.raises(UnpickInputError, match=match):
        zero_border(mask, width)


@settings(max_examples=40, deadline=None)
@given(scale_exp=st.floats(-30, 30), shift=st.floats(-1e3, 1e3), seed=st.integers(0, 2**16))
def test_quantise_is_searchsorted_exactly(scale_exp, shift, seed):
    """The bucket table answers like a binary search for every value: on the thresholds, one ulp
    either side, signed zeros, infinities, subnormals and the bulk of the distribution."""
    rng = np.random.default_rng(seed)
    sample = rng.standard_t(3, size=2000) * 2.0**scale_exp + shift
    levels = decision_levels(sample)
    t = levels.thresholds
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-42, -1e-42, np.finfo(np.float32).max], dtype=np.float32)
    values = np.concatenate([
        (rng.standard_t(3, size=20_000) * 2.0**scale_exp + shift).astype(np.float32),
        t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf)), special,
    ]).astype(np.float32)  # fmt: skip
    np.testing.assert_array_equal(levels.quantise(values), np.searchsorted(t, values, side="right").astype(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tied_mixture_fits_as_scikit_learn_with_linear_steps(dtype):
    """The tied E- and M-steps from linear terms and the second moments computed once: the same
    iterations and, to the input's rounding, the same parameters, likelihood and densities as
    scikit-learn's own tied mixture (this fails if scikit-learn changes its EM loop's steps)."""
    from sklearn.mixture import GaussianMixture

    from unpick.cluster._tied_mixture import TiedGaussianMixture

    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, (3000, 20)), rng.normal(0.8, 1.3, (400, 20))]).astype(dtype)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    with threadpool_limits(limits=1, user_api="blas"):
        fits = [cls(n_components=2, covariance_type="tied", reg_covar=0.3, random_state=3).fit(x)
                for cls in (GaussianMixture, TiedGaussianMixture)]  # fmt: skip
    stock, linear = fits
    assert stock.n_iter_ == linear.n_iter_ > 2 and linear.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(linear, name), getattr(stock, name), rtol=tolerance, atol=tolerance)
    assert linear.lower_bound_ == pytest.approx(stock.lower_bound_, rel=tolerance)
    np.testing.assert_allclose(linear.score_samples(x), stock.score_samples(x), rtol=10 * tolerance)
    np.testing.assert_array_equal(linear.predict(x), stock.predict(x))
    assert linear._moments is None  # the sample is not held after the fit
    full = TiedGaussianMixture(n_components=2, covariance_type="full", random_state=3).fit(x)
    assert full.covariances_.shape == (2, 20, 20)  # other types are scikit-learn's own
    np.testing.assert_array_equal(
        full.means_, GaussianMixture(n_components=2, covariance_type="full", random_state=3).fit(x).means_
    )
