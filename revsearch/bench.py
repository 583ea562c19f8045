"""The benchmark suite of issue 5: the naive seed-style pipeline and revsearch, side by side in one run.

`python -m revsearch bench [--quick | --smoke] [--out FILE]` (or `python benchmarks/bench.py …`) generates or reads its
inputs, measures every row of the issue's table, prints it and writes BENCHMARKS.md (machine, table with ratios, a
per-stage profile). Not a test: nothing here asserts a time.

Inputs (generated once into the work folder, then reused):
- 640×480 JPEGs: clothing-small photos resized (quality 90);
- 12-megapixel JPEGs: clothing-small photos upscaled to 4000×3000 with mild sensor-like noise, quality 92, so the
  files weigh what phone photos weigh (~3–5 MB) instead of compressing like a smooth upscale would;
- synthetic vectors: a hierarchical mixture of Gaussians with low-rank spread inside each cluster, L2-normalised.

Naive = what a seed project does: full PIL decode, torchvision Resize(256)+CenterCrop(224), one image per forward
pass, PyTorch eager, same Lite0 weights. revsearch = `index_folder` into a fresh collection with default settings,
then `Collection.index()` (what `python -m revsearch index` does). The full run measures both 3 times, interleaved,
and reports medians.

The machine may be shared: every timed block records how many cores other processes used meanwhile (from
/proc/stat), the report flags disturbed numbers, and `--wait-quiet S` waits for quiet and re-measures disturbed runs.
benchmarks/ANALYSIS.md (hand-written: limits and proposals) is appended to the report when present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "clothing-small"
GENERATOR_VERSION = 3  # bump when the way inputs are made changes, so cached inputs are remade


# ---------------------------------------------------------------------------------------------------- plans


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
    k = _k
    return {
        "vga": Row("vga", f"end-to-end `index` throughput, 640×480 JPEGs ({plan.vga} images)",
                   target="≥ 45 img/s and ≥ 2.5× naive"),
        "mp12": Row("mp12", f"end-to-end `index` throughput, 12-megapixel JPEGs ({plan.mp12} images)",
                    target="≥ 30 img/s and ≥ 5× naive"),
        "query": Row("query", f"query p50, embed + search, {k(plan.query_vectors)}-vector collection",
                     target="≤ 60 ms"),
        "ann": Row("ann", f"ANN at {k(plan.ann_vectors)} vectors: recall@10 vs exact / search p50",
                   target="≥ 0.95 / ≤ 10 ms"),
        "add": Row("add", f"add 10 images to a {k(plan.add_base)} collection", naive="(peers re-index all)",
                   target="< 5 s"),
        "umap": Row("umap", f"UMAP of {k(plan.umap_points)} points / reopening the cached map", target="< 60 s / < 1 s"),
        "quality": Row("quality", "clothing-small mAP: PyTorch path (naive col.) vs fast path",
                       target="within 0.5 points"),
    }


def _k(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# ---------------------------------------------------------------------------------------------------- helpers


class Log:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench {time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def median_ms(fn: Callable[[], object], reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


class CpuMeter:
    """CPU used by other processes during a measurement (from /proc/stat minus this process and its children):
    numbers taken while the machine was shared are flagged in the report instead of silently trusted."""

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def snap(self) -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as fh:
                vals = [int(x) for x in fh.readline().split()[1:9]]
        except OSError:
            vals = [0] * 8
        busy = (sum(vals) - vals[3] - vals[4]) / self.hz  # everything but idle and iowait (steal included)
        t = os.times()
        return time.perf_counter(), busy, t[0] + t[1] + t[2] + t[3]

    @staticmethod
    def foreign(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
        """Average number of cores other processes kept busy between two snaps."""
        wall = b[0] - a[0]
        return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / wall) if wall > 0 else 0.0

    def wait_quiet(self, limit_s: float, log: "Log", threshold: float = 0.25) -> float:
        """Wait (up to limit_s) for a 1-second window in which other processes use < threshold cores."""
        deadline = time.perf_counter() + limit_s
        load = 0.0
        while True:
            a = self.snap()
            time.sleep(1.0)
            load = self.foreign(a, self.snap())
            if load < threshold or time.perf_counter() >= deadline:
                return load
            log(f"machine busy ({load:.1f} cores used by other processes); waiting")


def default_work_dir() -> Path:
    base = os.environ.get("REVSEARCH_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "revsearch").expanduser() / "bench"


def rss_mb() -> float:
    return _proc_status("VmRSS") / 1024


def hwm_mb() -> float:
    return _proc_status("VmHWM") / 1024


def _proc_status(key: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def reset_hwm() -> bool:
    """Reset this process's peak-RSS mark (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as fh:
            fields = dict(ln.split(":", 1) for ln in fh.read().split("\n\n")[0].splitlines() if ":" in ln)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "model name" in fields:
            info["cpu"] = fields["model name"]
            if "cpu family" in fields and "model" in fields:
                info["cpu"] += f" (family {fields['cpu family']}, model {fields['model']})"
        with open("/proc/cpuinfo") as fh:
            flags = next((ln.split(":", 1)[1].split() for ln in fh if ln.startswith("flags")), [])
        info["simd"] = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags)
    except OSError:
        pass
    try:
        info["cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as fh:
            total_kb = next(float(ln.split()[1]) for ln in fh if ln.startswith("MemTotal"))
        info["ram_gb"] = round(total_kb / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    versions = {}
    for dist in ("torch", "torchvision", "onnxruntime", "faiss-cpu", "numpy", "pillow", "timm", "umap-learn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "faiss-cpu" not in versions:
        try:
            import faiss

            versions["faiss"] = faiss.__version__
        except Exception:  # noqa: BLE001
            pass
    from PIL import features

    versions["libjpeg-turbo"] = "yes" if features.check_feature("libjpeg_turbo") else "no"
    info["versions"] = versions
    return info


# ---------------------------------------------------------------------------------------------------- inputs


def dataset_rows(dataset: Path) -> list[tuple[Path, str]]:
    """(path, label) of every clothing-small photo: labels.csv when present, else the ImageFolder layout."""
    import csv

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


def make_inputs(kind: str, n: int, rows: list[tuple[Path, str]], work: Path, log: Log) -> list[Path]:
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


class VectorGen:
    """Clustered synthetic embeddings: super-clusters → clusters, each cluster a low-rank Gaussian plus isotropic
    noise, L2-normalised. Nearest neighbours are mostly same-cluster points close in the cluster's own subspace, as
    with real CNN features; cluster sizes are uneven (Dirichlet)."""

    def __init__(self, dim: int, n_clusters: int, seed: int = 0, rank: int = 16) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.rank = dim, rank
        supers = _unit(rng.standard_normal((max(2, n_clusters // 20), dim), dtype=np.float32))
        parent = rng.integers(0, len(supers), n_clusters)
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


def fill_catalog(coll, paths: list[str], vectors: np.ndarray, stamps: tuple[int, int] = (0, 0),
                 chunk: int = 5000) -> None:
    """Insert indexed rows with vectors straight into a fresh collection's catalog, as `sync._record` writes them
    (one transaction, generation bumped once) — a big collection in seconds instead of hours of embedding."""
    encode = getattr(coll, "encode_vector", None) or (lambda v: np.ascontiguousarray(v, dtype=np.float32).tobytes())
    now = time.time()
    size, mtime_ns = stamps
    with coll.transaction() as conn:
        before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0]
        if before:
            raise RuntimeError("fill_catalog expects an empty collection")
        for start in range(0, len(paths), chunk):
            part = paths[start : start + chunk]
            conn.executemany(
                "INSERT INTO images(path, hash, size, mtime_ns, width, height, status, reason, duplicate_of, "
                "added_at, updated_at) VALUES(?, ?, ?, ?, 640, 480, 'indexed', NULL, NULL, ?, ?)",
                [(p, f"synthetic{start + i:032x}"[-32:], size, mtime_ns, now, now) for i, p in enumerate(part)])
            conn.executemany("INSERT INTO vectors(image_id, vec) VALUES(?, ?)",
                             [(start + i + 1, encode(vectors[start + i])) for i in range(len(part))])
        if conn.execute("SELECT MAX(id) FROM images").fetchone()[0] != len(paths):
            raise RuntimeError("catalog ids are not 1..n")
        coll.bump_generation(conn)


# ---------------------------------------------------------------------------------------------------- naive


class Naive:
    """The seed-style pipeline: full decode, Resize(256)+CenterCrop(224), batch 1, PyTorch eager."""

    def __init__(self) -> None:
        import torch
        from torchvision import transforms

        from revsearch.embed.models import LITE0, build_lite0, lite0_weights_path

        self.torch = torch
        self.net = build_lite0(lite0_weights_path()).eval()
        self.transform = transforms.Compose([
            transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
            transforms.Normalize(LITE0.mean, LITE0.std),
        ])

    def decode(self, path: Path):
        from PIL import Image

        with Image.open(path) as im:
            return im.convert("RGB")

    def forward(self, x) -> np.ndarray:
        with self.torch.no_grad():
            feats = self.net(x.unsqueeze(0))
            return self.torch.nn.functional.normalize(feats, dim=1)[0].numpy()

    def embed_file(self, path: Path) -> np.ndarray:
        return self.forward(self.transform(self.decode(path)))

    def index(self, files: list[Path]):
        """Embed every file, one forward pass each, then an exact FAISS index over them."""
        import faiss

        vectors = np.stack([self.embed_file(p) for p in files])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index


# ---------------------------------------------------------------------------------------------------- sections


class Bench:
    def __init__(self, args: argparse.Namespace, plan: Plan, log: Log) -> None:
        self.args, self.plan, self.log = args, plan, log
        self.res = Results(plan, rows=empty_rows(plan))
        self.work = Path(args.work or default_work_dir()).expanduser()
        self.work.mkdir(parents=True, exist_ok=True)
        self.dataset = Path(args.dataset or DEFAULT_DATASET).expanduser()
        self.tmp = Path(tempfile.mkdtemp(prefix="revsearch-bench-"))
        self._embedder = None
        self._naive: Naive | None = None
        self._rows: list[tuple[Path, str]] | None = None
        self.files: dict[str, list[Path]] = {}
        self.meter = CpuMeter()

    def timed(self, label: str, fn: Callable[[], Any], busy: float = 0.3) -> Any:
        """Run `fn` (a timed measurement) and record the machine's other load; with --wait-quiet, a run disturbed by
        other processes is repeated (up to twice) after waiting for quiet, keeping the least disturbed one."""
        best: tuple[float, Any] | None = None
        for attempt in range(3 if self.args.wait_quiet else 1):
            if attempt:
                self.log(f"{label}: other processes used {best[0]:.1f} cores; measuring again")
                self.meter.wait_quiet(self.args.wait_quiet, self.log)
            a = self.meter.snap()
            value = fn()
            load = self.meter.foreign(a, self.meter.snap())
            if best is None or load < best[0]:
                best = (load, value)
            if load < busy:
                break
        self.res.load[label] = max(self.res.load.get(label, 0.0), round(best[0], 2))  # worst round
        return best[1]

    @contextmanager
    def measured(self, label: str):
        """Record how busy the rest of the machine was while `label` was being timed."""
        a = self.meter.snap()
        yield
        self.res.load[label] = round(self.meter.foreign(a, self.meter.snap()), 2)

    # -------------------------------------------------------------- shared resources

    @property
    def rows(self) -> list[tuple[Path, str]]:
        if self._rows is None:
            if not self.dataset.is_dir():
                raise SystemExit(f"clothing-small not found at {self.dataset}; pass --dataset DIR")
            self._rows = dataset_rows(self.dataset)
        return self._rows

    @property
    def embedder(self):
        if self._embedder is None:
            from revsearch.embed import Embedder

            t = time.perf_counter()
            self._embedder = Embedder("efficientnet_lite0")
            self.res.raw["embedder_load_s"] = time.perf_counter() - t
            self.res.raw["backend"] = self._embedder.backend
            size = self._embedder.input_size
            self._embedder.embed_batch(np.zeros((32, size, size, 3), np.uint8))  # warm-up: arenas, kernels
            self._embedder.embed_batch(np.zeros((1, size, size, 3), np.uint8))
        return self._embedder

    @property
    def naive(self) -> Naive:
        if self._naive is None:
            self._naive = Naive()
            self._naive.forward(self._naive.torch.zeros(3, 224, 224))  # warm-up
        return self._naive

    def inputs(self, kind: str) -> list[Path]:
        if kind not in self.files:
            n = {"vga": max(self.plan.vga, self.plan.profile_images, self.plan.query_reps, 21), "mp12": self.plan.mp12}[kind]
            t = time.perf_counter()
            files = make_inputs(kind, n, self.rows, self.work, self.log)
            sizes = [p.stat().st_size for p in files]
            self.res.inputs[kind] = {"files": len(files), "mean_mb": round(float(np.mean(sizes)) / 1e6, 2),
                                     "min_mb": round(min(sizes) / 1e6, 2), "max_mb": round(max(sizes) / 1e6, 2),
                                     "folder": str(files[0].parent), "prepare_s": round(time.perf_counter() - t, 1)}
            for p in files:  # into the page cache for both pipelines alike
                p.read_bytes()
            self.files[kind] = files
        return self.files[kind]

    # -------------------------------------------------------------- throughput (rows 1–2)

    def throughput(self, kind: str) -> None:
        from revsearch.collection import Collection, index_folder

        n, n_naive = (self.plan.vga, self.plan.vga_naive) if kind == "vga" else (self.plan.mp12, self.plan.mp12_naive)
        files = self.inputs(kind)[:n]
        folder = self.tmp / f"{kind}-photos"
        folder.mkdir()
        for p in files:  # hard links: same bytes, same page cache, a folder holding exactly these files
            _link(p, folder / p.name)
        embedder, naive = self.embedder, self.naive
        naive.embed_file(files[0])  # warm-up on the real size
        warm = self.tmp / f"{kind}-warm"
        warm.mkdir()
        for p in files[: min(4, n)]:
            _link(p, warm / p.name)
        with Collection.create(self.tmp / f"{kind}-warm-coll", embedder.name, embedder.fingerprint, embedder.dim) as c:
            index_folder(c, warm, embedder)
        attempts = iter(range(1000))

        def run_naive() -> float:
            t = time.perf_counter()
            naive.index(files[:n_naive])
            return time.perf_counter() - t

        def run_revsearch():
            directory = self.tmp / f"{kind}-coll-{next(attempts)}"
            with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim) as coll:
                t = time.perf_counter()
                report = index_folder(coll, folder, embedder)
                coll.index()
                elapsed = time.perf_counter() - t
            shutil.rmtree(directory, ignore_errors=True)
            return elapsed, report

        naive_runs, rev_runs = [], []
        for r in range(self.plan.rounds):  # interleaved, so drift in the machine's speed hits both alike
            self.log(f"{kind}: naive pipeline on {n_naive} images (round {r + 1}/{self.plan.rounds})")
            naive_runs.append(self.timed(f"{kind} naive", run_naive))
            self.log(f"{kind}: revsearch index on {n} images (round {r + 1}/{self.plan.rounds})")
            elapsed, report = self.timed(f"{kind} revsearch", run_revsearch)
            rev_runs.append(elapsed)
            if report.indexed != n:
                raise RuntimeError(f"revsearch indexed {report.indexed} of {n} inputs (skipped {report.skipped[:2]}, "
                                   f"duplicates {report.duplicates[:2]}): the inputs are not distinct photos")
        naive_s, rev_s = statistics.median(naive_runs), statistics.median(rev_runs)
        naive_ips, rev_ips = n_naive / naive_s, n / rev_s
        ratio = rev_ips / naive_ips
        need_ips, need_ratio = (45.0, 2.5) if kind == "vga" else (30.0, 5.0)
        row = self.res.rows[kind]
        row.naive = f"{naive_ips:.1f} img/s"
        row.revsearch = f"{rev_ips:.1f} img/s"
        row.ratio = f"{ratio:.2f}×"
        row.met = rev_ips >= need_ips and ratio >= need_ratio
        spread = ""
        if len(rev_runs) > 1:
            spread = (f"; median of {len(rev_runs)} interleaved rounds, naive {n_naive / max(naive_runs):.1f}–"
                      f"{n_naive / min(naive_runs):.1f}, revsearch {n / max(rev_runs):.1f}–{n / min(rev_runs):.1f} img/s")
        row.note = (f"naive on {n_naive} images ({naive_s:.1f} s), revsearch on {n} ({rev_s:.1f} s, "
                    f"backend {embedder.backend}){spread}")
        self.res.raw[kind] = {"naive_images": n_naive, "naive_s": naive_s, "naive_ips": naive_ips, "rev_images": n,
                              "rev_s": rev_s, "rev_ips": rev_ips, "ratio": ratio, "indexed": report.indexed,
                              "naive_runs_s": naive_runs, "rev_runs_s": rev_runs}

    # -------------------------------------------------------------- query (row 3)

    def query(self) -> None:
        from revsearch.collection import Collection
        from revsearch.search import Searcher, search_vectors

        n = self.plan.query_vectors
        embedder = self.embedder
        queries = self.inputs("vga")
        self.log(f"query: a {n}-vector collection")
        t = time.perf_counter()
        vectors = synthetic_vectors(n, embedder.dim, seed=1)
        coll = Collection.create(self.tmp / "query-coll", embedder.name, embedder.fingerprint, embedder.dim)
        fill_catalog(coll, [f"/synthetic/query/{i:07d}.jpg" for i in range(n)], vectors)
        del vectors
        fill_s = time.perf_counter() - t
        t = time.perf_counter()
        index = coll.index()
        build_s = time.perf_counter() - t
        info = coll.index_info() if hasattr(coll, "index_info") else None
        kind = info.kind if info is not None else type(index).__name__
        searcher = Searcher(coll, embedder)
        for p in queries[:3]:
            searcher.by_images([p], k=10)  # warm-up
        reps = self.plan.query_reps

        def run_queries() -> list[float]:
            times = []
            for i in range(reps):
                path = queries[i % len(queries)]
                t = time.perf_counter()
                hits = searcher.by_images([path], k=10)
                times.append(time.perf_counter() - t)
                assert len(hits[0]) == 10
            return times

        total = self.timed("query", run_queries)
        embed, search, faiss_only = [], [], []
        for i in range(reps):
            path = queries[i % len(queries)]
            t = time.perf_counter()
            vec = searcher.embed([path])
            embed.append(time.perf_counter() - t)
            t = time.perf_counter()
            search_vectors(coll, vec, 10)
            search.append(time.perf_counter() - t)
            t = time.perf_counter()
            index.search(vec, 10)
            faiss_only.append(time.perf_counter() - t)
        coll.close()
        p50, p95 = pct(total, 50) * 1e3, pct(total, 95) * 1e3
        row = self.res.rows["query"]
        row.revsearch = f"{p50:.1f} ms (p95 {p95:.1f})"
        row.met = p50 <= 60.0
        e50, s50, f50 = pct(embed, 50) * 1e3, pct(search, 50) * 1e3, pct(faiss_only, 50) * 1e3
        row.note = (f"{reps} real 640×480 query photos, Searcher.by_images k=10; index {kind}; "
                    f"embed p50 {e50:.1f} ms + search p50 {s50:.1f} ms (FAISS alone {f50:.1f} ms)")
        self.res.raw["query"] = {"vectors": n, "index": kind, "p50_ms": p50, "p95_ms": p95, "embed_p50_ms": e50,
                                 "search_p50_ms": s50, "faiss_p50_ms": f50, "fill_s": fill_s, "index_build_s": build_s}

    # -------------------------------------------------------------- ANN (row 4), in a child process for memory

    def ann(self) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        params = {"n": self.plan.ann_vectors, "queries": self.plan.ann_queries, "dim": self.args.ann_dim,
                  "budget_mb": self.args.mem_gb * 1024, "want_dim": 1280}
        self.log(f"ann: {params['n']} vectors in a child process (memory budget {self.args.mem_gb:g} GB)")
        with self.measured("ann"):
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                out = pool.submit(ann_worker, params).result()
        self.res.raw["ann"] = out
        row = self.res.rows["ann"]
        if "error" in out:
            row.note = out["error"]
            return
        row.measure += f", dim {out['dim']}"
        row.revsearch = f"{out['recall']:.3f} / {out['p50_ms']:.2f} ms"
        row.met = out["recall"] >= 0.95 and out["p50_ms"] <= 10.0
        row.note = (f"{out['kind']}, nprobe {out['nprobe']} (calibrated by build: recall {out['build_recall']:.3f}); "
                    f"{out['queries']} held-out queries; p95 {out['p95_ms']:.2f} ms; exact search p50 "
                    f"{out['exact_p50_ms']:.0f} ms; build {out['build_s']:.0f} s; peak RSS {out['peak_mb'] / 1024:.1f} GB"
                    + (f"; {out['dim_why']}" if out.get("dim_why") else ""))

    # -------------------------------------------------------------- add 10 + UMAP (rows 5–6)

    def add_and_umap(self, do_add: bool, do_umap: bool) -> None:
        from revsearch.collection import Collection, index_folder

        embedder = self.embedder
        base_n = max(self.plan.add_base if do_add else 0, self.plan.umap_points if do_umap else 0)
        root = self.tmp / "add" / "photos"
        (root / "old").mkdir(parents=True)
        seed_file = self.inputs("vga")[0]
        self.log(f"add/umap: a {base_n}-image collection (synthetic vectors, real files)")
        paths = []
        for i in range(base_n):
            p = root / "old" / f"{i:06d}.jpg"
            _link(seed_file, p)
            paths.append(str(p.resolve()))
        st = seed_file.stat()
        directory = self.tmp / "add" / "coll"
        coll = Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim)
        fill_catalog(coll, paths, synthetic_vectors(base_n, embedder.dim, seed=2), stamps=(st.st_size, st.st_mtime_ns))
        coll.index()
        if do_umap and self.plan.umap_points:
            self.umap(coll, directory)
            coll = Collection.open(directory)
        if do_add:
            self.add10(coll, directory, root)
        coll.close()

    def umap(self, coll, directory: Path) -> None:
        from revsearch.collection import Collection

        row = self.res.rows["umap"]
        try:
            from revsearch import projection
        except ImportError as exc:
            row.note = f"revsearch.projection not available ({exc})"
            return
        n = coll.counts()["indexed"]
        self.log(f"umap: fitting {n} points")
        with self.measured("umap"):
            t = time.perf_counter()
            upd = projection.update_map(coll)
            fit_s = time.perf_counter() - t
        coll.close()
        reopen = []
        for _ in range(3):
            t = time.perf_counter()
            c = Collection.open(directory)
            pts = projection.map_points(c)
            reopen.append(time.perf_counter() - t)
            c.close()
        reopen_s = min(reopen[1:] or reopen)
        first_s = reopen[0]
        with Collection.open(directory) as c:  # the same fit again, numba's JIT already paid in this process
            t = time.perf_counter()
            projection.update_map(c, force=True)
            refit_s = time.perf_counter() - t
        row.revsearch = f"{fit_s:.1f} s / {first_s:.2f} s"
        row.met = fit_s < 60.0 and first_s < 1.0
        row.note = (f"update_map → {upd.action} ({upd.method}, {upd.points} points); first fit in the process, so it "
                    f"includes importing UMAP and numba's JIT; the same fit again: {refit_s:.1f} s. Reopen = "
                    f"Collection.open + map_points ({len(pts)} points), warm repeats {reopen_s:.2f} s")
        self.res.raw["umap"] = {"points": n, "fit_s": fit_s, "reopen_first_s": first_s, "reopen_warm_s": reopen_s,
                                "refit_warm_s": refit_s, "action": upd.action, "method": upd.method}

    def add10(self, coll, directory: Path, root: Path) -> None:
        from revsearch.collection import index_folder

        embedder = self.embedder
        fresh = self.inputs("vga")
        base = coll.counts()["indexed"]

        def add_folder(name: str, picks: list[Path]) -> None:
            (root / name).mkdir()
            for p in picks:
                shutil.copyfile(p, root / name / p.name)  # own files: not links to already-indexed content

        add_folder("new1", fresh[1:11])
        self.log(f"add: 10 new images into {base} (in process)")
        with self.measured("add in-process"):
            t = time.perf_counter()
            report = index_folder(coll, root, embedder)
            coll.index()
            inproc_s = time.perf_counter() - t
        coll.close()
        add_folder("new2", fresh[11:21])
        self.log("add: 10 more through the CLI (fresh process)")
        cmd = [sys.executable, "-m", "revsearch", "index", str(root), "--collection", str(directory), "--quiet",
               "--json"]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with self.measured("add CLI"):
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO_ROOT))
            cli_s = time.perf_counter() - t
        self.res.raw["cli_index_stderr"] = proc.stderr[-2000:]
        cli = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
        naive_ips = self.res.raw.get("vga", {}).get("naive_ips")
        row = self.res.rows["add"]
        row.revsearch = f"{cli_s:.2f} s CLI / {inproc_s:.2f} s in-process"
        if naive_ips:
            est = (base + 10) / naive_ips
            row.naive = f"re-index all: ~{est / 60:.0f} min (est.)"
            row.ratio = f"{est / cli_s:.0f}×"
        ok = report.indexed == 10 and report.unchanged == base and cli.get("indexed") == 10
        row.met = cli_s < 5.0 and ok
        row.note = (f"in process: index_folder + index() with the model loaded ({report.indexed} new, "
                    f"{report.unchanged} unchanged); CLI: `python -m revsearch index` in a new process, imports and "
                    f"model load included ({cli.get('indexed', '?')} new, {cli.get('unchanged', '?')} unchanged)"
                    + ("" if proc.returncode == 0 else f"; CLI failed: {proc.stderr.strip()[-200:]}"))
        self.res.raw["add"] = {"base": base, "inproc_s": inproc_s, "cli_s": cli_s, "cli": cli,
                               "inproc": {"indexed": report.indexed, "unchanged": report.unchanged}}

    # -------------------------------------------------------------- quality (row 7)

    def quality(self) -> None:
        from revsearch import images
        from revsearch.evaluate import retrieval_metrics

        embedder = self.embedder
        rows = self.rows
        if self.plan.quality_per_class:
            per: dict[str, int] = {}
            picked = []
            for path, label in rows:
                if per.get(label, 0) < self.plan.quality_per_class:
                    per[label] = per.get(label, 0) + 1
                    picked.append((path, label))
            rows = picked
        self.log(f"quality: {len(rows)} clothing-small images through both backends")
        arrays, labels = [], []
        for path, label in rows:
            img = images.load_image(path, target=embedder.input_size)
            if isinstance(img, images.Skip):
                continue
            arrays.append(embedder.prepare(img))
            labels.append(label)
        batch = np.stack(arrays)
        with self.measured("quality"):
            fast = np.concatenate([embedder.embed_batch(batch[i : i + 32]) for i in range(0, len(batch), 32)])
            ref = np.concatenate([embedder.embed_batch_torch(batch[i : i + 32]) for i in range(0, len(batch), 32)])
        m_fast, m_ref = retrieval_metrics(fast, labels), retrieval_metrics(ref, labels)
        cos = np.sum(fast * ref, axis=1)
        diff = (m_fast["mAP"] - m_ref["mAP"]) * 100
        row = self.res.rows["quality"]
        if self.plan.quality_per_class:
            row.measure += f" ({len(labels)}-image subset)"
        row.naive = f"{m_ref['mAP'] * 100:.2f}"
        row.revsearch = f"{m_fast['mAP'] * 100:.2f} ({embedder.backend})"
        row.ratio = f"{diff:+.2f} pts"
        row.met = abs(diff) <= 0.5 and float(cos.min()) >= 0.999
        row.note = (f"leave-one-out over {len(labels)} images, same decoded inputs; per-image cosine fast vs torch: "
                    f"min {cos.min():.6f}, mean {cos.mean():.6f}; P@1 {m_ref['P@1']:.3f} vs {m_fast['P@1']:.3f}")
        self.res.raw["quality"] = {"images": len(labels), "torch": m_ref, "fast": m_fast, "diff_points": diff,
                                   "cos_min": float(cos.min()), "cos_mean": float(cos.mean())}

    # -------------------------------------------------------------- profile

    def profile(self) -> None:
        """Each stage alone, per image, single thread (the model: as the pipelines run it)."""
        self.embedder, self.naive  # noqa: B018 - load both before timing
        self.res.profile = self.timed("profile", self._profile_once)

    def _profile_once(self) -> dict[str, Any]:
        from PIL import Image

        from revsearch import images
        from revsearch.files import content_hash

        embedder, naive = self.embedder, self.naive
        n = self.plan.profile_images
        prof: dict[str, Any] = {}
        for kind in ("vga", "mp12"):
            files = self.inputs(kind)[:n]
            self.log(f"profile: {kind}, {len(files)} images")
            st: dict[str, float] = {}

            def per_image(fn: Callable[[Path], object]) -> float:
                fn(files[0])
                t = time.perf_counter()
                for p in files:
                    fn(p)
                return (time.perf_counter() - t) / len(files) * 1e3

            st["read file"] = per_image(lambda p: p.read_bytes())
            st["hash (BLAKE2b, includes read)"] = per_image(content_hash)
            st["probe (header)"] = per_image(images.probe)
            st["decode, full (naive)"] = per_image(naive.decode)
            st["decode, JPEG draft (revsearch)"] = per_image(lambda p: images.load_image(p, target=224))
            fulls = [naive.decode(p) for p in files[: min(len(files), 4)]]
            drafts = [images.load_image(p, target=224) for p in files]
            i_full = iter(range(10**9))
            st["Resize(256)+CenterCrop+ToTensor (naive)"] = _per_item(
                lambda: naive.transform(fulls[next(i_full) % len(fulls)]), len(fulls) * 2)
            i_draft = iter(range(10**9))
            st["prepare: letterbox resize (revsearch)"] = _per_item(
                lambda: embedder.prepare(drafts[next(i_draft) % len(drafts)]), len(drafts) * 2)
            prof[kind] = st
            prof[f"{kind}_draft_size"] = "×".join(map(str, drafts[0].size))
        size = embedder.input_size
        batch = np.stack([embedder.prepare(images.load_image(p, target=224)) for p in (self.inputs("vga") * 32)[:32]])
        model: dict[str, float] = {}
        model[f"{embedder.backend}, batch 32, per image"] = median_ms(lambda: embedder.embed_batch(batch), 3) / 32
        model[f"{embedder.backend}, batch 1"] = median_ms(lambda: embedder.embed_batch(batch[:1]), 10)
        x = naive.torch.zeros(3, size, size)
        model["PyTorch eager, batch 1 (naive)"] = median_ms(lambda: naive.forward(x), 10)
        model["PyTorch channels_last, batch 32, per image (torch path)"] = median_ms(
            lambda: embedder.embed_batch_torch(batch), 2) / 32
        prof["model"] = model
        prof["threads"] = {"torch": naive.torch.get_num_threads(), "cores": self.res.machine.get("cores")}
        return prof


def _per_item(fn: Callable[[], object], reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ---------------------------------------------------------------------------------------------------- ANN worker


def ann_worker(params: dict) -> dict:
    """Runs in a fresh process: pick the dimension that fits the memory budget, build with
    `vector_index.build`, then measure recall@10 against exact search on held-out queries and single-query latency."""
    import faiss

    try:
        from revsearch.collection import vector_index
    except ImportError as exc:
        return {"error": f"vector_index unavailable: {exc}"}
    if not hasattr(vector_index, "build"):
        return {"error": "revsearch.collection.vector_index has no ANN `build` yet"}
    n, budget = params["n"], params["budget_mb"]
    dim, why = params.get("dim"), ""
    if not dim and 400 + 6 * n * params["want_dim"] * 4 / 2**20 <= budget:
        dim = params["want_dim"]  # fits even if build() needed 6× its input
    if not dim:
        # How many bytes does build() need per float of input? Measure it on a small probe, then size the real run.
        base = rss_mb()
        can_reset = reset_hwm()
        pn, pd = 30_000, 192
        probe = synthetic_vectors(pn, pd, seed=7)
        vector_index.build(np.arange(1, pn + 1, dtype=np.int64), probe, pd, exact_limit=0)
        peak = hwm_mb() if can_reset else None
        del probe
        factor = max(1.0, (peak - base) / (pn * pd * 4 / 2**20)) if peak else 4.0
        fixed = rss_mb() + 300  # interpreter, faiss, queries, slack
        dim = 0
        for cand in (params["want_dim"], 1024, 768, 640, 512, 448, 384, 256, 128):
            if fixed + factor * n * cand * 4 / 2**20 <= budget:
                dim = cand
                break
        dim = dim or 128
        if dim != params["want_dim"]:
            why = (f"dim {dim}, not {params['want_dim']}: build() peaks at {factor:.1f}× the input's size, "
                   f"{params['want_dim']}-d would need ~{(fixed + factor * n * params['want_dim'] * 4 / 2**20) / 1024:.1f} GB")
    reset_hwm()
    gen = VectorGen(dim, n_clusters=max(8, n // 500), seed=3)
    t = time.perf_counter()
    vectors = np.empty((n, dim), dtype=np.float32)
    chunk = 100_000
    for start in range(0, n, chunk):
        gen.fill(vectors[start : start + chunk], seed=10_000 + start)
    gen_s = time.perf_counter() - t
    ids = np.arange(1, n + 1, dtype=np.int64)
    t = time.perf_counter()
    index, info = vector_index.build(ids, vectors, dim, exact_limit=0)
    build_s = time.perf_counter() - t
    queries = gen.sample(params["queries"], seed=99)
    t = time.perf_counter()
    _, truth_rows = faiss.knn(queries, vectors, 10, faiss.METRIC_INNER_PRODUCT)
    truth = ids[truth_rows]
    exact_batch_s = time.perf_counter() - t
    exact_one = []
    for i in range(3):
        t = time.perf_counter()
        faiss.knn(queries[i : i + 1], vectors, 10, faiss.METRIC_INNER_PRODUCT)
        exact_one.append(time.perf_counter() - t)
    _, got = index.search(queries, 10)
    recall = float(np.mean([len(set(g) & set(tr)) / 10 for g, tr in zip(got.tolist(), truth.tolist())]))
    for i in range(min(10, len(queries))):
        index.search(queries[i : i + 1], 10)
    lat = []
    for i in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[i : i + 1], 10)
        lat.append(time.perf_counter() - t)
    return {"n": n, "dim": dim, "dim_why": why, "kind": info.kind, "nprobe": info.nprobe,
            "build_recall": info.recall_at_10 if info.recall_at_10 is not None else float("nan"),
            "recall": recall, "p50_ms": pct(lat, 50) * 1e3, "p95_ms": pct(lat, 95) * 1e3, "queries": len(queries),
            "exact_p50_ms": statistics.median(exact_one) * 1e3, "exact_batch_s": exact_batch_s, "gen_s": gen_s,
            "build_s": build_s, "peak_mb": hwm_mb(), "bytes_per_vector": info.bytes_per_vector,
            "mean_nn_cos": float(np.mean(np.sum(queries * vectors[truth_rows[:, 0]], axis=1)))}


# ---------------------------------------------------------------------------------------------------- report


def render(res: Results, command: str, total_s: float) -> str:
    m = res.machine
    v = m.get("versions", {})
    lines = [
        "# revsearch benchmarks",
        "",
        f"Measured by `{command}` ({res.plan.mode} run, {total_s / 60:.1f} min) on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}. Naive and revsearch run side by side in the same process on the same "
        "files; ratios compare numbers from this run only. Regenerate with the command above.",
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu')} — {m.get('cores')} cores usable" + (f" ({m['simd']})" if m.get("simd") else ""),
        f"- RAM: {m.get('ram_gb')} GB · {m.get('os')} · Python {m.get('python')}",
        "- " + " · ".join(f"{k} {val}" for k, val in v.items()),
        f"- revsearch backend: {res.raw.get('backend', '?')} (embedder load {res.raw.get('embedder_load_s', 0):.1f} s)",
        "",
        "## Targets (issue 5)",
        "",
        "| measure | naive (measured) | revsearch (measured) | target | ratio | met? |",
        "|---|---|---|---|---|---|",
    ]
    for key in ROW_KEYS:
        r = res.rows[key]
        lines.append(f"| {r.measure} | {r.naive} | {r.revsearch} | {r.target} | {r.ratio} | {r.met_text} |")
    busy = {label: v for label, v in res.load.items() if v >= 0.25}
    if busy:
        lines += ["", f"**Shared machine:** other processes kept CPU cores busy during some measurements ("
                  + ", ".join(f"{label}: {v:.1f} of {m.get('cores')} cores" for label, v in busy.items())
                  + "); those numbers understate what this machine does when idle. Rerun with --wait-quiet 60."]
    lines += ["", "Notes per row (cores used by other processes while each was timed in brackets):", ""]
    for key in ROW_KEYS:
        r = res.rows[key]
        loads = [f"{label} {v:.2f}" for label, v in res.load.items() if label.split()[0] == key]
        if r.note or loads:
            lines.append(f"- **{key}**: {r.note}" + (f" [other load: {', '.join(loads)}]" if loads else ""))
    lines += ["", "## Profile: where the time goes (per image, each stage alone)", ""]
    if "profile" in res.load:
        lines += [f"Other processes used {res.load['profile']:.2f} cores while this was measured.", ""]
    prof = res.profile
    if prof:
        lines += render_profile(res)
    else:
        lines.append("not measured in this run")
    if res.inputs:
        lines += ["", "## Inputs", ""]
        for kind, d in res.inputs.items():
            what = "640×480 (resized clothing-small, q90)" if kind == "vga" else \
                "12 MP 4000×3000 (upscaled clothing-small + mild noise, q92)"
            lines.append(f"- {what}: {d['files']} files, {d['mean_mb']} MB mean ({d['min_mb']}–{d['max_mb']} MB), "
                         f"cached in `{d['folder']}`")
        lines.append("- vectors: synthetic clustered 1280-d (hierarchical mixture of Gaussians, low-rank spread per "
                     "cluster, L2-normalised), inserted straight into the catalog")
    analysis = REPO_ROOT / "benchmarks" / "ANALYSIS.md"
    if analysis.is_file():
        lines += ["", analysis.read_text(encoding="utf-8").strip()]
    lines += ["", "Stage wall times (s): " + ", ".join(f"{k} {s:.0f}" for k, s in res.seconds.items()), ""]
    return "\n".join(lines)


def render_profile(res: Results) -> list[str]:
    prof = res.profile
    stages = list(prof.get("mp12", prof.get("vga", {})).keys())
    lines = [f"| stage (1 thread unless noted) | 640×480 ms | 12 MP ms |", "|---|---|---|"]
    for s in stages:
        a = prof.get("vga", {}).get(s)
        b = prof.get("mp12", {}).get(s)
        lines.append(f"| {s} | {_f(a)} | {_f(b)} |")
    lines += ["", f"JPEG draft decodes 640×480 to {prof.get('vga_draft_size')} and 12 MP to "
                  f"{prof.get('mp12_draft_size')} (DCT scaling, short side ≥ 224).", "",
              "| model (all cores) | ms |", "|---|---|"]
    for s, val in prof.get("model", {}).items():
        lines.append(f"| {s} | {_f(val)} |")
    lines += ["", "CPU budget from these stage timings (each measured alone; run-to-run noise on this VM is ±10–15 %):", "",
              *budget_lines(res)]
    return lines


def budget_lines(res: Results) -> list[str]:
    """What the stages predict for the pipeline on this machine, next to what it measured."""
    prof = res.profile
    cores = res.machine.get("cores") or 1
    model = next((v for k, v in prof.get("model", {}).items() if "batch 32" in k and "channels_last" not in k), None)
    if model is None:
        return []
    out = []
    for kind, label in (("vga", "640×480"), ("mp12", "12 MP")):
        st = prof.get(kind)
        if not st:
            continue
        cpu = (st["hash (BLAKE2b, includes read)"] + st["probe (header)"] + st["decode, JPEG draft (revsearch)"]
               + st["prepare: letterbox resize (revsearch)"])
        model_cpu = model * cores  # the model keeps every core busy while it runs
        ceiling = 1000.0 * cores / (cpu + model_cpu)
        measured = res.raw.get(kind, {}).get("rev_ips")
        out.append(
            f"- {label}: decode side {cpu:.1f} ms CPU/img (hash + probe + draft decode + prepare) + model "
            f"{model:.1f} ms wall × {cores} cores = {model_cpu:.1f} ms CPU/img → ceiling ≈ {ceiling:.0f} img/s "
            f"with perfect overlap; model alone {1000 / model:.0f} img/s"
            + (f"; measured {measured:.1f} img/s" if measured else ""))
    return out


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def render_table_text(res: Results) -> str:
    head = ("measure", "naive", "revsearch", "target", "ratio", "met?")
    body = [(r.measure, r.naive, r.revsearch, r.target, r.ratio, r.met_text) for r in (res.rows[k] for k in ROW_KEYS)]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])


# ---------------------------------------------------------------------------------------------------- entry points


def run(args: argparse.Namespace) -> int:
    from revsearch.cli.bench import SECTIONS

    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    only = set(SECTIONS) if not args.only else {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})")
    log = Log(args.quiet)
    bench = Bench(args, plan, log)
    res = bench.res
    res.machine = machine_info()
    started = time.perf_counter()

    def stage(name: str, fn: Callable[[], None]) -> None:
        if args.wait_quiet:
            bench.meter.wait_quiet(args.wait_quiet, log)
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # one broken section must not cost the whole report
            import traceback

            traceback.print_exc()
            key = {"add_and_umap": "add"}.get(name, name)
            if key in res.rows:
                res.rows[key].note = f"failed: {type(exc).__name__}: {exc}"
            res.raw.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        res.seconds[name] = time.perf_counter() - t

    try:
        if "vga" in only:
            stage("vga", lambda: bench.throughput("vga"))
        if "mp12" in only:
            stage("mp12", lambda: bench.throughput("mp12"))
        if "query" in only:
            stage("query", bench.query)
        if "add" in only or "umap" in only:
            stage("add_and_umap", lambda: bench.add_and_umap("add" in only, "umap" in only))
        if "quality" in only:
            stage("quality", bench.quality)
        if "profile" in only:
            stage("profile", bench.profile)
        if "ann" in only:
            stage("ann", bench.ann)
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    if "umap" in only and not plan.umap_points:
        res.rows["umap"].note = "skipped in smoke mode (UMAP's numba JIT alone takes longer than the smoke budget)"
    total = time.perf_counter() - started
    command = "python -m revsearch bench" + (" --quick" if args.quick else " --smoke" if args.smoke else "")
    text = render(res, command, total)
    out = Path(args.out) if args.out else REPO_ROOT / "BENCHMARKS.md"
    out.write_text(text + "\n", encoding="utf-8")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"plan": asdict(plan), "rows": {k: asdict(r) for k, r in
                                                   res.rows.items()}, "raw": res.raw, "profile": res.profile,
                                                   "machine": res.machine, "inputs": res.inputs,
                                                   "seconds": res.seconds, "load": res.load}, indent=1,
                                                  default=str))
    print(render_table_text(res))
    if res.profile:
        print()
        print("\n".join(render_profile(res)))
    print(f"\nwrote {out} ({total:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from revsearch.cli.bench import add_arguments

    parser = argparse.ArgumentParser(prog="benchmarks/bench.py", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
