"""Clocks and the machine: progress lines, percentiles, other processes' CPU load, memory marks, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np


class Log:
    """Progress lines on stderr, stamped with the seconds since the run started."""

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


def per_item_ms(fn: Callable[[], object], reps: int) -> float:
    """Mean ms of `fn` over `reps` calls after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


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

    def wait_quiet(self, limit_s: float, log: Log, threshold: float = 0.25) -> float:
        """Wait (up to limit_s) for a 1-second window in which other processes use < threshold cores."""
        deadline = time.perf_counter() + limit_s
        while True:
            a = self.snap()
            time.sleep(1.0)
            load = self.foreign(a, self.snap())
            if load < threshold or time.perf_counter() >= deadline:
                return load
            log(f"machine busy ({load:.1f} cores used by other processes); waiting")


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


def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, OS and the versions of the libraries whose speed the numbers depend on."""
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
