"""Pages on a large collection (issue 11: every page opens in seconds on a million images): 50,000 synthetic vectors
with real-looking paths whose files do not exist. The map draws at most its cap of points (a fixed sample, the count
said), every page renders without an error, and thumbnails of the missing files degrade to none. What makes the pages
quick at a million is checked by its contract: Label next reads a bounded sample of vectors, clusters are counted
without reading every member's path, duplicates are compared in the background once and kept in the collection.

No timing assertion: page-open times at scale are measured outside the tests (see the scale section of the report).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from revsearch import clusters, learned, near_duplicates, projection
from revsearch.collection import Collection, NewRow, map_store
from tests.app.conftest import errors, new_app, problems, settled, texts
from ui import maps

N = 50_000
DIM = 64  # small vectors keep building the collection quick; pages never look at the width
PAGES = ["search", "map", "clusters", "label_next", "duplicates", "collections"]


@pytest.fixture(scope="module")
def big_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding one collection of N indexed images, clustered, with a stored map."""
    data = tmp_path_factory.mktemp("big_data")
    directory = data / "collections" / "big"
    directory.parent.mkdir(parents=True)
    (data / "workspace.json").write_text(json.dumps({"demo_built": True}))
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)  # spread out: no near-duplicate pairs
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Collection.create(directory, "efficientnet_lite0", "synthetic", DIM) as coll:
        (directory / "about.json").write_text(json.dumps({"name": "Big", "created_at": time.time(), "demo": False}))
        ids = coll.add_rows([NewRow(path=f"/nonexistent/photos/{i // 1000:03d}/{i:06d}.jpg", hash=f"{i:064x}",
                              size=100_000, mtime_ns=i, width=640, height=480) for i in range(N)], vectors)
        coll.index()
        clusters.recluster(coll, 12)
        # a stored map without a UMAP fit (that takes minutes at this size): positions from two vector coordinates
        xy = vectors[:, :2].astype(np.float64)
        hashes = coll.indexed_hashes()
        map_store.replace(coll, [(i, float(x), float(y), hashes[i]) for i, (x, y) in zip(ids, xy)],
                          {projection.META_GENERATION: coll.generation, projection.META_METHOD: "pca",
                           projection.META_FITS: 1, projection.META_FITTED_N: N,
                           projection.META_SPACE: learned.space_key(coll)}, coll.generation)
    return data


@pytest.fixture
def big_app(big_data: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REVSEARCH_DATA", str(big_data))
    monkeypatch.setenv("REVSEARCH_DEMO", "off")
    at = new_app()
    at.run()
    assert not problems(at) and not errors(at)
    return at


def test_the_map_draws_a_capped_sample_and_says_so(big_app):
    at = big_app.switch_page("app_pages/map.py").run()
    assert not problems(at) and not errors(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    ids = [p[0] for trace in spec["data"] if "customdata" in trace for p in trace["customdata"]]
    assert len(ids) == maps.MAP_LIMIT and len(set(ids)) == len(ids)
    assert f"of the {N:,} images" in texts(at)
    again = json.loads(at.run().get("plotly_chart")[0].proto.spec)  # the sample is fixed: the map does not jump
    assert [p[0] for trace in again["data"] if "customdata" in trace for p in trace["customdata"]] == ids


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_at_scale(big_app, page):
    at = big_app.switch_page(f"app_pages/{page}.py").run()
    assert not problems(at), problems(at)
    assert not errors(at), errors(at)


def test_a_sample_always_holds_the_points_asked_for(big_data):
    with Collection.open(big_data / "collections" / "big") as coll:
        wanted = [7, 49_999, 12_345]
        pts = projection.map_points(coll, update=False, limit=100, include=wanted)
        ids = [p.id for p in pts]
        assert set(wanted) <= set(ids) and 100 <= len(ids) <= 103 and ids == sorted(ids)
        assert projection.map_size(coll) == N
        assert [p.id for p in projection.map_points(coll, update=False, limit=100)] == \
            [p.id for p in projection.map_points(coll, update=False, limit=100)]


def test_duplicates_of_a_large_collection_compare_in_the_background_and_are_kept(big_app, big_data):
    at = big_app.switch_page("app_pages/duplicates.py").run()
    assert not problems(at) and not errors(at)
    assert "runs in the background" in texts(at)
    at.button(key="dup_start").click().run()
    at = settled(at)
    assert not problems(at) and not errors(at)
    assert "runs in the background" not in texts(at)  # compared: groups, or the "no two images" message
    assert ("group" in texts(at)) or ("No two images" in texts(at))
    with Collection.open(big_data / "collections" / "big") as coll:
        assert near_duplicates.scanned(coll, near_duplicates.default_threshold(coll))
        assert not near_duplicates.scanned(coll, 0.8)  # a lower threshold needs a new comparison
    st.cache_data.clear()  # a restart: nothing of the comparison is left in this process's caches
    again = new_app()
    again.run()
    again.switch_page("app_pages/duplicates.py").run()
    assert not problems(again) and not errors(again)
    assert not any(b.key == "dup_start" for b in again.button)  # shown from the kept comparison, no click
    assert ("group" in texts(again)) or ("No two images" in texts(again))


def test_label_next_reads_a_bounded_sample_of_vectors(big_app, big_data):
    with Collection.open(big_data / "collections" / "big") as coll:
        labelled = {3: "a", 4: "a", 40_000: "b", 40_001: "b"}
        labelset = learned.label_set(coll, labelled)
        assert len(labelset.ids) == learned.LABEL_SET_LIMIT + len(labelled) < N
        assert set(labelled) <= set(labelset.ids.tolist()) and int(labelset.labelled.sum()) == len(labelled)
        assert np.array_equal(learned.label_set(coll, labelled).ids, labelset.ids)  # a fixed sample
        items = learned.review(coll, 12)
        assert len(items) == 12 and len({i.id for i in items}) == 12
    at = big_app.switch_page("app_pages/label_next.py").run()
    assert not problems(at) and not errors(at)
    assert len(at.session_state["label_next_round_big"]["items"]) == 12


def test_clusters_page_shows_every_cluster_with_its_count(big_app, big_data):
    at = big_app.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at)
    assert f"**12 clusters** of {N} images" in texts(at)
    sizes = [int(m.group(1).replace(",", "")) for m in re.finditer(r"\*\*([\d,]+)\*\* images? · cohesion", texts(at))]
    assert len(sizes) == 12 and sum(sizes) == N
    with Collection.open(big_data / "collections" / "big") as coll:
        current = clusters.clustering(coll, n_representatives=3, n_outliers=2)
        assert [c.size for c in current.clusters] == sizes
        first = current.clusters[0]
        closest = clusters.members(coll, first.id, limit=5)
        assert [m.id for m in closest] == first.member_ids[:5] and [m.id for m in first.representatives] == \
            first.member_ids[:3] and [m.id for m in first.outliers] == first.member_ids[::-1][:2]
        assert [m.similarity for m in closest] == sorted((m.similarity for m in closest), reverse=True)
