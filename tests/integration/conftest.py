"""Integration fixtures: the real default model and small real collections from clothing-small, built once."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from revsearch.collection import Collection

from revsearch.indexing import index_folder
from revsearch.embed import Embedder

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "clothing-small"


def dataset_rows() -> list[tuple[Path, str]]:
    """(absolute path, label) of every clothing-small photo; skips the test when the dataset is not beside the repo."""
    labels = DATASET / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"clothing-small not found at {DATASET}")
    with open(labels, newline="") as fh:
        return [(DATASET / r["path"], r["label"]) for r in csv.DictReader(fh)]


def subset(per_class: int) -> list[tuple[Path, str]]:
    """The first `per_class` photos of every class, in a stable order."""
    by_class: dict[str, list[Path]] = defaultdict(list)
    for path, label in sorted(dataset_rows()):
        if len(by_class[label]) < per_class:
            by_class[label].append(path)
    return [(p, label) for label, paths in sorted(by_class.items()) for p in paths]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The offline default model on its default backend, loaded once per test session."""
    return Embedder("efficientnet_lite0")


@pytest.fixture(scope="session")
def clothing_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of 12 photos per class in ImageFolder layout, and path → label. Treat as read-only."""
    root = tmp_path_factory.mktemp("clothing") / "photos"
    labels: dict[str, str] = {}
    for path, label in subset(12):
        target = root / label / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        labels[str(target.resolve())] = label
    return root, labels


@pytest.fixture(scope="session")
def clothing_collection_dir(tmp_path_factory: pytest.TempPathFactory, clothing_folder, embedder) -> Path:
    """A collection of `clothing_folder` (120 images), indexed once. Copy it (`fresh_collection`) before writing."""
    directory = tmp_path_factory.mktemp("collections") / "clothing"
    coll = Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim)
    with coll:
        index_folder(coll, clothing_folder[0], embedder)
        coll.index()
    return directory


@pytest.fixture(scope="session")
def devset_collection_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A collection of every clothing-small photo (713, split/class/file layout), indexed once per session.
    Copy it (`devset_copy` in the learning tests) before writing."""
    dataset_rows()  # skips when the dataset is not there
    directory = tmp_path_factory.mktemp("collections") / "clothing-all"
    with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim) as coll:
        index_folder(coll, DATASET, embedder)
        coll.index()
    return directory


@pytest.fixture
def fresh_collection(tmp_path: Path, clothing_collection_dir: Path) -> Collection:
    """A private, writable copy of the clothing collection for one test."""
    directory = tmp_path / "collection"
    shutil.copytree(clothing_collection_dir, directory)
    coll = Collection.open(directory)
    yield coll
    coll.close()


def run(capsys, *args: str) -> tuple[int, str, str]:
    """One `revsearch` command in this process: (exit code, stdout, stderr)."""
    from revsearch.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys, *args: str):
    """The command's `--json` output, asserting it succeeded."""
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def error_line(capsys, *args: str) -> str:
    """The one stderr line of a command that must fail."""
    code, out, err = run(capsys, *args)
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("revsearch: error: "), err
    return lines[0]

