"""Turn images into L2-normalised float32 vectors with a registered model, on PyTorch or ONNX Runtime.

The ONNX Runtime backend is ~2× faster than PyTorch eager on CPU; its graph (any batch size, any height and width
that are multiples of 32, padding folded: embed/graph.py) is exported once per model + weights, cached on disk, and
checked against the PyTorch output — on a square and on a wide batch — before first use. Its int8 version
(embed/quantize.py) is quantised from it once, cached beside it, and checked against it. How an image becomes model
inputs is the embedder's input handling (revsearch/embed/views.py); in which precision the model runs, its precision.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import threading
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image

from revsearch.embed import views
from revsearch.embed.graph import fold_pads
from revsearch.embed.models import ModelSpec, file_fingerprint, model_entry
from revsearch.embed.quantize import build_int8, int8_path
from revsearch.embed.views import STEP, Prepared
from revsearch.errors import RevsearchError
from revsearch.input_modes import DEFAULT_INPUT, check_input
from revsearch.precisions import FP32, INT8, check_precision

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def cache_dir() -> Path:
    """Where exported ONNX graphs live ($REVSEARCH_CACHE, else ~/.cache/revsearch)."""
    return Path(os.environ.get("REVSEARCH_CACHE", Path.home() / ".cache" / "revsearch")).expanduser()


THREADS_ENV = "REVSEARCH_THREADS"


def cpu_threads() -> int:
    """Threads for inference: every core this process may use, or $REVSEARCH_THREADS (a Ray actor sets it to the
    CPUs it reserved, so two actors on one node do not each spin up a thread per core)."""
    if os.environ.get(THREADS_ENV, "").isdigit() and int(os.environ[THREADS_ENV]) > 0:
        return int(os.environ[THREADS_ENV])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def onnx_cache_path(name: str, fingerprint: str) -> Path:
    """Where the validated fp32 ONNX graph of a model + weights lives (its int8 version: beside it, see
    precision.int8_path).

    `-hw32`: graphs for any height and width that are multiples of views.STEP, padding folded (embed/graph.py);
    cached graphs of older kinds (fixed 224×224, or padding computed at run time) have other names and are never
    loaded."""
    return cache_dir() / "onnx" / f"{name}-{fingerprint[:16]}-torch{version('torch')}-hw32.onnx"


def onnx_providers(available: Sequence[str]) -> list[str]:
    """CUDA first when this ONNX Runtime build has it (onnxruntime-gpu on a GPU node), always CPU as the fallback."""
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]


class Embedder:
    """A loaded model, an input handling and a precision: `embed_images(images) -> float32[n,dim]`, rows
    L2-normalised.

    `input_mode` (input_modes.INPUT_MODES) says how an image becomes model inputs; `precision`
    (precisions.PRECISIONS) which graph runs — None: the model's default for new collections, fp32 when its int8 graph
    cannot be built (said in a warning). `for_input` and `for_precision` give the same loaded model under another mode
    or precision (sessions are shared, each loaded once), so one loaded model serves collections of every kind."""

    def __init__(self, name: str, backend: str = "auto", weights: Path | None = None, random_weights: bool = False,
                 input_mode: str = DEFAULT_INPUT, precision: str | None = None):
        if backend not in BACKENDS:
            raise RevsearchError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.input_mode = check_input(input_mode)
        entry = model_entry(name)
        self.spec: ModelSpec = entry.spec
        self.name = self.spec.name
        self.dim = self.spec.dim
        self.input_size = self.spec.input_size
        if random_weights:
            weights_path = None
            self.fingerprint = "random-weights"
        else:
            weights_path = Path(weights) if weights is not None else entry.weights_path()
            self.fingerprint = file_fingerprint(weights_path)
        self._build = entry.build
        self._weights_path = weights_path
        self._random_weights = random_weights
        self._net = None
        self._ort: Any = None  # the ONNX Runtime session of this embedder's precision
        self._sessions: dict[str, Any] = {}  # precision -> session, shared by the copies for_* make
        self._lanes: dict[str, list[Any]] = {}  # precision -> idle single-thread sessions (embed_alone), shared too
        self._sessions_lock = threading.Lock()
        self.backend = "torch"
        torch_only = random_weights or backend == "torch"
        self.precision = check_precision(precision or (FP32 if torch_only else self.spec.precision))
        if not torch_only:
            self._ort = self._first_session(backend, chosen=precision is not None)
            self.backend = "onnx" if self._ort is not None else "torch"
        if self._ort is None:
            if self.precision != FP32:
                raise RevsearchError(f"{self.precision} runs on ONNX Runtime only: use --backend onnx (or auto), or "
                                     "a collection in fp32")
            _ = self.net  # build now so the first query is not the slow one

    @property
    def net(self):
        """The PyTorch model (a `FeatureNet`), built on first use: a cached ONNX graph needs neither the model nor
        the import of torch (~2.5 s of every CLI call)."""
        if self._net is None:
            import torch

            from revsearch.embed.torchnet import FeatureNet

            torch.set_num_threads(cpu_threads())
            if self._random_weights:
                torch.manual_seed(0)  # random but reproducible, for architecture tests
            body = self._build(self._weights_path)
            net = FeatureNet(body, self.spec.mean, self.spec.std).eval()
            self._net = net.to(memory_format=torch.channels_last)
        return self._net

    # ------------------------------------------------------------------ inference

    def for_input(self, mode: str) -> "Embedder":
        """This loaded model (network and session shared, nothing reloaded) under input handling `mode`."""
        if check_input(mode) == self.input_mode:
            return self
        other = copy.copy(self)
        other.input_mode = mode
        return other

    def for_precision(self, precision: str) -> "Embedder":
        """This model running its graph of `precision` (loaded, or built, once per embedder and its copies)."""
        if check_precision(precision) == self.precision:
            return self
        if self.backend != "onnx":
            raise RevsearchError(f"{precision} vectors need the ONNX Runtime backend; this {self.name} runs on "
                                 f"{self.backend} in {self.precision}")
        other = copy.copy(self)
        other.precision, other._ort = precision, self._load_onnx(precision)
        return other

    def prepare(self, img: Image.Image) -> Prepared:
        """One decoded image → the model inputs of this embedder's input handling."""
        return views.prepare(img, self.spec, self.input_mode)

    def embed_prepared(self, items: Sequence[Prepared], batch_size: int = 32) -> np.ndarray:
        """Prepared images → float32 [n,dim] L2-normalised (two views: the normalised sum of both)."""
        return views.embed_prepared(self.embed_batch, items, self.dim, batch_size)

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [n,H,W,3] → float32 [n,dim] L2-normalised; H and W multiples of 32 (the square input or a native
        view: the sizes the networks' strides divide, for which the exported graph is exact)."""
        if batch.ndim != 4 or batch.shape[3] != 3 or batch.shape[1] % STEP or batch.shape[2] % STEP or \
                min(batch.shape[1:3]) < STEP:
            raise ValueError(f"expected uint8 [n,H,W,3] with H and W multiples of {STEP}, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        if self._ort is not None:
            out = self._ort.run(None, {"images": batch})[0]
        else:
            out = self.embed_batch_torch(batch)
        return np.ascontiguousarray(out, dtype=np.float32)

    @property
    def runs_alone(self) -> bool:
        """Whether `embed_alone` runs on single-thread sessions (ONNX Runtime); PyTorch's kernels want batches."""
        return self._ort is not None

    def embed_alone(self, prepared: Prepared) -> np.ndarray:
        """One image's vector on a single-thread session of its own, for indexing workers that each decode and embed
        their own photos (indexing/pipeline.py). Batch 1 on one thread is the cheapest inference here (Lite0 int8:
        4.8 ms per 224² view, against 6.5 ms at batch 32, whose early feature maps no longer fit the cache)."""
        with self._lane() as session:
            return views.embed_prepared(lambda batch: session.run(None, {"images": batch})[0], [prepared],
                                        self.dim, 1)[0]

    @contextmanager
    def _lane(self) -> Iterator[Any]:
        """An idle single-thread session of this embedder's graph, made on first need and kept for the next worker."""
        with self._sessions_lock:
            idle = self._lanes.setdefault(self.precision, [])
            session = idle.pop() if idle else None
        if session is None:
            session = self._session(self.graph_path(), threads=1)
        try:
            yield session
        finally:
            with self._sessions_lock:
                idle.append(session)

    def embed_batch_torch(self, batch: np.ndarray) -> np.ndarray:
        """The reference PyTorch path (also what the ONNX graph is validated against)."""
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(batch)).numpy()

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Decoded images → vectors, in batches."""
        out = [self.embed_prepared([self.prepare(im) for im in images[i : i + batch_size]], batch_size)
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    # ------------------------------------------------------------------ ONNX

    def _first_session(self, backend: str, chosen: bool) -> Any:
        """The session to start with: int8 nobody asked for falls back to fp32 when it cannot be built, and fp32
        under backend auto to PyTorch (None) — each with a warning. A precision asked for is an error instead."""
        if self.precision == INT8 and not chosen:
            try:
                return self._load_onnx(INT8)
            except Exception as exc:  # noqa: BLE001 - any failure to build or load: the fp32 graph still serves
                log.warning("%s: int8 graph unavailable (%s); using fp32", self.name, exc)
                self.precision = FP32
        try:
            return self._load_onnx(self.precision)
        except Exception as exc:  # ONNX is an accelerator, never a requirement of fp32
            if backend == "onnx" or self.precision != FP32:
                raise RevsearchError(f"ONNX Runtime {self.precision} backend unavailable for {self.name}: {exc}") \
                    from exc
            log.warning("falling back to PyTorch for %s: %s", self.name, exc)
            return None

    def onnx_path(self) -> Path:
        """The fp32 graph (exported on first use)."""
        return onnx_cache_path(self.name, self.fingerprint)

    def graph_path(self) -> Path:
        """The graph this embedder runs: the fp32 one, or its int8 version."""
        return int8_path(self.onnx_path()) if self.precision == INT8 else self.onnx_path()

    def _load_onnx(self, precision: str) -> Any:
        """The session of the cached graph of `precision`; a missing graph is exported (fp32) or quantised (int8)
        and validated first — only validated graphs reach the cache."""
        with self._sessions_lock:
            if precision not in self._sessions:
                path = self.onnx_path()
                if not path.exists():
                    self._export_onnx(path)
                if precision == INT8:
                    fp32, path = path, int8_path(path)
                    if not path.exists():
                        build_int8(fp32, path, self.spec, self._session)
                self._sessions[precision] = self._session(path)
            return self._sessions[precision]

    def _session(self, path: Path, threads: int | None = None) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or cpu_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads must not spin after a run: they would take the cores from the FAISS scan that follows a
        # query embedding (measured: query p50 at 100k vectors 81 → 49 ms) and from the decode workers.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), opts, providers=onnx_providers(ort.get_available_providers()))

    def _export_onnx(self, path: Path) -> None:
        """Export once per model + weights + torch version; the file is renamed into the cache only after the
        graph reproduced PyTorch, so a killed or failed export leaves nothing behind."""
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        example = torch.zeros((2, self.input_size, self.input_size, 3), dtype=torch.uint8)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
        os.close(fd)
        traced = tmp + ".traced"
        net = self.net
        try:
            torch.onnx.export(
                net.to(memory_format=torch.contiguous_format),
                (example,),
                traced,
                input_names=["images"],
                output_names=["vectors"],
                dynamic_axes={"images": {0: "n", 1: "h", 2: "w"}, "vectors": {0: "n"}},
                opset_version=17,
                dynamo=False,
            )
            net.to(memory_format=torch.channels_last)
            fold_pads(Path(traced), Path(tmp))
            self._validate(self._session(Path(tmp)))
            os.replace(tmp, path)
        finally:
            net.to(memory_format=torch.channels_last)
            for leftover in (tmp, traced):
                if os.path.exists(leftover):
                    os.unlink(leftover)

    def _validate(self, session) -> None:
        """The exported graph must reproduce PyTorch (cosine ≥ 0.9999 on fixed random batches, square and wide, the
        shapes it was not traced with included) before it is trusted."""
        rng = np.random.default_rng(0)
        size = self.input_size
        for shape in ((3, size, size, 3), (2, size, size + 3 * STEP, 3), (1, size + 2 * STEP, size, 3)):
            probe = rng.integers(0, 256, size=shape, dtype=np.uint8)
            ref = self.embed_batch_torch(probe)
            got = session.run(None, {"images": probe})[0]
            cos = np.sum(ref * got, axis=1)
            if float(cos.min()) < 0.9999:
                raise RevsearchError(f"ONNX graph for {self.name} disagrees with PyTorch on {shape[1]}×{shape[2]} "
                                     f"inputs (cosine {cos.min():.5f})")
