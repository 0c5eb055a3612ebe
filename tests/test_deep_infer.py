"""ResUNet, overlap-tile inference and peak finding (untrained models: no training here)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unpick._shared import UnpickInputError  # noqa: E402
from unpick.deep import (  # noqa: E402
    PeakThreshold,
    ResUNet3d,
    choose_peak_threshold,
    find_peaks,
    labelled_peak_scores,
    otsu_threshold,
    predict_score_map,
)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def model(**kwargs):
    torch.manual_seed(0)
    return ResUNet3d((4, 8, 12, 16), **kwargs).eval()


def blobs(shape, centres, sigma=1.5, seed=0):
    grid = np.indices(shape, dtype=np.float32)
    out = np.zeros(shape, np.float32)
    for c in centres:
        out -= np.exp(-sum((g - v) ** 2 for g, v in zip(grid, c)) / (2 * sigma**2))
    return out + np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)


def direct(net, volume):
    with torch.inference_mode():
        return torch.sigmoid(net(torch.from_numpy(volume)[None, None])).numpy()[0, 0]


@pytest.mark.parametrize(
    "options", [{}, {"norm": "instance"}, {"coord_channels": True}, {"pyramid": False, "coord_channels": True}]
)
def test_one_tile_equals_whole_volume_inference(options):
    net = model(**options)
    volume = blobs((24, 40, 32), [(12, 20, 16)])
    np.testing.assert_allclose(predict_score_map(net, volume, tile=64, overlap=16), direct(net, volume), atol=1e-6)


def test_one_tile_pads_odd_sizes_by_reflection():
    net = model()
    volume = blobs((21, 30, 17), [(10, 15, 8)])
    padded = np.pad(volume, [(0, 3), (0, 2), (0, 7)], mode="reflect")
    expected = direct(net, padded)[:21, :30, :17]
    got = predict_score_map(net, volume, tile=64)
    assert got.shape == (21, 30, 17) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_tiles_cover_every_voxel_exactly_for_a_pointwise_model():
    torch.manual_seed(0)
    pointwise = torch.nn.Conv3d(1, 1, 1)
    volume = np.random.default_rng(0).normal(size=(40, 50, 45)).astype(np.float32)
    got = predict_score_map(pointwise, volume, tile=16, overlap=6, batch=3)
    np.testing.assert_allclose(got, direct(pointwise, volume), atol=1e-6)


def test_multi_tile_is_close_to_whole_volume_in_the_interior():
    net = model()
    rng = np.random.default_rng(1)
    volume = blobs((40, 72, 72), rng.uniform(4, 68, size=(30, 3)) * [36 / 68, 1, 1])
    whole = predict_score_map(net, volume, tile=128)
    tiled = predict_score_map(net, volume, tile=48, overlap=16, batch=2)
    inner = (slice(8, -8),) * 3
    diff = np.abs(whole - tiled)[inner]
    assert diff.mean() < 0.01 and diff.max() < 0.1
    assert np.corrcoef(whole[inner].ravel(), tiled[inner].ravel())[0, 1] > 0.99


def test_inference_bad_inputs():
    net = model()
    volume = np.zeros((16, 16, 16), np.float32)
    with pytest.raises(UnpickInputError, match="multiple of 8"):
        predict_score_map(net, volume, tile=20)
    with pytest.raises(UnpickInputError, match="half the tile"):
        predict_score_map(net, volume, tile=16, overlap=9)
    with pytest.raises(UnpickInputError, match="batch"):
        predict_score_map(net, volume, batch=0)
    with pytest.raises(UnpickInputError, match="TrainedPicker or torch module"):
        predict_score_map("model.pt", volume)
    with pytest.raises(UnpickInputError, match="3-D"):
        predict_score_map(net, volume[0])
    with pytest.raises(UnpickInputError, match="multiple of 8"):
        net(torch.zeros(1, 1, 12, 16, 16))
    with pytest.raises(UnpickInputError, match="widths"):
        ResUNet3d((4, 8, 16))


def gaussian_map(shape, centres, amplitudes, sigma=1.5):
    grid = np.indices(shape, dtype=np.float32)
    out = np.zeros(shape, np.float32)
    for c, a in zip(centres, amplitudes):
        out = np.maximum(out, a * np.exp(-sum((g - v) ** 2 for g, v in zip(grid, c)) / (2 * sigma**2)))
    return out


CENTRES = [(8, 8, 8), (8, 30, 20), (20, 12, 30), (30, 30, 8), (25, 25, 25)]


def test_peaks_at_exact_positions_best_first():
    amplitudes = [0.9, 0.6, 0.8, 0.7, 0.95]
    score = gaussian_map((40, 40, 40), CENTRES, amplitudes)
    coords, scores = find_peaks(score, radius_voxels=4, threshold=0.05)
    order = np.argsort(amplitudes)[::-1]
    np.testing.assert_array_equal(coords, np.asarray(CENTRES, float)[order])
    assert np.all(np.diff(scores) < 0) and scores.dtype == np.float64


def test_peaks_closer_than_the_radius_are_deduplicated():
    score = gaussian_map((20, 20, 30), [(10, 10, 10), (10, 10, 14), (10, 10, 22)], [0.9, 0.7, 0.8], sigma=1.0)
    # the cube NMS (half-width ceil(5/2) = 3) keeps all three; the 5-voxel sphere drops (10, 10, 14)
    coords, _ = find_peaks(score, radius_voxels=5, threshold=0.05, pool_iterations=0)
    np.testing.assert_array_equal(coords, [[10, 10, 10], [10, 10, 22]])
    coords, _ = find_peaks(score, radius_voxels=3.5, threshold=0.05, pool_iterations=0)
    assert len(coords) == 3


def test_threshold_given_and_chosen_from_the_data():
    rng = np.random.default_rng(0)
    score = gaussian_map((40, 40, 40), CENTRES, [0.9, 0.6, 0.8, 0.7, 0.95])
    score = np.maximum(score, rng.uniform(0, 0.15, score.shape).astype(np.float32))  # many low peaks
    # one 3x3x3 mean pool scales a sigma-1.5 peak by 0.6521: pooled peaks 0.59 0.39 0.52 0.46 0.62
    coords, scores = find_peaks(score, radius_voxels=4, threshold=0.3, pool_iterations=1)
    assert len(coords) == 5 and scores.min() >= 0.3
    np.testing.assert_allclose(np.sort(scores), np.sort([0.9, 0.6, 0.8, 0.7, 0.95]) * 0.6521, rtol=2e-3)
    coords, _ = find_peaks(score, radius_voxels=4, threshold=0.42, pool_iterations=1)
    assert len(coords) == 4 and (8, 30, 20) not in {tuple(c) for c in coords.astype(int)}
    coords, _ = find_peaks(score, radius_voxels=4, pool_iterations=1)  # Otsu on the peak scores
    assert {tuple(c) for c in coords.astype(int)} == set(CENTRES)


def test_peaks_of_an_empty_map_and_bad_inputs():
    coords, scores = find_peaks(np.zeros((10, 10, 10), np.float32), radius_voxels=2)
    assert coords.shape == (0, 3) and scores.shape == (0,)
    with pytest.raises(UnpickInputError, match="radius_voxels"):
        find_peaks(np.zeros((10, 10, 10)), radius_voxels=-1)
    with pytest.raises(UnpickInputError, match="threshold"):
        find_peaks(np.zeros((10, 10, 10)), radius_voxels=2, threshold=1.5)
    with pytest.raises(UnpickInputError, match="pool_iterations"):
        find_peaks(np.zeros((10, 10, 10)), radius_voxels=2, pool_iterations=-1)


def test_otsu_threshold_sits_mid_gap_even_for_unbalanced_classes():
    values = np.concatenate([np.linspace(0.05, 0.12, 300), [0.5, 0.7, 0.8]])
    assert otsu_threshold(values) == pytest.approx((0.12 + 0.5) / 2)
    assert otsu_threshold([0.3, 0.3, 0.3]) == 0.5 and otsu_threshold([0.2]) == 0.5


def test_two_maxima_of_one_blob_are_one_particle_but_a_saddle_separates_two():
    # an elongated blob (a particle larger than the given radius) has two maxima 7 voxels apart
    # with no dip between them; two blobs at the same distance with a deep saddle stay two
    blob = gaussian_map((24, 24, 40), [(12, 12, 16), (12, 12, 23)], [0.9, 0.8], sigma=3.0)
    joined = np.maximum(blob, gaussian_map((24, 24, 40), [(12, 12, 19.5)], [0.85], sigma=3.0))
    coords, _ = find_peaks(joined, radius_voxels=5, threshold=0.05, pool_iterations=0)
    assert len(coords) == 1
    apart = gaussian_map((24, 24, 40), [(12, 12, 16), (12, 12, 23)], [0.9, 0.8], sigma=1.0)
    coords, _ = find_peaks(apart, radius_voxels=5, threshold=0.05, pool_iterations=0)
    np.testing.assert_array_equal(coords, [[12, 12, 16], [12, 12, 23]])


def test_pu_threshold_separates_particle_peaks_from_background_peaks():
    rng = np.random.default_rng(3)
    background = np.exp(rng.uniform(np.log(1e-5), np.log(0.08), 3000))  # orders of magnitude below
    particles = rng.uniform(0.25, 0.95, 200)
    labelled = rng.choice(particles, 120, replace=False)  # the teacher found 60 % of them
    chosen = choose_peak_threshold(np.concatenate([background, particles]), labelled)
    # every labelled particle kept, no background peak; it stops at the lowest labelled score
    assert 0.08 <= chosen.threshold <= labelled.min() and np.mean(particles >= chosen.threshold) >= 0.95
    assert chosen.labelled_recall == 1.0 and chosen.pick_share == pytest.approx(200 / 3200, abs=0.01)
    assert "pseudo-positives" in chosen.reason
    assert PeakThreshold.from_record(chosen.to_record()) == chosen
    # carried to another tomogram: the same scores keep it, scores 20 % lower lower it alike
    candidates = np.concatenate([background, particles])
    assert chosen.for_scores(candidates) == pytest.approx(chosen.threshold)
    assert chosen.for_scores(0.8 * candidates) == pytest.approx(0.8 * chosen.threshold, rel=0.02)
    assert chosen.for_scores(0.01 * candidates) == pytest.approx(0.25 * chosen.threshold)  # at most a factor 4
    # a teacher pick that sits on no peak counts as missed, not as a reason to go lower
    chosen = choose_peak_threshold(np.concatenate([background, particles]), np.append(labelled, [0.0, 0.0]))
    assert chosen.threshold >= 0.08 and chosen.labelled_recall < 1.0
    with pytest.raises(UnpickInputError, match="pseudo-positive"):
        choose_peak_threshold(background, np.zeros(10))


def test_labelled_peak_scores_take_the_nearest_peak_within_the_radius():
    coords = np.array([[10.0, 10, 10], [30, 30, 30]])
    scores = np.array([0.8, 0.4])
    got = labelled_peak_scores(coords, scores, [[11, 10, 10], [30, 33, 30], [50, 50, 50]], 4.0)
    np.testing.assert_allclose(got, [0.8, 0.4, 0.0])
    np.testing.assert_allclose(labelled_peak_scores(np.zeros((0, 3)), np.zeros(0), [[1, 1, 1]], 4.0), [0.0])


def test_flip_averaging_is_the_mean_of_the_two_predictions():
    model = ResUNet3d((4, 4, 8, 8)).eval()
    volume = np.random.default_rng(0).standard_normal((16, 24, 32)).astype(np.float32)
    straight = predict_score_map(model, volume, tile=16, overlap=4)
    flipped = predict_score_map(model, np.ascontiguousarray(volume[::-1, ::-1, ::-1]), tile=16, overlap=4)
    both = predict_score_map(model, volume, tile=16, overlap=4, flips=True)
    np.testing.assert_allclose(both, 0.5 * (straight + flipped[::-1, ::-1, ::-1]), atol=1e-6)
    assert not np.allclose(straight, flipped[::-1, ::-1, ::-1], atol=1e-3)  # the network is not flip-invariant
