"""What a run measures: sizes per mode (full / quick / smoke) and the rows of issue 5's table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Plan:
    mode: str
    vga: int  # 640×480 images indexed by revsearch
    vga_naive: int  # … and by the naive pipeline (a prefix of the same files)
    mp12: int
    mp12_naive: int
    query_vectors: int
    query_reps: int
    ann_vectors: int
    ann_queries: int
    add_base: int
    umap_points: int
    quality_per_class: int  # 0 = every clothing-small image
    profile_images: int
    rounds: int = 1  # naive and revsearch throughput runs, interleaved; the median of each is reported


PLANS = {
    "full": Plan("full", vga=200, vga_naive=200, mp12=60, mp12_naive=60, query_vectors=100_000, query_reps=60,
                 ann_vectors=1_000_000, ann_queries=200, add_base=10_000, umap_points=10_000, quality_per_class=0,
                 profile_images=12, rounds=3),
    "quick": Plan("quick", vga=64, vga_naive=32, mp12=24, mp12_naive=12, query_vectors=20_000, query_reps=30,
                  ann_vectors=20_000, ann_queries=100, add_base=2_000, umap_points=2_000, quality_per_class=8,
                  profile_images=4),
    "smoke": Plan("smoke", vga=8, vga_naive=8, mp12=8, mp12_naive=4, query_vectors=2_000, query_reps=5,
                  ann_vectors=2_000, ann_queries=20, add_base=200, umap_points=0, quality_per_class=2,
                  profile_images=2),
}

SECTIONS = ("vga", "mp12", "query", "ann", "add", "umap", "quality", "profile")
ROW_KEYS = ("vga", "mp12", "query", "ann", "add", "umap", "quality")


@dataclass
class Row:
    key: str
    measure: str
    naive: str = "—"
    revsearch: str = "n/a"
    target: str = ""
    ratio: str = "—"
    met: bool | None = None  # None: not measured
    note: str = ""

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "n/a"}[self.met]


@dataclass
class Results:
    plan: Plan
    rows: dict[str, Row] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)  # cores used by other processes per measured block


def empty_rows(plan: Plan) -> dict[str, Row]:
    """Every row of the issue's table, unmeasured; sections fill them in."""
    return {
        "vga": Row("vga", f"end-to-end `index` throughput, 640×480 JPEGs ({plan.vga} images)",
                   target="≥ 45 img/s and ≥ 2.5× naive"),
        "mp12": Row("mp12", f"end-to-end `index` throughput, 12-megapixel JPEGs ({plan.mp12} images)",
                    target="≥ 30 img/s and ≥ 5× naive"),
        "query": Row("query", f"query p50, embed + search, {count(plan.query_vectors)}-vector collection",
                     target="≤ 40 ms"),
        "ann": Row("ann", f"ANN at {count(plan.ann_vectors)} vectors: recall@10 vs exact / search p50",
                   target="≥ 0.95 / ≤ 10 ms"),
        "add": Row("add", f"add 10 images to a {count(plan.add_base)} collection", naive="(peers re-index all)",
                   target="< 5 s"),
        "umap": Row("umap", f"UMAP of {count(plan.umap_points)} points / reopening the cached map",
                    target="< 60 s / < 1 s"),
        "quality": Row("quality", "clothing-small mAP: PyTorch path (naive col.) vs fast path",
                       target="within 0.5 points"),
    }


def count(n: int) -> str:
    """10_000 → '10k', 1_000_000 → '1M', as the table names sizes."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)
