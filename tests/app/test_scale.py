"""Pages on a large collection (issue 11: every page opens in seconds on a million images): 50,000 synthetic vectors
with real-looking paths whose files do not exist. The map draws at most its cap of points (a fixed sample, the count
said), every page renders without an error, and thumbnails of the missing files degrade to none.

No timing assertion: page-open times at scale are measured outside the tests (see the scale section of the report).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from revsearch import clusters, learned, projection
from revsearch.collection import Collection, NewRow, map_store
from tests.app.conftest import errors, new_app, problems, texts
from ui import explore

N = 50_000
DIM = 64  # small vectors keep building the collection quick; pages never look at the width
PAGES = ["search", "explore", "clusters", "label_next", "duplicates", "collections"]


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
    at = big_app.switch_page("app_pages/explore.py").run()
    assert not problems(at) and not errors(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    ids = [p[0] for trace in spec["data"] if "customdata" in trace for p in trace["customdata"]]
    assert len(ids) == explore.MAP_LIMIT and len(set(ids)) == len(ids)
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


def test_duplicates_of_a_large_collection_start_on_a_click(big_app):
    at = big_app.switch_page("app_pages/duplicates.py").run()
    assert not problems(at) and not errors(at)
    assert "takes a minute or more" in texts(at) and "dup_asked" not in at.session_state
    at.button(key="dup_start").click().run(timeout=300)
    assert not problems(at) and not errors(at)
    assert "takes a minute or more" not in texts(at)  # compared: groups, or the "no two images" message
    assert ("group" in texts(at)) or ("No two images" in texts(at))
