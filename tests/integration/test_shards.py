"""Parquet shards: embed → ingest equals a direct index; ingest is incremental; bad shards fail with one clear line;
search --embedding queries with raw vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revsearch.collection import Collection

from tests.integration.scale_helpers import assert_same, cli, make_folder, snapshot


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("shards") / "photos")


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Path:
    target = tmp_path_factory.mktemp("direct") / "coll"
    cli("index", str(folder), "-c", str(target), "-q")
    return target


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Path:
    out = tmp_path_factory.mktemp("out") / "shards"
    done = json.loads(cli("embed", str(folder), "--out", str(out), "--rows-per-shard", "7", "--json", "-q").stdout)
    assert len(done["shards_written"]) == 4 and done["embedded"] == 21 and done["skipped"] == 1
    return out


def test_round_trip_equals_direct_index_and_is_incremental(tmp_path: Path, folder: Path, direct: Path,
                                                           shards: Path) -> None:
    target = tmp_path / "coll"
    first = json.loads(cli("ingest", str(shards), "-c", str(target), "--json", "-q").stdout)
    assert (first["indexed"], len(first["skipped"]), len(first["duplicates"])) == (20, 1, 1)
    assert_same(snapshot(target), snapshot(direct))
    again = json.loads(cli("ingest", str(shards), "-c", str(target), "--json", "-q").stdout)
    assert (again["indexed"], again["updated"], again["unchanged"]) == (0, 0, 22)
    # a resumed embed writes nothing for files already in the shards
    rerun = json.loads(cli("embed", str(folder), "--out", str(shards), "--json", "-q").stdout)
    assert (rerun["shards_written"], rerun["unchanged"]) == ([], 22)


def test_search_by_embedding(tmp_path: Path, direct: Path) -> None:
    with Collection.open(direct) as coll:
        ids, vectors = coll.vectors()
        paths = coll.paths(ids[:3].tolist())
    np.save(tmp_path / "q.npy", vectors[:3])
    out = json.loads(cli("search", "--embedding", str(tmp_path / "q.npy"), "-c", str(direct), "-k", "2",
                         "--json").stdout)
    assert [e["query"] for e in out] == [f"{tmp_path / 'q.npy'}#{n}" for n in range(3)]
    assert [e["results"][0]["path"] for e in out] == [paths[int(i)] for i in ids[:3]]
    np.save(tmp_path / "one.npy", vectors[0].astype(np.float64) * 3)  # 1-D, any float, not normalised: accepted
    assert json.loads(cli("search", "--embedding", str(tmp_path / "one.npy"), "-c", str(direct),
                          "--json").stdout)[0]["results"][0]["path"] == paths[int(ids[0])]
    np.save(tmp_path / "short.npy", vectors[:1, :100])
    bad = cli("search", "--embedding", str(tmp_path / "short.npy"), "-c", str(direct), check=False)
    assert bad.returncode == 2 and "100 dimensions; the collection's have 1280" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def _rewrite(src: Path, dst: Path, change) -> Path:
    """A copy of the first shard with `change(table) -> table` applied (metadata kept unless the change drops it)."""
    dst.mkdir()
    table = change(pq.read_table(src))
    pq.write_table(table, dst / "shard-00000.parquet")
    return dst


def _with_embedding(table: pa.Table, vectors: np.ndarray) -> pa.Table:
    column = pa.array(list(vectors.astype(np.float32)), type=pa.list_(pa.float32()))
    return table.set_column(table.schema.get_field_index("embedding"), "embedding", column)


def _first_vectors(table: pa.Table) -> np.ndarray:
    return np.array([v if v is not None else np.zeros(1280, np.float32)
                     for v in table.column("embedding").to_pylist()], dtype=np.float32)


def _without_input(table: pa.Table) -> dict[bytes, bytes]:
    return {k: v for k, v in table.schema.metadata.items() if k != b"revsearch.input"}


def test_shards_carry_their_input_handling(tmp_path: Path, folder: Path, shards: Path) -> None:
    first = sorted(shards.glob("*.parquet"))[0]
    assert pq.read_schema(first).metadata[b"revsearch.input"] == b"letterbox+native"
    legacy = _rewrite(first, tmp_path / "legacy", lambda t: t.replace_schema_metadata(_without_input(t)))
    cli("ingest", str(legacy), "-c", str(tmp_path / "coll"), "-q")
    with Collection.open(tmp_path / "coll") as coll:
        assert coll.input_mode == "letterbox"  # what shards recording no input handling were made with
    bad = cli("embed", str(folder), "--out", str(shards), "--input", "letterbox", check=False)
    assert bad.returncode == 2 and "holds shards made with input handling 'letterbox+native'" in bad.stderr


def _nan(table: pa.Table) -> pa.Table:
    vectors = _first_vectors(table)
    vectors[3, 5] = np.nan
    return _with_embedding(table, vectors)


@pytest.mark.parametrize("name, change, message", [
    ("wrong-model", lambda t: t.replace_schema_metadata({b"revsearch.model": b"resnet50",
                                                         b"revsearch.fingerprint": b"abc"}),
     "built with model 'efficientnet_lite0'; it cannot be used with 'resnet50'"),
    ("no-metadata", lambda t: t.replace_schema_metadata(None), "does not record revsearch.model"),
    ("other-input", lambda t: t.replace_schema_metadata({**t.schema.metadata, b"revsearch.input": b"letterbox"}),
     "built with input handling 'letterbox+native'; vectors made with 'letterbox' are not comparable"),
    ("no-input", lambda t: t.replace_schema_metadata(_without_input(t)),  # an older revsearch's: letterbox
     "built with input handling 'letterbox+native'; vectors made with 'letterbox' are not comparable"),
    ("missing-column", lambda t: t.drop_columns(["embedding"]), "missing required column 'embedding'"),
    ("nan", _nan, "row 3 ("),
    ("wrong-dim", lambda t: _with_embedding(t, _first_vectors(t)[:, :512]), "512 dimensions, expected 1280"),
    ("not-normalised", lambda t: _with_embedding(t, _first_vectors(t) * 2), "not L2-normalised"),
])
def test_bad_shards_fail_with_one_clear_line(tmp_path: Path, direct: Path, shards: Path, name: str, change,
                                             message: str) -> None:
    bad = _rewrite(sorted(shards.glob("*.parquet"))[0], tmp_path / name, change)
    target = tmp_path / "coll"
    import shutil

    shutil.copytree(direct, target)
    proc = cli("ingest", str(bad), "-c", str(target), "-q", check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revsearch: error: ") and message in lines[0], proc.stderr
    if name == "nan":
        assert "NaN" in lines[0] and "shard-00000.parquet" in lines[0]
