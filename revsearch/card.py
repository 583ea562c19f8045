"""The dataset card every export carries: `README.md` for people and `dataset.json` (versioned schema) for tools.

What it says: where the images come from (collection, model), how many there are per class and split, where the
labels came from (by hand, a cluster's name, an accepted suggestion, an import), how the split was made, what was
excluded and why, what could not be read, and an audit section. The audit section takes a plain dict from whoever
checked the dataset (`write_card(..., audit={...})`, e.g. revsearch's audit), merged over what the card computes
cheaply itself: the split's leak check (revsearch/splits.py `leak_check`).

Where it goes (revsearch/export.py): the root of an ImageFolder export or zip (`README.md`, `dataset.json`); beside
a CSV or JSON file, named after it (`labels.csv` → `labels.csv.README.md`, `labels.csv.dataset.json`); and a JSON
export also holds it under "card" (so a JSON downloaded from the app carries it). A CSV written to a stream has none.

dataset.json, schema_version 1 (keys always present; `splits` null when the collection has no split):
    schema, schema_version, created_at (ISO 8601, UTC), generator, format, layout,
    collection {name, path, model, fingerprint, input, dim, images (counts by status), generation},
    counts {images, labelled, unlabelled, classes, per_split {split: n}, per_class {label: {split: n, total}},
            unlabelled_per_split {split: n}},
    label_sources {source: n}, label_sources_per_class {label: {source: n}},
    splits {names, ratios {split: share}, seed, threshold, at} | null,
    excluded {images, by_reason {reason: n}, list [{path, reason, at}]},
    unreadable [path], audit {leak_check {...}, ...the audit dict's keys}

Public API:
    card_data(coll, rows, fmt, layout, audit=None, unreadable=()) -> dict      the dataset.json content
    render_readme(data) -> str                                                  README.md text of that content
    beside(path, force=False) -> (folder, name)          where the card of a file export goes (refusing old ones)
    write_card(coll, out_dir, rows, fmt, layout, audit=None, unreadable=(), name="", force=False) -> list[Path]
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

from revsearch import __version__, exclusions, splits
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.safe_write import atomic_output

SCHEMA = "revsearch.dataset-card"
SCHEMA_VERSION = 1
README, DATA = "README.md", "dataset.json"
LISTED = 50  # excluded / unreadable images listed in the README (dataset.json lists all)


class CardRow(Protocol):
    """What the card reads of an exported row (revsearch/export.py ExportRow)."""

    label: str | None
    source: str | None
    split: str | None


def card_data(coll: Collection, rows: Iterable[CardRow], fmt: str, layout: str,
              audit: Mapping[str, object] | None = None, unreadable: Sequence[str] = ()) -> dict:
    """The card of an export of `rows` (what was written) in format `fmt` with folder `layout`."""
    rows = list(rows)
    per_class: dict[str, Counter] = {}
    sources: dict[str, Counter] = {}
    per_split, unlabelled = Counter(), Counter()
    for r in rows:
        split = r.split or "all"
        per_split[split] += 1
        if r.label is None:
            unlabelled[split] += 1
            continue
        per_class.setdefault(r.label, Counter())[split] += 1
        sources.setdefault(r.label, Counter())[r.source or "unknown"] += 1
    setting = splits.settings(coll)
    order = {name: n for n, name in enumerate(setting.names if setting is not None else ())}

    def in_order(counts: Counter) -> dict[str, int]:  # train, val, test (then anything else by name)
        return dict(sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    gone = exclusions.excluded(coll)
    meta = {"name": coll.directory.name, "path": str(coll.directory), "model": coll.model,
            "fingerprint": coll.fingerprint, "input": coll.input_mode, "dim": coll.dim, "images": coll.counts(),
            "generation": coll.generation}
    labelled = sum(sum(c.values()) for c in per_class.values())
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "generator": f"revsearch {__version__}",
        "format": fmt, "layout": layout, "collection": meta,
        "counts": {"images": len(rows), "labelled": labelled, "unlabelled": len(rows) - labelled,
                   "classes": len(per_class), "per_split": in_order(per_split),
                   "per_class": {label: {**in_order(c), "total": sum(c.values())}
                                 for label, c in sorted(per_class.items())},
                   "unlabelled_per_split": in_order(unlabelled)},
        "label_sources": dict(sum(sources.values(), Counter()).most_common()),
        "label_sources_per_class": {label: dict(c.most_common()) for label, c in sorted(sources.items())},
        "splits": setting.as_dict() if setting is not None else None,
        "excluded": {"images": len(gone), "by_reason": dict(Counter(e.reason for e in gone.values()).most_common()),
                     "list": [{"path": e.path, "reason": e.reason, "at": e.at} for e in gone.values()]},
        "unreadable": list(unreadable),
        "audit": {"leak_check": splits.leak_check(coll), **(dict(audit) if audit else {})},
    }


def card_paths(out_dir: Path, name: str = "") -> tuple[Path, Path]:
    """(README, dataset.json) paths: the plain names in a folder, `<name>.README.md` … beside a file (`name`: the
    file's whole name, so `labels.csv` and `labels.json` beside each other keep cards of their own)."""
    prefix = f"{name}." if name else ""
    return out_dir / f"{prefix}{README}", out_dir / f"{prefix}{DATA}"


def beside(path: Path | str, force: bool = False) -> tuple[Path, str]:
    """(folder, name) of the card beside a file export; an existing card file is refused (unless `force`) before
    anything is written."""
    path = Path(path).expanduser()
    for target in card_paths(path.parent, path.name):
        if target.exists() and not force:
            raise RevsearchError(f"{target} exists (the dataset card of this export); --force replaces it")
    return path.parent, path.name


def write_card(coll: Collection, out_dir: Path, rows: Iterable[CardRow], fmt: str, layout: str,
               audit: Mapping[str, object] | None = None, unreadable: Sequence[str] = (), name: str = "",
               force: bool = False) -> list[Path]:
    """Write README.md and dataset.json into `out_dir` (each atomically; an existing one only with `force`)."""
    data = card_data(coll, rows, fmt, layout, audit, unreadable)
    readme, data_path = card_paths(Path(out_dir), name)
    for path, text in ((data_path, json.dumps(data, ensure_ascii=False, indent=1) + "\n"),
                       (readme, render_readme(data))):
        with atomic_output(path, force=force, mode="w", encoding="utf-8") as fh:
            fh.write(text)
    return [readme, data_path]


# ---------------------------------------------------------------------------------------------------- README


def render_readme(data: Mapping) -> str:
    """The card as Markdown: summary, counts per class and split, label sources, split, exclusions, audit."""
    c, coll = data["counts"], data["collection"]
    names = [s for s in c["per_split"] if s != "all"] or ["all"]
    lines = [f"# Dataset card: {_md(coll['name'])}", "",
             f"{c['images']:,} images in {c['classes']} classes ({c['labelled']:,} labelled, {c['unlabelled']:,} "
             f"unlabelled), exported as {data['format']} (`{data['layout']}`) by {data['generator']} on "
             f"{data['created_at']}. The same facts for tools: `dataset.json` (schema {data['schema']} "
             f"v{data['schema_version']}).", "",
             "## Images per class and split", "",
             "| class | " + " | ".join(names) + " | total |", "|---|" + "---:|" * (len(names) + 1)]
    for label, by_split in c["per_class"].items():
        lines.append(f"| {_md(label)} | " + " | ".join(f"{by_split.get(s, 0):,}" for s in names)
                     + f" | {by_split['total']:,} |")
    if c["unlabelled"]:
        lines.append("| *(unlabelled)* | " + " | ".join(f"{c['unlabelled_per_split'].get(s, 0):,}" for s in names)
                     + f" | {c['unlabelled']:,} |")
    lines.append("| **all** | " + " | ".join(f"{c['per_split'].get(s, 0):,}" for s in names) + f" | {c['images']:,} |")
    lines += ["", "## Where the labels come from", "",
              "Sources: manual = set by hand, cluster = a named cluster, suggestion = a suggestion accepted (with its "
              "calibrated confidence), import = imported from a CSV or class folders.", "",
              "| source | images |", "|---|---:|", *(f"| {s} | {n:,} |" for s, n in data["label_sources"].items())]
    lines += ["", "## Splits", "", _split_text(data["splits"])]
    lines += _excluded_lines(data["excluded"], data["unreadable"])
    lines += ["", "## Collection", "",
              f"Model `{coll['model']}` ({coll['dim']}-d vectors, input `{coll['input']}`, weights "
              f"{coll['fingerprint'][:12]}…), collection `{_md(coll['path'])}` (generation {coll['generation']}; "
              + ", ".join(f"{n:,} {status}" for status, n in coll["images"].items()) + ")."]
    lines += ["", "## Audit", "", *_audit_lines(data["audit"])]
    return "\n".join(lines) + "\n"


def _split_text(setting: Mapping | None) -> str:
    if setting is None:
        return "No split: the collection has none (`revsearch split -c DIR --ratios 80,10,10` makes one)."
    ratios = ", ".join(f"{name} {100 * r:g} %" for name, r in setting["ratios"].items())
    return (f"{ratios}; seed {setting['seed']}. Stratified by label (unlabelled images as a class of their own). "
            f"Near-duplicates (cosine similarity ≥ {setting['threshold']}) and exact copies were grouped first, and "
            "each group is wholly in one split, so no photo and its near-copy sit on both sides of a split. Images "
            "added later keep the splits of earlier ones and join their group's split.")


def _excluded_lines(excluded: Mapping, unreadable: Sequence[str]) -> list[str]:
    lines = ["", "## Excluded", ""]
    if not excluded["images"]:
        lines.append("Nothing was excluded.")
    else:
        lines += [f"{excluded['images']:,} images were excluded from this export (they stay in the collection):", "",
                  "| reason | images |", "|---|---:|",
                  *(f"| {_md(r)} | {n:,} |" for r, n in excluded["by_reason"].items()), ""]
        lines += [f"- `{_md(e['path'])}`: {_md(e['reason'])}" for e in excluded["list"][:LISTED]]
        if excluded["images"] > LISTED:
            lines.append(f"- … and {excluded['images'] - LISTED:,} more (all in dataset.json)")
    if unreadable:
        lines += ["", f"{len(unreadable):,} originals could not be read and are missing from this export:", ""]
        lines += [f"- `{_md(p)}`" for p in unreadable[:LISTED]]
    return lines


def _audit_lines(audit: Mapping) -> list[str]:
    """Each key of the audit dict as a paragraph: a value inline, a dict as a table, a list by its length and first
    items."""
    lines: list[str] = []
    for key, value in audit.items():
        title = str(key).replace("_", " ")
        if isinstance(value, Mapping):
            lines += [f"**{_md(title)}**", "", "| | |", "|---|---|",
                      *(f"| {_md(str(k))} | {_md(_short(v))} |" for k, v in value.items()), ""]
        elif isinstance(value, (list, tuple)):
            lines += [f"**{_md(title)}**: {len(value):,}", "", *(f"- {_md(_short(v))}" for v in value[:20]), ""]
        else:
            lines += [f"**{_md(title)}**: {_md(_short(value))}", ""]
    return lines or ["No audit results."]


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or line."""
    return str(text).replace("|", "\\|").replace("\n", " ")
