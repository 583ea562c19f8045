"""Leave-one-out retrieval quality of a labelled collection: mAP, P@k, recall@k, and the UKBench N-S score.

Each labelled image queries all the others; relevant = same label. These are the numbers users see for their own
data, and what the speed work must not move.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.files import walk_files


def labels_from_csv(path: Path) -> dict[str, str]:
    """`path,label[,…]` rows → absolute path → label; relative paths are taken from the CSV's folder."""
    base = path.parent.resolve()
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise RevsearchError(f"{path}: a labels CSV needs the columns path,label")
        for row in reader:
            if row["path"] and row["label"]:
                out[str((base / row["path"]).resolve())] = row["label"]
    if not out:
        raise RevsearchError(f"{path}: no labelled rows")
    return out


def labels_from_folder(root: Path) -> dict[str, str]:
    """ImageFolder layout (`ROOT/<label>/<file>`): a file's label is the name of the folder that holds it."""
    root = root.resolve()
    out = {str(p): p.parent.name for p in walk_files(root) if p.parent != root}
    if not out:
        raise RevsearchError(f"{root}: no files inside class folders (expected ROOT/<label>/<file>)")
    return out


def retrieval_metrics(vectors: np.ndarray, labels: Sequence[str], ks: Sequence[int] = (1, 5, 10),
                      chunk: int = 1024) -> dict:
    """Leave-one-out metrics over L2-normalised `vectors` with one label each."""
    n = len(labels)
    if n < 2:
        raise RevsearchError("evaluation needs at least 2 labelled images")
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    class_sizes = np.bincount(codes)
    ks = [k for k in ks if k < n]
    ap_sum = 0.0
    evaluated = 0
    precision = {k: 0.0 for k in ks}
    recall = {k: 0.0 for k in ks}
    ns_total = 0.0
    for start in range(0, n, chunk):
        sims = vectors[start : start + chunk] @ vectors.T
        rows = np.arange(start, min(start + chunk, n))
        sims[rows - start, rows] = -np.inf  # leave the query out
        order = np.argsort(-sims, axis=1, kind="stable")[:, : n - 1]
        relevant = codes[order] == codes[rows][:, None]
        n_rel = class_sizes[codes[rows]] - 1
        hits = np.cumsum(relevant, axis=1)
        ranks = np.arange(1, n, dtype=np.float64)
        for i in range(len(rows)):
            if n_rel[i] == 0:
                continue  # a class of one has nothing to retrieve
            evaluated += 1
            ap_sum += float(np.sum((hits[i] / ranks)[relevant[i]]) / n_rel[i])
            for k in ks:
                precision[k] += hits[i, k - 1] / k
                recall[k] += hits[i, k - 1] / n_rel[i]
        if n >= 4:  # top-4 including the query = the query + its top-3 others
            ns_total += float(hits[:, 2].sum()) + len(rows)
    if evaluated == 0:
        raise RevsearchError("every label has a single image: nothing to retrieve")
    result = {
        "images": n, "queries": evaluated, "classes": int(len(class_sizes)),
        "mAP": ap_sum / evaluated,
        **{f"P@{k}": precision[k] / evaluated for k in ks},
        **{f"recall@{k}": recall[k] / evaluated for k in ks},
    }
    if n >= 4 and set(Counter(labels).values()) == {4}:
        result["N-S"] = ns_total / n  # UKBench: mean number of the 4 relevant images in the top 4 (max 4)
    return result


def label_quality(coll: Collection) -> dict | None:
    """Leave-one-out metrics of the collection's own labelled images: how well search separates the user's labels.

    None while fewer than two labels have two indexed images each (nothing meaningful to measure yet).
    """
    from revsearch.labels import labels as image_labels

    labelled = image_labels(coll)
    ids, vectors = coll.vectors(sorted(labelled))
    names = [labelled[int(i)] for i in ids]
    if sum(1 for n in Counter(names).values() if n >= 2) < 2:
        return None
    return retrieval_metrics(vectors, names)
