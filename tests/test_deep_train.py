"""Training end to end: refined picks beat their noisy pseudo-labels; checkpoints and resume."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unpick._shared import UnpickInputError, picks_zyx  # noqa: E402
from unpick.deep import (  # noqa: E402
    STATE_FILE,
    DeepConfig,
    find_peaks,
    load_checkpoint,
    predict_score_map,
    refine_picks,
    save_checkpoint,
    train_picker,
)
from unpick.evaluate import score_points  # noqa: E402
from unpick.synthetic import SimulationConfig, simulate_tomogram  # noqa: E402

RADIUS = 4.5  # small-solid particles (45 Å) at 10 Å per voxel
TINY = DeepConfig(widths=(4, 4, 8, 8), patch_size=16, batch_size=1, epochs=2, iterations_per_epoch=2, device="cpu")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tomogram():
    config = SimulationConfig(
        shape_zyx=(32, 64, 64),
        voxel_size_angstrom=10.0,
        particle_classes=("small-solid",),
        n_particles=24,
        membrane=False,
        n_fiducials=0,
        noise=1.0,
        seed=0,
    )
    return simulate_tomogram(config)


@pytest.fixture(scope="module")
def pseudo_labels(tomogram):
    """60 % of the true particles plus 30 % (of the truth count) false positives at random."""
    truth = picks_zyx(tomogram.truth)
    rng = np.random.default_rng(1)
    kept = truth[rng.permutation(len(truth))[: round(0.6 * len(truth))]]
    false = rng.uniform(0, tomogram.volume.shape, size=(round(0.3 * len(truth)), 3))
    return np.concatenate([kept, false]), rng.uniform(0, 1, len(kept) + len(false))


def test_refined_picks_beat_their_noisy_pseudo_labels(tomogram, pseudo_labels):
    truth = picks_zyx(tomogram.truth)
    picks, scores = pseudo_labels
    teacher_f1 = score_points(picks, truth, radius_voxels=RADIUS)["f1"]
    config = DeepConfig(
        widths=(4, 8, 12, 16), patch_size=32, batch_size=2, epochs=2, iterations_per_epoch=12,
        learning_rate=3e-3, device="cpu", seed=0,
    )  # fmt: skip
    trained = train_picker([tomogram.volume], [picks], config=config, radius_voxels=RADIUS, scores=[scores])
    assert len(trained.history) == 2 and trained.history[1]["loss"] < trained.history[0]["loss"]
    coords, _ = find_peaks(predict_score_map(trained, tomogram.volume), radius_voxels=RADIUS)
    refined = score_points(coords, truth, radius_voxels=RADIUS)
    assert teacher_f1 == pytest.approx(0.62, abs=0.01)
    assert refined["f1"] > teacher_f1 + 0.2
    assert refined["precision"] > 0.8 and refined["recall"] > 0.8


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, tomogram, pseudo_labels):
    picks, _ = pseudo_labels
    trained = train_picker([tomogram.volume], [picks], config=TINY, radius_voxels=RADIUS, voxel_size_angstrom=10.0)
    path = save_checkpoint(tmp_path / "picker.pt", trained)
    loaded = load_checkpoint(path)
    assert loaded.config == trained.config and loaded.priors == trained.priors
    assert loaded.history == trained.history and loaded.radius_voxels == RADIUS
    assert loaded.voxel_size_angstrom == 10.0 and loaded.normalisation == trained.normalisation
    volume = tomogram.volume[:24, :40, :40]
    np.testing.assert_array_equal(predict_score_map(loaded, volume), predict_score_map(trained, volume))
    payload = torch.load(path, weights_only=True)
    assert payload["versions"]["torch"] == torch.__version__ and "unpick" in payload["versions"]


def test_bad_checkpoints_are_rejected(tmp_path):
    with pytest.raises(UnpickInputError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UnpickInputError, match="not a readable unpick checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(UnpickInputError, match="not an unpick deep-picker checkpoint"):
        load_checkpoint(other)


def test_resumed_training_equals_uninterrupted_training(tmp_path, tomogram, pseudo_labels):
    picks, scores = pseudo_labels
    args = dict(radius_voxels=RADIUS, scores=[scores])
    straight = train_picker([tomogram.volume], [picks], config=TINY, checkpoint_dir=tmp_path / "a", **args)
    first = train_picker(
        [tomogram.volume], [picks], config=TINY.replace(epochs=1), checkpoint_dir=tmp_path / "b", **args
    )
    assert len(first.history) == 1
    resumed = train_picker([tomogram.volume], [picks], config=TINY, checkpoint_dir=tmp_path / "b", **args)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=0, atol=0)
    with pytest.raises(UnpickInputError, match="different settings.*loss"):
        train_picker([tomogram.volume], [picks], config=TINY.replace(loss="gekl"), checkpoint_dir=tmp_path / "b", **args)


def test_training_without_a_checkpoint_dir_saves_nothing(monkeypatch, tomogram, pseudo_labels):
    picks, _ = pseudo_labels

    def no_save(*args, **kwargs):
        raise AssertionError("training without checkpoint_dir saved a file")

    monkeypatch.setattr(torch, "save", no_save)
    trained = train_picker([tomogram.volume], [picks], config=TINY, radius_voxels=RADIUS)
    assert [h["epoch"] for h in trained.history] == [1, 2]


def test_the_training_state_holds_what_resume_needs(tmp_path, tomogram, pseudo_labels):
    from unpick.deep._state import load_training_state

    picks, _ = pseudo_labels
    trained = train_picker([tomogram.volume], [picks], config=TINY, radius_voxels=RADIUS, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]  # the temporary file was renamed over it
    state = load_training_state(tmp_path / STATE_FILE, TINY.replace(epochs=5, device="cpu"))
    assert sorted(state) == ["config", "history", "model", "numpy_rng", "optimiser"]
    assert state["history"] == trained.history and state["config"] == TINY.to_dict()
    for name, value in trained.model.state_dict().items():
        torch.testing.assert_close(state["model"][name], value, rtol=0, atol=0)
    assert load_training_state(tmp_path / "missing.pt", TINY) is None
    with pytest.raises(UnpickInputError, match=r"different settings \(batch_size, loss\)"):
        load_training_state(tmp_path / STATE_FILE, TINY.replace(loss="gekl", batch_size=2))


LEARNING = DeepConfig(
    widths=(4, 8, 12, 16), patch_size=32, batch_size=2, epochs=2, iterations_per_epoch=12,
    learning_rate=3e-3, device="cpu", seed=0,
)  # fmt: skip


@pytest.mark.parametrize("loss", ["pn", "nnpu", "gekl"])
def test_each_objective_trains_toward_lower_loss(loss, tomogram, pseudo_labels):
    picks, _ = pseudo_labels
    trained = train_picker([tomogram.volume], [picks], config=LEARNING.replace(loss=loss), radius_voxels=RADIUS)
    losses = [h["loss"] for h in trained.history]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]


def test_refine_chooses_its_threshold_from_the_teacher_and_beats_it(tomogram, pseudo_labels):
    truth = picks_zyx(tomogram.truth)
    picks, scores = pseudo_labels
    teacher_f1 = score_points(picks, truth, radius_voxels=RADIUS)["f1"]
    result = refine_picks(tomogram.volume, picks, config=LEARNING, radius_voxels=RADIUS, scores=scores)
    chosen = result.trained.peak_threshold
    assert chosen is not None and 0 < chosen.threshold < 1 and chosen.n_labelled == len(picks)
    assert result.scores[0].min() >= chosen.threshold
    refined = score_points(result.coords[0], truth, radius_voxels=RADIUS)
    assert refined["f1"] > teacher_f1 + 0.2 and refined["precision"] > 0.85


def test_self_training_adds_true_particles_the_teacher_missed(tomogram):
    """A weak teacher: 40 % of the particles, no false picks. A self-training round adds peaks,
    they are particles, and the final picks recall far more than the teacher did."""
    truth = picks_zyx(tomogram.truth)
    rng = np.random.default_rng(2)
    teacher = truth[rng.permutation(len(truth))[: round(0.4 * len(truth))]]
    config = LEARNING.replace(self_training_rounds=1)  # new peaks: above the PU threshold, flip-consistent
    result = refine_picks(tomogram.volume, teacher, config=config, radius_voxels=RADIUS)
    assert len(result.added_per_round) == 1 and result.added_per_round[0] >= 3
    added = result.pseudo_positives[0][len(teacher) :]
    assert len(added) == result.added_per_round[0]
    assert score_points(added, truth, radius_voxels=RADIUS)["precision"] >= 0.8
    assert result.trained.priors.expected_count >= 1.1 * len(result.pseudo_positives[0]) - 1e-9
    assert score_points(result.coords[0], truth, radius_voxels=RADIUS)["recall"] >= 0.7  # teacher: 0.4


def test_training_bad_inputs(tomogram):
    volume = tomogram.volume
    with pytest.raises(UnpickInputError, match="one \\(N, 3\\) zyx array per volume"):
        train_picker([volume], [], config=TINY, radius_voxels=RADIUS)
    with pytest.raises(UnpickInputError, match="no picks at all"):
        train_picker([volume], [np.zeros((0, 3))], config=TINY, radius_voxels=RADIUS)
    with pytest.raises(UnpickInputError, match="one score per pick"):
        train_picker([volume], [np.ones((2, 3))], config=TINY, radius_voxels=RADIUS, scores=[[1.0]])
    with pytest.raises(UnpickInputError, match="DeepConfig"):
        train_picker([volume], [np.ones((2, 3))], config={"loss": "pn"}, radius_voxels=RADIUS)
    with pytest.raises(UnpickInputError, match="non-empty list"):
        train_picker(volume, [np.ones((2, 3))], config=TINY, radius_voxels=RADIUS)
    with pytest.raises(UnpickInputError, match="3-D"):
        train_picker([volume[0]], [np.ones((2, 3))], config=TINY, radius_voxels=RADIUS)
