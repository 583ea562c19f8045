"""Inputs, generated once into the work folder and reused across runs.

- 640×480 JPEGs: clothing-small photos resized (quality 90);
- 12-megapixel JPEGs: clothing-small photos upscaled to 4000×3000 with mild sensor-like noise, quality 92, so the
  files weigh what phone photos weigh (~3–5 MB) instead of compressing like a smooth upscale would;
- synthetic vectors: a hierarchical mixture of Gaussians with low-rank spread inside each cluster, L2-normalised,
  written into a collection through `Collection.add_rows` (a big collection in seconds instead of hours of embedding);
- decompression-bomb headers: a few bytes that claim 16000×16000 pixels.
"""

from __future__ import annotations

import csv
import os
import shutil
import struct
import zlib
from io import BytesIO
from pathlib import Path
from typing import Callable

import numpy as np

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = BENCHMARKS_DIR.parent
DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "clothing-small"
GENERATOR_VERSION = 3  # bump when the way inputs are made changes, so cached inputs are remade


def default_work_dir() -> Path:
    base = os.environ.get("REVSEARCH_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "revsearch").expanduser() / "bench"


def dataset_rows(dataset: Path) -> list[tuple[Path, str]]:
    """(path, label) of every clothing-small photo: labels.csv when present, else the ImageFolder layout."""
    labels = dataset / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as fh:
            return sorted((dataset / r["path"], r["label"]) for r in csv.DictReader(fh))
    from revsearch.evaluate import labels_from_folder

    return sorted((Path(p), label) for p, label in labels_from_folder(dataset).items())


def spread(rows: list[tuple[Path, str]], n: int) -> list[Path]:
    """The first n source photos of a fixed shuffle of the dataset: file i always comes from the same photo whatever
    n is (so cached inputs never repeat a source), and every class shows up early."""
    if not rows:
        raise SystemExit("no images in the dataset")
    order = np.random.default_rng(0).permutation(len(rows))
    return [rows[order[i % len(rows)]][0] for i in range(n)]


def make_inputs(kind: str, n: int, rows: list[tuple[Path, str]], work: Path, log: Callable[[str], None]) -> list[Path]:
    """`n` generated JPEGs of `kind` ('vga' 640×480 or 'mp12' 12 MP), cached in `work/<kind>-v…/`."""
    from PIL import Image

    folder = work / f"{kind}-v{GENERATOR_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    sources = spread(rows, max(n, 1))
    out = []
    made = 0
    for i, src in enumerate(sources[:n]):
        target = folder / f"{i:04d}.jpg"
        out.append(target)
        if target.exists():
            continue
        with Image.open(src) as im:
            im = im.convert("RGB")
            landscape = im.width >= im.height
            if kind == "vga":
                size = (640, 480) if landscape else (480, 640)
                im = im.resize(size, Image.Resampling.BICUBIC)
                params = {"quality": 90}
            else:
                size = (4000, 3000) if landscape else (3000, 4000)
                im = _photo_like(im.resize(size, Image.Resampling.BICUBIC), seed=i)
                params = {"quality": 92}
        tmp = target.with_suffix(".tmp")
        im.save(tmp, format="JPEG", **params)
        os.replace(tmp, target)
        made += 1
        if made % 10 == 0:
            log(f"made {made} {kind} inputs")
    return out


def _photo_like(im, seed: int):
    """A smooth upscale plus mild luminance (σ 5) + chroma (σ 2.5) noise: the fine detail a real 12 MP photo
    carries, so the JPEG weighs ~3.5–4 MB (phone photos: 3–5 MB) and decodes at a realistic speed."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    a = np.asarray(im, dtype=np.int16)
    h, w, _ = a.shape
    luma = rng.normal(0.0, 5.0, size=(h, w, 1)).astype(np.float32)
    chroma = rng.normal(0.0, 2.5, size=(h, w, 3)).astype(np.float32)
    noisy = np.clip(a + np.rint(luma + chroma).astype(np.int16), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy)


def link(src: Path, dst: Path) -> None:
    """A hard link (same bytes, same page cache), or a copy where links are refused."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class VectorGen:
    """Clustered synthetic embeddings: super-clusters → clusters, each cluster a low-rank Gaussian plus isotropic
    noise, L2-normalised. Nearest neighbours are mostly same-cluster points close in the cluster's own subspace, as
    with real CNN features; cluster sizes are uneven (Dirichlet)."""

    def __init__(self, dim: int, n_clusters: int, seed: int = 0, rank: int = 16) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.rank = dim, rank
        supers = _unit(rng.standard_normal((max(2, n_clusters // 20), dim), dtype=np.float32))
        parent = rng.integers(0, len(supers), n_clusters)
        self.parent = parent  # super-cluster of each cluster (benchmarks label images by it)
        self.centers = _unit(supers[parent] + 0.9 * _unit(rng.standard_normal((n_clusters, dim), dtype=np.float32)))
        self.bases = rng.standard_normal((n_clusters, rank, dim), dtype=np.float32) / np.sqrt(dim)
        self.bases *= 1.0 / np.sqrt(rank)  # spread ‖z·B‖ ≈ 1 in expectation
        self.weights = rng.dirichlet(np.full(n_clusters, 2.0))

    def fill(self, out: np.ndarray, seed: int) -> np.ndarray:
        """Fill `out` (n × dim float32) with fresh points, cluster by cluster; returns the cluster of each row."""
        rng = np.random.default_rng(seed)
        n = len(out)
        counts = rng.multinomial(n, self.weights)
        labels = np.repeat(np.arange(len(counts)), counts)
        start = 0
        for c, m in enumerate(counts):
            if m == 0:
                continue
            block = out[start : start + m]
            z = rng.standard_normal((m, self.rank), dtype=np.float32)
            np.matmul(z, self.bases[c], out=block)
            block *= 0.9
            block += self.centers[c]
            block += rng.standard_normal((m, self.dim), dtype=np.float32) * np.float32(0.45 / np.sqrt(self.dim))
            start += m
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= norms
        return labels

    def sample(self, n: int, seed: int) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        self.fill(out, seed)
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    gen = VectorGen(dim, n_clusters=max(8, n // 500), seed=seed)
    return gen.sample(n, seed + 1000)


def fill_collection(coll, paths: list[str], vectors: np.ndarray, stamps: tuple[int, int] | None = None) -> list[int]:
    """Indexed 640×480 rows with these vectors, written in one `add_rows` transaction. `stamps` = (size, mtime_ns)
    of the real file behind every path, so a later sync sees those files as unchanged and does not embed them."""
    from revsearch.collection import NewRow

    size, mtime_ns = stamps or (None, None)
    rows = [NewRow(path=p, hash=f"{i:064x}", size=size, mtime_ns=mtime_ns, width=640, height=480)
            for i, p in enumerate(paths)]
    return coll.add_rows(rows, vectors)


def png_bomb(width: int = 16000, height: int = 16000) -> bytes:
    """A 1×1 PNG whose IHDR claims `width × height` (CRC fixed up): a decompression-bomb header."""
    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (1, 1), (255, 0, 0)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_bomb(width: int = 16000, height: int = 16000) -> bytes:
    """An 8×8 JPEG whose SOF0 claims `width × height`."""
    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
