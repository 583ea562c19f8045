"""revsearch.learning on small synthetic clusters: refusals, save/load, calibration, review never re-asks."""

from __future__ import annotations

import numpy as np
import pytest

from revsearch.errors import RevsearchError
from revsearch.learning import calibrate, head, review, validate
from revsearch.learning.labelset import LabelSet, NotEnoughLabels


def blobs(n_per: int = 40, classes: int = 3, dim: int = 32, spread: float = 0.6, seed: int = 0):
    """Unit vectors around `classes` random centres; returns (ids, vectors, true class names)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    names = np.repeat([f"k{c}" for c in range(classes)], n_per)
    return np.arange(100, 100 + len(x)), x, names


def some_labels(ids, names, per: int) -> dict[int, str]:
    out: dict[int, str] = {}
    for name in np.unique(names):
        for i in np.flatnonzero(names == name)[:per]:
            out[int(ids[i])] = str(name)
    return out


@pytest.mark.parametrize("labels, words", [
    ({}, "no labelled images"),
    ({100: "k0", 101: "k0", 102: "k0"}, "only one label"),
    ({100: "k0", 140: "k1"}, "too few examples"),
])
def test_too_few_labels_is_a_clear_refusal(labels, words):
    ids, x, _ = blobs()
    with pytest.raises(NotEnoughLabels, match=words):
        head.train(LabelSet.build(ids, x, labels))


def test_head_round_trip_and_apply(tmp_path):
    ids, x, names = blobs()
    trained = head.train(LabelSet.build(ids, x, some_labels(ids, names, 5)), label_version=7, model_fingerprint="fp")
    path = tmp_path / "head.npz"
    trained.save(path)
    loaded = head.load(path)
    assert loaded.meta["label_version"] == 7 and loaded.meta["model_fingerprint"] == "fp"
    assert loaded.classes == ["k0", "k1", "k2"]
    out = head.apply(loaded, x)
    assert out.dtype == np.float32 and out.shape == (len(x), 32 + 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out, head.apply(trained, x))
    assert not list(tmp_path.glob(".head-*"))  # no temp file left behind


def test_load_refuses_damaged_or_foreign_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(RevsearchError):
        head.load(bad)
    ids, x, names = blobs()
    trained = head.train(LabelSet.build(ids, x, some_labels(ids, names, 5)))
    trained.bias = trained.bias[:2]  # shapes no longer agree
    trained.save(tmp_path / "h.npz")
    with pytest.raises(RevsearchError, match="inconsistent"):
        head.load(tmp_path / "h.npz")
    with pytest.raises(RevsearchError, match="do not fit"):
        head.apply(head.train(LabelSet.build(ids, x, some_labels(ids, names, 5))), x[:, :10])


def test_learned_space_beats_raw_on_held_out_labels():
    ids, x, names = blobs(spread=2.0)
    result = validate.validate(LabelSet.build(ids, x, some_labels(ids, names, 10)))
    assert result.learned_map > result.raw_map + 0.05 and result.use_head
    assert 0 < result.gain and result.queries == 30


def test_confident_suggestions_are_right_and_one_label_does_not_spread():
    ids, x, names = blobs(spread=1.0, classes=4)
    labelset = LabelSet.build(ids, x, some_labels(ids, names, 10))
    trained = head.train(labelset)
    suggester = calibrate.build(labelset, trained, validate.validate(labelset))
    unl = ~labelset.labelled
    best, conf = suggester.best(x[unl])
    right = np.array([b == t for b, t in zip(best, names[unl])])
    assert (conf >= 0.9).sum() > 10 and right[conf >= 0.9].mean() >= 0.9
    np.testing.assert_allclose(suggester.probabilities(x).sum(axis=1), 1.0, atol=1e-5)
    # one label on 5 images of k0: other kinds stay below 0.5
    one = LabelSet.build(ids, x, {int(i): "k0" for i in ids[:5]})
    best, conf = calibrate.build(one).best(x)
    others = names != "k0"
    assert not np.any((conf[others] >= 0.5) & np.array([b == "k0" for b in best])[others])


def test_review_never_returns_labelled_images():
    ids, x, names = blobs()
    labels = some_labels(ids, names, 3)
    labelset = LabelSet.build(ids, x, labels)
    first = review.select(LabelSet.build(ids, x, {}), 6)
    assert len({item.id for item in first}) == 6
    suggester = calibrate.build(labelset, head.train(labelset), validate.validate(labelset))
    items = review.select(labelset, 8, suggester)
    assert len(items) == 8 and not {item.id for item in items} & set(labels)
    assert [i.confidence for i in items] == sorted(i.confidence for i in items)
    with pytest.raises(RevsearchError):
        review.select(labelset, 0)


def test_review_covers_kinds_nobody_labelled_yet():
    """Two of four kinds labelled: the coverage half of a round asks about the two kinds no label reaches."""
    ids, x, names = blobs(classes=4, spread=0.3)
    labels = {int(i): str(n) for i, n in zip(ids, names) if n in ("k0", "k1")}
    picks = review.uncovered(LabelSet.build(ids, x, labels), 4)
    assert len(picks) == 4 and {"k2", "k3"} == set(names[picks])


def test_review_asks_where_the_head_hesitates_between_two_labels():
    """Candidates sit on a line from kind k0 to kind k1: the ones asked about are those nearest the middle."""
    ids, x, names = blobs(classes=2, spread=0.2)
    labelset = LabelSet.build(ids, x, some_labels(ids, names, 5))
    suggester = calibrate.build(labelset, head.train(labelset), validate.validate(labelset))
    a, b = x[names == "k0"].mean(axis=0), x[names == "k1"].mean(axis=0)
    t = np.linspace(0, 1, 21)
    line = (1 - t)[:, None] * a + t[:, None] * b
    line /= np.linalg.norm(line, axis=1, keepdims=True)
    both = LabelSet.build(np.arange(len(x) + len(line)), np.vstack([x, line]),
                          {int(i) - 100: n for i, n in some_labels(ids, names, 5).items()})
    candidates = np.arange(len(x), len(x) + len(line))
    picks = review.hesitant(both, candidates, 1, suggester)
    p = suggester.probabilities(line)[:, :2]
    closest = int(np.argmin(np.abs(p[:, 0] - p[:, 1])))
    assert picks == [len(x) + closest] and 5 <= closest <= 15


def test_balanced_weights_give_every_class_the_same_total():
    codes = np.array([0, 0, 0, 0, 1, 2, 2])
    w = head.balanced(codes, 3)
    assert np.allclose(np.bincount(codes, weights=w), 1.0)
    soft = np.array([1.0, 0.5, 0.5, 1.0, 0.2, 1.0, 1.0], dtype=np.float32)
    assert np.allclose(np.bincount(codes, weights=soft * head.balanced(codes, 3, soft)), 1.0)


def test_stratified_sample_keeps_every_class_and_its_share():
    codes = np.repeat([0, 1, 2], [600, 300, 100])
    picked = head.stratified_sample(codes, 100, seed=0)
    assert len(np.unique(picked)) == len(picked) and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(np.bincount(codes[picked]), [60, 30, 10])
    np.testing.assert_array_equal(head.stratified_sample(codes[:50], 100, seed=0), np.arange(50))


def test_large_label_sets_validate_on_a_stratified_sample(monkeypatch):
    """Beyond MAX_VALIDATED labels, validation holds out a sample only, and that still calibrates the suggestions."""
    monkeypatch.setattr(validate, "MAX_VALIDATED", 45)
    ids, x, names = blobs(spread=1.0, classes=3)
    labelset = LabelSet.build(ids, x, some_labels(ids, names, 30))
    result = validate.validate(labelset, folds=3)
    assert len(result.oof_rows) == 45 and result.queries == 45
    assert set(result.oof_rows) <= set(np.flatnonzero(labelset.labelled))
    assert np.all(np.bincount(labelset.codes[result.oof_rows]) == 15)
    assert result.use_head
    suggester = calibrate.build(labelset, head.train(labelset), result)
    best, _ = suggester.best(x[~labelset.labelled])
    assert np.mean([b == t for b, t in zip(best, names[~labelset.labelled])]) > 0.8
