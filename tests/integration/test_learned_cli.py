"""Learning from labels end to end through the CLI on the 713-photo dev set (real model, real vectors): learn, review,
suggest, search in the learned space (--raw, --positive/--negative), label --from-folders, staleness and refusals."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.conftest import dataset_rows, ok_json, run






def show(capsys, *parts: object) -> None:
    """Measured numbers for the test log (-s), kept out of the captured command output."""
    with capsys.disabled():
        print(*parts)


def copy_of(source: Path, target: Path) -> str:
    shutil.copytree(source, target)
    return str(target)


@pytest.fixture(scope="module")
def truth() -> dict[str, str]:
    return {str(p.resolve()): label for p, label in dataset_rows()}


@pytest.fixture(scope="module")
def learned_dir(tmp_path_factory, devset_collection_dir, truth):
    """A copy of the dev set and 20 labels per class to import.
    Returns (directory, labelled path -> label, the labels CSV); the first test imports and learns."""
    directory = copy_of(devset_collection_dir, tmp_path_factory.mktemp("learned") / "c")
    rng = np.random.default_rng(0)
    by_class: dict[str, list[str]] = {}
    for path, label in sorted(truth.items()):
        by_class.setdefault(label, []).append(path)
    chosen = {p: lab for lab, paths in by_class.items() for p in rng.choice(paths, 20, replace=False)}
    sheet = tmp_path_factory.mktemp("labels") / "labels.csv"
    with open(sheet, "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], *chosen.items()])
    return directory, chosen, sheet


def test_learn_review_suggest_search_end_to_end(capsys, learned_dir, truth, tmp_path):
    directory, chosen, sheet = learned_dir
    queries = sorted(set(truth) - set(chosen))[::70][:10]
    before = ok_json(capsys, "search", *queries, "-c", directory, "-k", "10")
    assert ok_json(capsys, "label", "-c", directory, "--import", str(sheet))["labelled"] == 200
    assert ok_json(capsys, "learn", "-c", directory, "--status")["head"] is False

    result = ok_json(capsys, "learn", "-c", directory)
    show(capsys, "learn:", result)
    assert result["used"] is True and result["labels"] == 200 and result["classes"] == 10
    assert result["gain"] > 0.1 and result["learned_map"] > result["raw_map"]
    assert "better on held-out images" in result["message"]
    status = ok_json(capsys, "learn", "-c", directory, "--status")  # a new process would read the same files
    assert status["head"] and status["current"] and status["labels"] == 200

    # --raw gives exactly the pretrained results; the default now searches the learned space
    assert ok_json(capsys, "search", *queries, "-c", directory, "-k", "10", "--raw") == before
    after = ok_json(capsys, "search", *queries, "-c", directory, "-k", "10")
    assert after != before
    precision = {name: np.mean([truth[h["path"]] == truth[q["query"]] for q in data for h in q["results"]])
                 for name, data in (("raw", before), ("learned", after))}
    show(capsys, "P@10 of the sampled queries:", precision)
    assert precision["learned"] > precision["raw"]

    # review: unlabelled images only, with a suggestion and its confidence
    items = ok_json(capsys, "review", "-c", directory, "-n", "12")
    assert len(items) == 12 and all({"path", "id", "suggested", "confidence"} <= set(i) for i in items)
    assert not {i["path"] for i in items} & set(chosen)

    # calibrated suggestions: among those at >= 0.9, at least 90 % are right (labels the head never saw)
    suggestions = ok_json(capsys, "suggest", "-c", directory)["suggestions"]
    assert not {s["path"] for s in suggestions} & set(chosen)
    confident = [truth[s["path"]] == s["label"] for s in suggestions if s["confidence"] >= 0.9]
    show(capsys, f"suggestions >= 0.9: {len(confident)}, {np.mean(confident):.3f} right")
    assert len(confident) >= 100 and np.mean(confident) >= 0.9
    assert {"id", "path", "label", "confidence", "similarity", "votes", "none"} <= set(suggestions[0])


def test_edited_copies_still_find_their_source_after_learning(capsys, learned_dir, truth, tmp_path):
    directory, _, sheet = learned_dir
    if not ok_json(capsys, "learn", "-c", directory, "--status")["head"]:
        ok_json(capsys, "label", "-c", directory, "--import", str(sheet))
        assert ok_json(capsys, "learn", "-c", directory)["used"]
    sources = sorted(truth)[5::71][:10]
    copies = []
    for n, src in enumerate(sources):
        img = Image.open(src).convert("RGB")
        half = img.resize((img.width // 2, img.height // 2))
        half.save(tmp_path / f"half{n}.jpg", quality=40)
        w, h = img.size
        img.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(tmp_path / f"crop{n}.jpg", quality=90)
        copies += [(tmp_path / f"half{n}.jpg", src), (tmp_path / f"crop{n}.jpg", src)]
    results = ok_json(capsys, "search", *[str(c) for c, _ in copies], "-c", directory, "-k", "1")
    assert [r["results"][0]["path"] for r in results] == [src for _, src in copies]


def test_feedback_moves_results(capsys, learned_dir, truth):
    directory = learned_dir[0]
    by_class: dict[str, list[str]] = {}
    for path, label in sorted(truth.items()):
        by_class.setdefault(label, []).append(path)
    dresses, shirts = by_class["dress"], by_class["t-shirt"]
    liked = ok_json(capsys, "search", "-c", directory, "--positive", *dresses[:2], "-k", "20")[0]["results"]
    assert not {h["path"] for h in liked} & set(dresses[:2])  # the examples themselves are not results
    both = ok_json(capsys, "search", "-c", directory, "--positive", *dresses[:2], "--negative", *shirts[:3],
                   "-k", "20")[0]["results"]
    assert [h["path"] for h in both] != [h["path"] for h in liked]
    disliked = truth[shirts[0]]
    assert sum(truth[h["path"]] == disliked for h in both) <= sum(truth[h["path"]] == disliked for h in liked)
    raw = ok_json(capsys, "search", "-c", directory, "--positive", *dresses[:2], "-k", "20", "--raw")[0]["results"]
    assert all(h["score"] <= 1.0001 for h in raw)
    code, _, err = run(capsys, "search", "-c", directory, "--negative", shirts[0])
    assert code == 2 and "--positive" in err


def test_stale_head_is_used_until_retrained_and_accept_zero_labels_everything(capsys, learned_dir, truth, tmp_path):
    directory = copy_of(Path(learned_dir[0]), tmp_path / "stale")
    if not ok_json(capsys, "learn", "-c", directory, "--status")["head"]:
        ok_json(capsys, "label", "-c", directory, "--import", str(learned_dir[2]))
        assert ok_json(capsys, "learn", "-c", directory)["used"]
    more = sorted(set(truth) - set(learned_dir[1]))[:3]
    ok_json(capsys, "label", "-c", directory, "--image", *more, "--name", truth[more[0]])
    status = ok_json(capsys, "learn", "-c", directory, "--status")
    assert status["head"] and not status["current"] and "learn again" in status["message"]
    assert ok_json(capsys, "learn", "-c", directory)["labels"] == 203
    assert ok_json(capsys, "learn", "-c", directory, "--status")["current"]

    accepted = ok_json(capsys, "suggest", "-c", directory, "--accept-above", "0")["accepted"]
    assert accepted == len(truth) - 203
    assert sum(ok_json(capsys, "label", "-c", directory, "--list")["labels"].values()) == len(truth)
    clusters = ok_json(capsys, "cluster", "-c", directory, "-k", "10", "-q")  # in the learned space: runs, pure-ish
    purity = np.mean([max(np.unique([truth[m] for m in c["members"]], return_counts=True)[1]) / c["size"]
                      for c in clusters["clusters"]])
    show(capsys, f"cluster purity in the learned space: {purity:.3f}")
    assert purity > 0.7


def test_too_few_labels_get_a_message_not_a_head(capsys, devset_collection_dir, truth, tmp_path):
    directory = copy_of(devset_collection_dir, tmp_path / "few")
    paths = sorted(truth)
    first = ok_json(capsys, "learn", "-c", directory)
    assert first["used"] is False and "no labelled images" in first["message"]
    ok_json(capsys, "label", "-c", directory, "--image", paths[0], "--name", truth[paths[0]])
    one = ok_json(capsys, "learn", "-c", directory)
    assert one["used"] is False and "only one label" in one["message"]
    other = next(p for p in paths if truth[p] != truth[paths[0]])
    ok_json(capsys, "label", "-c", directory, "--image", other, "--name", truth[other])
    two = ok_json(capsys, "learn", "-c", directory)
    assert two["used"] is False and "too few examples" in two["message"]
    assert ok_json(capsys, "learn", "-c", directory, "--status")["head"] is False
    assert not list(Path(directory).glob("head-*.npz"))
    assert len(ok_json(capsys, "review", "-c", directory, "-n", "5")) == 5  # representatives first


def test_one_label_does_not_spread_through_suggest(capsys, devset_collection_dir, truth, tmp_path):
    directory = copy_of(devset_collection_dir, tmp_path / "one")
    shoes = [p for p, lab in sorted(truth.items()) if lab == "shoes"][:6]
    ok_json(capsys, "label", "-c", directory, "--image", *shoes, "--name", "shoes")
    suggestions = ok_json(capsys, "suggest", "-c", directory)["suggestions"]
    wrong = [s for s in suggestions if truth[s["path"]] != "shoes" and s["confidence"] >= 0.5]
    assert len(wrong) <= 0.02 * sum(1 for lab in truth.values() if lab != "shoes")


def test_label_from_folders(capsys, devset_collection_dir, truth, tmp_path):
    directory = copy_of(devset_collection_dir, tmp_path / "folders")
    rep = ok_json(capsys, "label", "-c", directory, "--from-folders")
    assert rep["labelled"] == rep["rows"] == len(truth)
    listed = ok_json(capsys, "label", "-c", directory, "--list")
    expected: dict[str, int] = {}
    for label in truth.values():
        expected[label] = expected.get(label, 0) + 1
    assert listed["labels"] == expected
    assert listed["undo"] is not None  # one undoable action
    ok_json(capsys, "label", "-c", directory, "--undo")
    assert ok_json(capsys, "label", "-c", directory, "--list")["labels"] == {}


def test_learned_search_at_scale_equals_an_exact_learned_search(capsys, learned_dir, truth, monkeypatch):
    """Past the learned index's limit a learned-space search scores raw-index candidates with the class half kept in
    memory (learned_search.py, no second index). Forced on the dev set, with candidate lists cut to a tenth of the
    collection so that the class-restricted search has to find what the raw one misses: the same top 10 as the
    exact learned index, with the same scores."""
    from revsearch import learned, learned_search, search
    from revsearch.collection import Collection

    directory, _, sheet = learned_dir
    with Collection.open(directory) as coll:
        if learned.active_head(coll) is None:  # run on its own: import the labels and learn first
            ok_json(capsys, "label", "-c", directory, "--import", str(sheet))
            ok_json(capsys, "learn", "-c", directory)
    with Collection.open(directory) as coll:
        ids, x = coll.vectors()
        queries = x[::7][:100]
        exact = search.search_vectors(coll, queries, 10)
        monkeypatch.setattr(learned, "LEARNED_INDEX_LIMIT", 0)
        assert learned.reranked(coll, learned.resolve(coll, None))
        monkeypatch.setattr(learned_search, "RAW_FETCH", 10)
        monkeypatch.setattr(learned_search, "CLASS_FETCH", 60)
        scaled = search.search_vectors(coll, queries, 10)
        saved = list(Path(directory).glob("learned-*.npz"))
        assert len(saved) == 1
        stamp = saved[0].stat().st_mtime_ns
        raw = search.search_vectors(coll, queries, 10, space="raw")
        monkeypatch.setattr(learned_search, "CLASS_FETCH", 0)
        raw_only = search.search_vectors(coll, queries, 10)
        label = {i: truth[p] for i, p in coll.paths(ids.tolist()).items()}
    monkeypatch.setattr(learned_search, "CLASS_FETCH", 60)
    with Collection.open(directory) as coll:  # after a restart the table is read from its file, not rebuilt
        assert search.search_vectors(coll, queries, 10) == scaled and saved[0].stat().st_mtime_ns == stamp

    def recall(results: list) -> float:
        return float(np.mean([len({h.id for h in r} & {h.id for h in e}) / 10 for r, e in zip(results, exact)]))

    def same(results: list) -> float:
        return float(np.mean([label[h.id] == label[int(q)] for q, r in zip(ids[::7][:100], results) for h in r]))

    show(capsys, f"learned search at scale: recall@10 vs exact {recall(scaled):.3f} (raw candidates alone "
                 f"{recall(raw_only):.3f}); class precision@10 raw {same(raw):.3f}, scale path {same(scaled):.3f}, "
                 f"exact {same(exact):.3f}")
    assert recall(scaled) >= 0.95 and recall(raw_only) < recall(scaled)
    for got, want in zip(scaled, exact):
        scores = {h.id: h.score for h in want}
        assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
        assert all(abs(h.score - scores[h.id]) < 2e-3 for h in got if h.id in scores)

