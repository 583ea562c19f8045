#!/usr/bin/env python3
"""A synthetic N-image data directory for timing the app's pages (benchmarks/pages.py) at up to a million images.

    .venv/bin/python benchmarks/synthetic_collection.py --n 1000000 --data /work/data/pages-1m

Writes DATA/workspace.json and DATA/collections/synthetic/ (REVSEARCH_DATA=DATA opens it in the app):

- vectors: benchsuite VectorGen, 1280-d like efficientnet_lite0 (n/500 clusters), as benchmarks/million.py; with
  --duplicates F a share F of the rows are near-copies of another row (cosine ≈ 0.97), for the Duplicates page;
- files: 1,000 hard links (DATA/files/NNNNNN.jpg) to a few dozen clothing-small photos, and 1,000 symlinked folders
  DATA/photos/FFFF -> DATA/files, so each of the N rows has a distinct path that opens a real JPEG while the disk
  holds a few dozen photos (content hashes are distinct too, so every shown image gets its own thumbnail);
- the index (`Collection.index()`), a clustering (`clusters.recluster`, k = --k) and a stored map. The map is laid
  out from a fixed random 2-D projection of the vectors (method "pca"), as tests/app/test_scale.py does: a UMAP fit
  on a 20k sample plus placing a million points takes far longer and is not what the pages' timings are about.

Each stage runs in a child process of its own and prints its seconds and peak RSS. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DIM = 1280
BATCH = 10_000
FILES = 1_000  # distinct file names per folder, and folders (N ≤ FILES²)
PHOTOS = Path("/work/shared/datasets/clothing-small")
NAME = "synthetic"
NEAR_COPY_NOISE = 0.25  # norm of the noise added to a unit vector to make a near-duplicate of it


def collection_dir(data: Path) -> Path:
    return data / "collections" / NAME


def image_path(data: Path, i: int) -> str:
    return str(data / "photos" / f"{i // FILES:04d}" / f"{i % FILES:06d}.jpg")


def stage_files(args: argparse.Namespace) -> dict:
    from benchsuite.inputs import link

    sources = sorted(PHOTOS.rglob("*.jpg"))[:: max(1, len(sorted(PHOTOS.rglob("*.jpg"))) // 48)][:48]
    files, photos = args.data / "files", args.data / "photos"
    files.mkdir(parents=True)
    photos.mkdir()
    for j in range(FILES):
        link(sources[j % len(sources)], files / f"{j:06d}.jpg")
    for f in range((args.n + FILES - 1) // FILES):
        (photos / f"{f:04d}").symlink_to(files, target_is_directory=True)
    (args.data / "workspace.json").write_text(json.dumps({"demo_built": True}))
    return {"sources": len(sources)}


def stage_ingest(args: argparse.Namespace) -> dict:
    import numpy as np

    from benchsuite.inputs import VectorGen
    from benchsuite.measure import hwm_mb
    from revsearch.collection import Collection, NewRow
    from revsearch.embed.models import file_fingerprint, model_entry

    gen = VectorGen(DIM, n_clusters=max(8, args.n // 500), seed=11)
    directory = collection_dir(args.data)
    directory.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    buf = np.empty((BATCH, DIM), dtype=np.float32)
    stamp = (PHOTOS / "labels.csv").stat()
    # the real model's fingerprint: a query photo is embedded by the real model and searched among these vectors
    fingerprint = file_fingerprint(model_entry("efficientnet_lite0").weights_path())
    with Collection.create(directory, "efficientnet_lite0", fingerprint, DIM) as coll:
        (directory / "about.json").write_text(json.dumps({"name": "Synthetic", "created_at": time.time(),
                                                          "demo": False}))
        for start in range(0, args.n, BATCH):
            m = min(BATCH, args.n - start)
            gen.fill(buf[:m], seed=1000 + start)
            rows = [NewRow(path=image_path(args.data, i), hash=f"{i:064x}", size=100_000 + i % 7,
                           mtime_ns=stamp.st_mtime_ns, width=640, height=480) for i in range(start, start + m)]
            vecs = buf[:m][rng.permutation(m)]
            copies = np.flatnonzero(rng.random(m) < args.duplicates) if args.duplicates else np.zeros(0, np.int64)
            copies = copies[copies > 0]
            noise = rng.standard_normal((len(copies), DIM)).astype(np.float32)
            noise *= np.float32(NEAR_COPY_NOISE) / np.linalg.norm(noise, axis=1, keepdims=True)
            vecs[copies] = vecs[copies - 1] + noise  # a near-copy of the row before it: cosine ≈ 0.97
            vecs[copies] /= np.linalg.norm(vecs[copies], axis=1, keepdims=True)
            coll.add_rows(rows, vecs)
    return {"peak_mb": hwm_mb()}


def stage_index(args: argparse.Namespace) -> dict:
    from benchsuite.measure import hwm_mb
    from revsearch.collection import Collection

    with Collection.open(collection_dir(args.data)) as coll:
        coll.index()
        return {"peak_mb": hwm_mb(), "kind": coll.index_info().kind}


def stage_cluster(args: argparse.Namespace) -> dict:
    from benchsuite.measure import hwm_mb
    from revsearch import clusters
    from revsearch.collection import Collection

    with Collection.open(collection_dir(args.data)) as coll:
        clusters.recluster(coll, args.k)
        return {"peak_mb": hwm_mb()}


def stage_map(args: argparse.Namespace) -> dict:
    """Positions = the vectors times a fixed random 1280×2 matrix, stored as the current map, chunk by chunk."""
    import numpy as np

    from benchsuite.measure import hwm_mb
    from revsearch import projection
    from revsearch.collection import Collection

    proj = np.random.default_rng(2).standard_normal((DIM, 2)).astype(np.float32)
    with Collection.open(collection_dir(args.data)) as coll:
        ids, xy = [], []
        with coll.snapshot() as snap:
            generation = snap.generation
            for chunk_ids, vecs in snap.batches(65_536):
                ids.append(chunk_ids)
                xy.append(vecs @ proj)
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        projection.store_layout(coll, ids, np.concatenate(xy) if xy else np.zeros((0, 2), np.float32), "pca",
                                generation)
        return {"points": len(ids), "peak_mb": hwm_mb()}


STAGES = {"files": stage_files, "ingest": stage_ingest, "index": stage_index, "cluster": stage_cluster,
          "map": stage_map}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="a new data directory (REVSEARCH_DATA)")
    p.add_argument("--k", type=int, default=50, help="clusters")
    p.add_argument("--duplicates", type=float, default=0.0,
                   help="share of rows made a near-copy (cosine ≈ 0.97) of the row before them")
    p.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.n > FILES * FILES:
        raise SystemExit(f"--n is at most {FILES * FILES:,}")
    if args.stage:
        print(json.dumps(STAGES[args.stage](args)))
        return 0
    if args.data.exists():
        raise SystemExit(f"{args.data} exists; pick another --data or delete it")
    for name in STAGES:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--stage", name, "--n", str(args.n), "--data",
                              str(args.data), "--k", str(args.k), "--duplicates", str(args.duplicates)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"stage {name} failed")
        print(f"[synthetic] {name}: {time.perf_counter() - started:.0f} s {out.stdout.strip().splitlines()[-1]}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
