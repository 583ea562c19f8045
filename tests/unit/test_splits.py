"""Splits and exclusions on a real small catalog with synthetic vectors (revsearch/splits.py, exclusions.py):
planted near-copies and exact copies never straddle a split, splits are stable as the collection grows, a re-split
is explicit, and exclusions are reversible with undo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from revsearch import exclusions, labels, splits
from revsearch.collection import Collection, NewRow
from revsearch.errors import RevsearchError

DIM = 32
CLASSES = {"a": 150, "b": 100, "c": 60}


@pytest.fixture
def coll(tmp_path: Path):
    c = Collection.create(tmp_path / "c", "synthetic", "fp", DIM)
    yield c
    c.close()


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near_copy(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A vector at cosine ≈ 0.99 of `v` (random vectors in 32-d sit below 0.7 of each other)."""
    w = v + 0.12 * unit(rng, 1)[0]
    return w / np.linalg.norm(w)


def add(coll: Collection, name: str, vecs: np.ndarray, hashes: list[str] | None = None) -> list[int]:
    rows = [NewRow(f"/photos/{name}{k:04d}.jpg", hashes[k] if hashes else f"{name}{k}") for k in range(len(vecs))]
    return coll.add_rows(rows, vecs)


def populate(coll: Collection, seed: int = 0) -> dict:
    """Labelled images per CLASSES, 20 unlabelled, 30 near-copies of labelled images and 10 exact copies."""
    rng = np.random.default_rng(seed)
    n = sum(CLASSES.values()) + 20
    vecs = unit(rng, n)
    ids = add(coll, "img", vecs)
    names = [name for name, k in CLASSES.items() for _ in range(k)]
    labels.label_each(coll, dict(zip(ids, names)), source="import")
    sources = rng.choice(len(names), 40, replace=False)
    copies = add(coll, "near", np.stack([near_copy(vecs[k], rng) for k in sources[:30]]))
    exact = coll.add_rows([NewRow(f"/photos/dup{k}.jpg", f"img{s}", status="duplicate", duplicate_of=ids[s])
                           for k, s in enumerate(sources[30:])])
    pairs = [(ids[s], c) for s, c in zip(sources[:30], copies)] + [(ids[s], e) for s, e in zip(sources[30:], exact)]
    return {"ids": ids, "pairs": pairs, "vecs": vecs}


def test_planted_copies_never_straddle_and_classes_land_on_the_ratios(coll):
    made = populate(coll)
    rep = splits.make_split(coll, "80,10,10", seed=4)
    where = splits.split_of(coll)
    assert all(where[a] == where[b] for a, b in made["pairs"])
    data = rep.as_dict()
    assert data["leaks"]["total"] == 0 and data["assigned"] == len(where) == 310 + 20 + 30 + 10
    assert data["groups"]["kept_together"] == 40 and data["groups"]["largest"] == 2
    assert data["max_deviation"] < 2.0  # the smallest class has 60 images
    assert set(data["per_class"]) == set(CLASSES) and sum(data["unlabelled"].values()) == 20 + 30 + 10
    assert splits.leak_check(coll)["groups_across_splits"] == 0


def test_growing_keeps_every_split_and_new_copies_join_their_original(coll):
    made = populate(coll)
    splits.make_split(coll, seed=1)
    before = splits.split_of(coll)
    rng = np.random.default_rng(9)
    old = made["ids"][:20]
    fresh = add(coll, "new", np.concatenate([np.stack([near_copy(made["vecs"][k], rng) for k in range(20)]),
                                             unit(rng, 80)]))
    labels.label_each(coll, {i: "a" for i in fresh[20:]}, source="manual")
    rep = splits.make_split(coll)
    after = splits.split_of(coll)
    assert {i: after[i] for i in before} == before
    assert all(after[new] == before[orig] for new, orig in zip(fresh[:20], old))
    assert rep.assigned == 100 and rep.kept == len(before) and not rep.resplit and rep.leaks["total"] == 0
    assert rep.as_dict()["per_class"]["a"]["deviation"] < 3.0  # 230 images of "a" now: still on the ratios
    assert splits.update(coll) is None  # nothing new: nothing to do


def test_other_ratios_need_a_resplit(coll):
    populate(coll)
    splits.make_split(coll, "80,10,10")
    with pytest.raises(RevsearchError, match="--resplit"):
        splits.make_split(coll, "70,15,15")
    rep = splits.make_split(coll, "70,30", resplit=True, seed=2)
    assert rep.resplit and rep.settings.names == ("train", "test") and set(splits.split_of(coll).values()) == {
        "train", "test"}
    assert abs(rep.summary.per_split["test"] / sum(rep.summary.per_split.values()) - 0.3) < 0.01
    for bad in ("80,10", "a,b,c", "0,50,50", "80,-10,30", "1,2,3,4"):
        with pytest.raises(RevsearchError):
            splits.parse_ratios(bad) if bad != "80,10" else splits.make_split(coll, bad)
    assert splits.remove(coll) == 370 and splits.settings(coll) is None and splits.split_of(coll) == {}


