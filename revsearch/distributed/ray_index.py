"""Decode, hash and embed on a Ray cluster with Ray Data; the driver still decides what to do and commits.

The driver hands `sync.ingest` a batch source: the entries to (re)index become `ray.data.from_items`, a pool of
actors each holding one loaded model reads, hashes, decodes and embeds them (`map_batches` with a callable class),
and the results come back in order as the same `Embedded` batches the in-process path yields, so committing,
duplicates, skips and progress are the driver's unchanged code. The actors read the files themselves: a separate
`read_binary_files` stage next to an actor pool that holds every CPU deadlocks on backpressure.

A dying actor is restarted and its batch retried (`max_restarts`, `max_task_retries`); a batch is committed by the
driver only once it arrives, and commits upsert by path, so no image is lost or committed twice. Ray is imported only
here, and this module only when `--ray` is used.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from revsearch.indexing.sync import BatchSource, Entry, Loaded, load_file
from revsearch.embed.embedder import THREADS_ENV, Embedder, cache_dir, cpu_threads
from revsearch.indexing.pipeline import Embedded, embed_stream
from revsearch.errors import RevsearchError
from revsearch.indexing.pixel_measures import NAMES

FORCE_GPU_ENV = "REVSEARCH_FORCE_GPU_REQUEST"  # a GPU count per actor, as --gpus-per-actor (for CPU-only tests)
CRASH_ENV = "REVSEARCH_TEST_CRASH_ONCE"  # test-only: a marker path; the first actor call that creates it dies
PASSED_ENV = ("REVSEARCH_CACHE", "REVSEARCH_RESNET50_WEIGHTS", "TORCH_HOME", CRASH_ENV)
MAX_RESTARTS = 4  # a file that kills its decoder every time must end the run with an error, not loop forever
MAX_TASK_RETRIES = 4


@dataclass(frozen=True)
class RayPlan:
    """How many actors and what each reserves; `actor_options` is what `map_batches` asks Ray for."""

    actors: int
    cpus_per_actor: float
    gpus_per_actor: float = 0.0

    def actor_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.cpus_per_actor, "max_restarts": MAX_RESTARTS,
                                   "max_task_retries": MAX_TASK_RETRIES}
        if self.gpus_per_actor > 0:
            options["num_gpus"] = self.gpus_per_actor
        return options


def plan(resources: dict[str, float], actors: int | None = None, cpus_per_actor: float | None = None,
         gpus_per_actor: float | None = None) -> RayPlan:
    """Size the actor pool from the cluster's resources: one actor per GPU when there are GPUs, else one 1-CPU actor
    per CPU (at 2 CPUs, 713 photos: 2 actors × 1 CPU and 1 × 2 CPUs alike, 0.56–0.57× in-process, most of the gap
    the actors' ~6 s start; BENCHMARKS.md)."""
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if gpus_per_actor is None and os.environ.get(FORCE_GPU_ENV):
        gpus_per_actor = float(os.environ[FORCE_GPU_ENV])
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if gpus >= 1 else 0.0
    if cpus_per_actor is None:
        cpus_per_actor = 1.0
    if cpus_per_actor <= 0 or gpus_per_actor < 0:
        raise RevsearchError("--cpus-per-actor must be positive and --gpus-per-actor not negative")
    if actors is None:
        by_cpu = max(1, int(cpus // cpus_per_actor))
        actors = min(by_cpu, int(gpus // gpus_per_actor)) if gpus_per_actor > 0 and gpus >= gpus_per_actor else by_cpu
    if actors < 1:
        raise RevsearchError("--actors must be at least 1")
    return RayPlan(actors, cpus_per_actor, gpus_per_actor)


def check_fits(p: RayPlan, resources: dict[str, float]) -> None:
    """A request the cluster can never grant would wait forever; refuse it up front."""
    if p.gpus_per_actor > float(resources.get("GPU", 0)):
        raise RevsearchError(f"each actor asks for {p.gpus_per_actor:g} GPU but the Ray cluster has "
                             f"{resources.get('GPU', 0):g}; drop --gpus-per-actor/${FORCE_GPU_ENV} or add GPU nodes")
    if p.cpus_per_actor > float(resources.get("CPU", 0)):
        raise RevsearchError(f"each actor asks for {p.cpus_per_actor:g} CPUs but the Ray cluster has "
                             f"{resources.get('CPU', 0):g}")


@contextmanager
def ray_cluster(address: str) -> Iterator[dict[str, float]]:
    """Connect to (or start) Ray for one command and shut the connection down after; yields the cluster resources.

    `local` starts a private Ray on this machine's cores, `auto` joins $RAY_ADDRESS, anything else is an address."""
    import ray

    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    kwargs: dict[str, Any] = {
        "include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": True,
        "log_to_driver": False,  # worker output on stdout would break --json; task errors still reach the driver
        # workers on other machines import revsearch from the driver's copy, so the code is the same everywhere
        "runtime_env": {"py_modules": [str(Path(__file__).resolve().parents[1])], "env_vars": env},
    }
    if address == "local":
        kwargs.update(address="local", num_cpus=cpu_threads())
    elif address == "auto":
        if not os.environ.get("RAY_ADDRESS"):
            raise RevsearchError("--ray auto needs $RAY_ADDRESS (e.g. RAY_ADDRESS=head-node:6379); "
                                 "or pass the address itself, or --ray local")
        kwargs["address"] = os.environ["RAY_ADDRESS"]
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RevsearchError(f"cannot reach the Ray cluster at {kwargs['address']!r}: {exc}") from exc
    try:
        yield dict(ray.cluster_resources())
    finally:
        ray.shutdown()


class EmbedActor:
    """One Ray actor: the model loaded once, then batches of entries → columns of facts and vectors."""

    def __init__(self, model: str, fingerprint: str, backend: str, batch_size: int, threads: int,
                 known: frozenset[str], input_mode: str, precision: str, graphs: dict[str, Any] | None = None
                 ) -> None:
        os.environ[THREADS_ENV] = str(threads)
        for name, graph in (graphs or {}).items():
            _install_graph(cache_dir() / "onnx" / name, graph)
        self.embedder = Embedder(model, backend=backend, input_mode=input_mode, precision=precision)
        if self.embedder.fingerprint != fingerprint:
            raise RevsearchError(f"the {model} weights on this Ray node differ from the driver's "
                                 f"({self.embedder.fingerprint[:12]}… vs {fingerprint[:12]}…)")
        self.batch_size, self.known = batch_size, _resolve(known)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        _crash_once_for_tests()
        entries = [(Path(p), int(s), int(m)) for p, s, m in zip(batch["path"], batch["size"], batch["mtime_ns"])]
        done = [item for part in embed_stream(entries, lambda e: load_file(e, self.embedder, self.known),
                                              self.embedder, batch_size=self.batch_size) for item in part]
        return to_columns(done, self.embedder.dim)


def _install_graph(path: Path, graph: Any) -> None:
    """Put a validated ONNX graph of the driver's into this node's cache, so no actor exports (or needs torch) or
    quantises again."""
    if path.exists():
        return
    data = _resolve(graph)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _resolve(value: Any) -> Any:
    """Large constructor arguments travel as object references (stored once, not pickled into every actor)."""
    import ray

    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


def _crash_once_for_tests() -> None:
    """Die like a killed worker, once per marker file (only when the test-only variable is set)."""
    marker = os.environ.get(CRASH_ENV)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


def to_columns(items: list[Embedded[Entry, Loaded]], dim: int) -> dict[str, np.ndarray]:
    """`Embedded` results → plain columns Ray moves cheaply (no None: '' and -1 stand for missing)."""
    vectors = np.zeros((len(items), dim), dtype=np.float32)
    for n, item in enumerate(items):
        if item.vector is not None:
            vectors[n] = item.vector
    loaded = [item.loaded for item in items]
    return {
        "path": np.array([str(x.path) for x in loaded], dtype=object),
        "size": np.array([x.size for x in loaded], dtype=np.int64),
        "mtime_ns": np.array([x.mtime_ns for x in loaded], dtype=np.int64),
        "hash": np.array([x.hash or "" for x in loaded], dtype=object),
        "width": np.array([-1 if x.width is None else x.width for x in loaded], dtype=np.int64),
        "height": np.array([-1 if x.height is None else x.height for x in loaded], dtype=np.int64),
        "skip": np.array([x.skip or "" for x in loaded], dtype=object),
        "known_duplicate": np.array([x.known_duplicate for x in loaded], dtype=bool),
        "has_vector": np.array([item.vector is not None for item in items], dtype=bool),
        "vector": vectors,
        "has_measures": np.array([x.measures is not None for x in loaded], dtype=bool),
        "measures": np.stack([np.zeros(len(NAMES), np.float32) if x.measures is None else x.measures
                              for x in loaded]) if loaded else np.zeros((0, len(NAMES)), np.float32),
    }


def from_columns(cols: dict[str, np.ndarray]) -> list[Embedded[Entry, Loaded]]:
    """The inverse of `to_columns`, on the driver."""
    out: list[Embedded[Entry, Loaded]] = []
    for n in range(len(cols["path"])):
        loaded = Loaded(Path(str(cols["path"][n])), int(cols["size"][n]), int(cols["mtime_ns"][n]),
                        hash=str(cols["hash"][n]) or None,
                        width=None if cols["width"][n] < 0 else int(cols["width"][n]),
                        height=None if cols["height"][n] < 0 else int(cols["height"][n]),
                        skip=str(cols["skip"][n]) or None, known_duplicate=bool(cols["known_duplicate"][n]),
                        measures=np.array(cols["measures"][n], dtype=np.float32) if cols["has_measures"][n] else None)
        vector = np.array(cols["vector"][n], dtype=np.float32) if cols["has_vector"][n] else None
        out.append(Embedded((loaded.path, loaded.size, loaded.mtime_ns), loaded, vector))
    return out


def ray_source(embedder: Embedder, batch_size: int, p: RayPlan) -> BatchSource:
    """A `sync.BatchSource` whose decoding and embedding run on the connected Ray cluster, results in input order;
    the actors load `embedder`'s model with its input handling and precision (for a collection: the collection's,
    `embedder_for`), from the driver's graphs: the fp32 one and, in int8, the int8 one made from it."""
    import ray

    paths = dict.fromkeys((embedder.onnx_path(), embedder.graph_path())) if embedder.backend == "onnx" else {}
    graphs = {path.name: ray.put(path.read_bytes()) for path in paths}

    def source(todo: list[Entry], known: frozenset[str]) -> Iterable[list[Embedded]]:
        if not todo:
            return
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # which copy of a duplicate is the original, as in-process
        context.enable_progress_bars = False  # the driver's own bar counts committed files
        context.print_on_execution_start = False
        items = [{"path": str(path), "size": size, "mtime_ns": mtime} for path, size, mtime in todo]
        known_ref = ray.put(known)  # held here for the run: a restarted actor reads its arguments again
        ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / (batch_size * 2))))
        with warnings.catch_warnings():  # max_restarts/max_task_retries have no named parameter in Ray 2.60 yet
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(
                EmbedActor, batch_size=batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=p.actors),
                fn_constructor_kwargs={"model": embedder.name, "fingerprint": embedder.fingerprint,
                                       "backend": embedder.backend, "batch_size": batch_size,
                                       "threads": max(1, int(p.cpus_per_actor)), "known": known_ref,
                                       "input_mode": embedder.input_mode, "precision": embedder.precision,
                                       "graphs": graphs},
                **p.actor_options(),
            )
        for cols in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
            yield from_columns(cols)

    return source
