"""revsearch.indexing.pairing: the one place a collection meets its model — open or create, and the one check."""

from __future__ import annotations

from pathlib import Path

import pytest

from revsearch.collection import Collection
from revsearch.embed import Embedder
from revsearch.errors import RevsearchError
from revsearch.indexing.pairing import check, open_checked, open_or_create, paired
from revsearch.input_modes import LETTERBOX, TWO_VIEWS


def test_open_or_create_binds_a_new_collection_then_reopens_it_with_its_own_model(tmp_path: Path,
                                                                                   embedder: Embedder) -> None:
    coll, own, created = open_or_create(tmp_path / "c", embedder.name, LETTERBOX, vector_dtype="float16")
    with coll:
        assert created and (coll.model, coll.fingerprint, coll.input_mode) == (own.name, own.fingerprint, LETTERBOX)
        assert coll.vector_dtype.name == "float16"
    coll, own, created = open_or_create(tmp_path / "c")
    with coll:
        assert not created and own.input_mode == LETTERBOX and own.fingerprint == coll.fingerprint


def test_what_does_not_match_is_refused_before_anything_is_written(tmp_path: Path, embedder: Embedder) -> None:
    open_or_create(tmp_path / "c", embedder.name, LETTERBOX)[0].close()
    with pytest.raises(RevsearchError, match="built with input handling 'letterbox'"):
        open_or_create(tmp_path / "c", input_mode=TWO_VIEWS)
    with pytest.raises(RevsearchError, match="built with model 'efficientnet_lite0'"):
        open_or_create(tmp_path / "c", model="resnet50")
    with pytest.raises(RevsearchError, match="not comparable"):
        open_checked(tmp_path / "c", embedder.name, embedder.fingerprint, TWO_VIEWS, embedder.precision)
    assert open_checked(tmp_path / "none", embedder.name, embedder.fingerprint, TWO_VIEWS, embedder.precision) is None
    with Collection.open(tmp_path / "c") as coll:
        assert paired(coll, embedder.for_input(TWO_VIEWS)).input_mode == LETTERBOX  # same model, seen its way
        with pytest.raises(RevsearchError, match="not comparable"):
            paired(coll, embedder.for_input(TWO_VIEWS), same_input=True)  # vectors made elsewhere: refused
        with pytest.raises(RevsearchError, match="other efficientnet_lite0 weights"):
            check(coll, coll.model, "0" * 64)
        assert coll.counts()["indexed"] == 0
