"""The FAISS index of a collection: a derived cache of the catalog's vectors, saved atomically per generation.

The catalog's `generation` counter moves on every change to the vectors. The index file carries the generation it was
built from in its name, so a stale or half-written index is never trusted: it is rebuilt from the catalog instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

INDEX_PREFIX = "index-"
INDEX_SUFFIX = ".faiss"


def index_file(directory: Path, generation: int) -> Path:
    return directory / f"{INDEX_PREFIX}{generation}{INDEX_SUFFIX}"


def build_flat(ids: np.ndarray, vectors: np.ndarray, dim: int) -> faiss.IndexIDMap2:
    """Exact inner-product index over catalog ids (cosine, since vectors are L2-normalised)."""
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    return index


def load(directory: Path, generation: int) -> faiss.Index | None:
    """The index saved for exactly this generation, or None."""
    path = index_file(directory, generation)
    if not path.exists():
        return None
    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        return None  # unreadable → rebuilt by the caller


def save(index: faiss.Index, directory: Path, generation: int) -> Path:
    """Write atomically (temp + rename), then drop files of older generations."""
    path = index_file(directory, generation)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".tmp")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in directory.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