def test_a_file_changed_in_place_is_assigned_again(coll):
    made = populate(coll)
    splits.make_split(coll)
    target = made["ids"][0]
    row = coll.get(target)
    coll.add_rows([NewRow(row.path, "changed-content")], unit(np.random.default_rng(3), 1))
    rep = splits.make_split(coll)
    assert rep.assigned == 1 and target in splits.split_of(coll)


def test_excluded_images_get_no_split_and_rejoin_when_taken_back(coll):
    made = populate(coll)
    original, copy = made["pairs"][0]
    assert exclusions.exclude(coll, [original], "blurry") == 1
    splits.make_split(coll)
    where = splits.split_of(coll)
    assert original not in where and copy in where  # the near-copy still takes part
    exclusions.include(coll, [original])
    rep = splits.update(coll)
    assert rep is not None and rep.assigned == 1 and splits.split_of(coll)[original] == where[copy]


def test_exclude_include_and_undo(coll):
    made = populate(coll)
    ids = made["ids"]
    original, dup = made["pairs"][-1]  # an exact copy: excluding one excludes the other
    assert exclusions.exclude(coll, [dup], "  corrupt ") == 2
    assert exclusions.exclude(coll, ids[:3], "off-topic") == 3
    assert exclusions.exclude(coll, ids[:3], "off-topic") == 0  # nothing new: no action recorded
    gone = exclusions.excluded(coll)
    assert gone[original].reason == gone[dup].reason == "corrupt" and gone[ids[0]].path == "/photos/img0000.jpg"
    assert exclusions.last_action(coll).description == "excluded 3 images (off-topic)"
    exclusions.exclude(coll, ids[:1], "blurry")  # a new reason is a change
    assert exclusions.excluded(coll)[ids[0]].reason == "blurry"
    assert exclusions.include(coll, ids[1:2]) == 1 and ids[1] not in exclusions.excluded_ids(coll)

    undone = exclusions.undo(coll)  # the include
    assert undone.restored == 1 and exclusions.excluded(coll)[ids[1]].reason == "off-topic"
    exclusions.include(coll, ids[2:3])  # made since the exclusion of ids[:3]: left alone by its undo
    exclusions.undo(coll)  # the include just made
    exclusions.undo(coll)  # "blurry" on ids[0]: back to "off-topic"
    assert exclusions.excluded(coll)[ids[0]].reason == "off-topic"
    rep = exclusions.undo(coll)  # the three off-topic
    assert rep.restored == 3 and not rep.skipped and exclusions.excluded_ids(coll) == {original, dup}
    exclusions.undo(coll)
    assert exclusions.count(coll) == 0
    with pytest.raises(RevsearchError, match="nothing to undo"):
        exclusions.undo(coll)
    for bad in ("", "   ", "a\x00b", "x" * 501):
        with pytest.raises(RevsearchError):
            exclusions.exclude(coll, ids[:1], bad)
    with pytest.raises(RevsearchError, match="not in this collection"):
        exclusions.exclude(coll, ["/no/such.jpg"], "x")


def test_undo_leaves_an_image_changed_since_alone(coll):
    ids = populate(coll)["ids"]
    exclusions.exclude(coll, ids[:2], "blurry")
    first = exclusions.last_action(coll)
    exclusions.exclude(coll, ids[:1], "dark")
    rep = exclusions.undo(coll, first.id)  # the older action, by id (what an Undo button showed)
    assert rep.restored == 1 and rep.skipped == ["/photos/img0000.jpg"]
    assert exclusions.excluded(coll)[ids[0]].reason == "dark" and ids[1] not in exclusions.excluded_ids(coll)


def test_a_new_image_tying_two_splits_together_is_reported_and_a_resplit_fixes_it(coll):
    populate(coll)
    rng = np.random.default_rng(1)
    a = unit(rng, 20)
    b = 0.85 * a + np.sqrt(1 - 0.85**2) * unit(rng, 20)  # cosine ≈ 0.85 with a: not near-copies of each other
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    a_ids, b_ids = add(coll, "a", a), add(coll, "b", b)
    splits.make_split(coll, seed=3)
    where = splits.split_of(coll)
    k = next(k for k in range(20) if where[a_ids[k]] != where[b_ids[k]])
    bridge = (a[k] + b[k]) / np.linalg.norm(a[k] + b[k])  # cosine ≈ 0.96 with both
    add(coll, "bridge", bridge[None, :])
    rep = splits.make_split(coll)
    assert rep.leaks["total"] >= 1 and rep.leaks["groups_across_splits"] == 1
    named = {p for e in rep.leaks["examples"] for p in (e["a"], e["b"])}
    assert "/photos/bridge0000.jpg" in named and named & {f"/photos/a{k:04d}.jpg", f"/photos/b{k:04d}.jpg"}
    assert {i: splits.split_of(coll)[i] for i in where} == where  # earlier images were not moved to hide it
    fixed = splits.make_split(coll, resplit=True, seed=3)
    assert fixed.leaks["total"] == 0 and splits.leak_check(coll)["groups_across_splits"] == 0
