"""What every section shares: the plan, the results being filled, a scratch folder, the loaded models, the generated
inputs, and timing that records how busy the rest of the machine was."""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from benchsuite.inputs import DEFAULT_DATASET, dataset_rows, default_work_dir, make_inputs
from benchsuite.measure import CpuMeter, Log
from benchsuite.naive import Naive
from benchsuite.plans import Plan, Results, empty_rows


class Session:
    def __init__(self, args: argparse.Namespace, plan: Plan, log: Log) -> None:
        self.args, self.plan, self.log = args, plan, log
        self.res = Results(plan, rows=empty_rows(plan))
        self.work = Path(args.work or default_work_dir()).expanduser()
        self.work.mkdir(parents=True, exist_ok=True)
        self.dataset = Path(args.dataset or DEFAULT_DATASET).expanduser()
        self.tmp = Path(tempfile.mkdtemp(prefix="revsearch-bench-"))
        self.meter = CpuMeter()
        self.files: dict[str, list[Path]] = {}
        self.loaded_embedder = None
        self.loaded_naive: Naive | None = None
        self.loaded_rows: list[tuple[Path, str]] | None = None

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
    def measured(self, label: str) -> Iterator[None]:
        """Record how busy the rest of the machine was while `label` was being timed."""
        a = self.meter.snap()
        yield
        self.res.load[label] = round(self.meter.foreign(a, self.meter.snap()), 2)

    @property
    def rows(self) -> list[tuple[Path, str]]:
        """clothing-small's (path, label) pairs."""
        if self.loaded_rows is None:
            if not self.dataset.is_dir():
                raise SystemExit(f"clothing-small not found at {self.dataset}; pass --dataset DIR")
            self.loaded_rows = dataset_rows(self.dataset)
        return self.loaded_rows

    @property
    def embedder(self):
        """revsearch's default embedder, loaded once (load time recorded) and warmed up."""
        if self.loaded_embedder is None:
            from revsearch.embed import Embedder

            t = time.perf_counter()
            embedder = Embedder("efficientnet_lite0")
            self.res.raw["embedder_load_s"] = time.perf_counter() - t
            self.res.raw["backend"] = embedder.backend
            size = embedder.input_size
            embedder.embed_batch(np.zeros((32, size, size, 3), np.uint8))  # warm-up: arenas, kernels
            embedder.embed_batch(np.zeros((1, size, size, 3), np.uint8))
            self.loaded_embedder = embedder
        return self.loaded_embedder

    @property
    def naive(self) -> Naive:
        if self.loaded_naive is None:
            self.loaded_naive = Naive()
            self.loaded_naive.forward(self.loaded_naive.torch.zeros(3, 224, 224))  # warm-up
        return self.loaded_naive

    def inputs(self, kind: str) -> list[Path]:
        """The generated JPEGs of `kind` ('vga' or 'mp12'), read once into the page cache for both pipelines alike."""
        if kind not in self.files:
            n = {"vga": max(self.plan.vga, self.plan.profile_images, self.plan.query_reps, 21),
                 "mp12": self.plan.mp12}[kind]
            t = time.perf_counter()
            files = make_inputs(kind, n, self.rows, self.work, self.log)
            sizes = [p.stat().st_size for p in files]
            self.res.inputs[kind] = {"files": len(files), "mean_mb": round(float(np.mean(sizes)) / 1e6, 2),
                                     "min_mb": round(min(sizes) / 1e6, 2), "max_mb": round(max(sizes) / 1e6, 2),
                                     "folder": str(files[0].parent), "prepare_s": round(time.perf_counter() - t, 1)}
            for p in files:
                p.read_bytes()
            self.files[kind] = files
        return self.files[kind]
