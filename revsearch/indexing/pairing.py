"""A collection and its embedder, paired in one place: open or create a collection for a model, load the model a
collection was built with, and the one check that vectors are comparable (same model, same weights, same input
handling, same precision). The catalog records the four; only this module holds them against a model.
"""

from __future__ import annotations

from pathlib import Path

from revsearch.collection import Collection
from revsearch.embed.embedder import Embedder
from revsearch.embed.models import default_model
from revsearch.errors import USE_INPUT, USE_MODEL, USE_PRECISION, Hint, RevsearchError
from revsearch.input_modes import DEFAULT_INPUT


def check(coll: Collection, model: str, fingerprint: str, input_mode: str | None = None,
          precision: str | None = None) -> None:
    """Vectors from another model, other weights or (when given) another input handling or precision are not
    comparable with the collection's: refuse them with a message that says so (int8 and fp32 vectors are close, not
    equal: per-image cosine ~0.997)."""
    if model != coll.model:
        raise RevsearchError(f"collection {coll.directory} was built with model {coll.model!r}; it cannot be used with "
                             f"{model!r} (its vectors are not comparable)", Hint(USE_MODEL, {"model": coll.model}))
    if fingerprint != coll.fingerprint:
        raise RevsearchError(
            f"collection {coll.directory} was built with other {coll.model} weights "
            f"({coll.fingerprint[:12]}…, now {fingerprint[:12]}…); re-index it into a new collection"
        )
    if input_mode is not None and input_mode != coll.input_mode:
        raise RevsearchError(f"collection {coll.directory} was built with input handling {coll.input_mode!r}; vectors "
                             f"made with {input_mode!r} are not comparable with its own",
                             Hint(USE_INPUT, {"input": coll.input_mode}))
    if precision is not None and precision != coll.precision:
        raise RevsearchError(f"collection {coll.directory} was built in {coll.precision}; vectors made in {precision} "
                             "are not its own (int8 and fp32 differ slightly)",
                             Hint(USE_PRECISION, {"precision": coll.precision}))


def paired(coll: Collection, embedder: Embedder, same_input: bool = False) -> Embedder:
    """`embedder` checked against the collection and taken under the collection's input handling and precision (the
    same loaded model; `same_input` refuses an embedder of another input handling or precision instead, for vectors
    made elsewhere)."""
    check(coll, embedder.name, embedder.fingerprint, *((embedder.input_mode, embedder.precision) if same_input else ()))
    return embedder.for_input(coll.input_mode).for_precision(coll.precision)


def embedder_for(coll: Collection, model: str | None = None, input_mode: str | None = None,
                 backend: str = "auto", precision: str | None = None) -> Embedder:
    """The collection's own model under its input handling and precision; a different `model`, `input_mode` or
    `precision` asked for is refused before anything loads."""
    if model and model != coll.model:
        check(coll, model, coll.fingerprint)
    if input_mode or precision:
        check(coll, coll.model, coll.fingerprint, input_mode, precision)
    embedder = Embedder(coll.model, backend=backend, input_mode=coll.input_mode, precision=coll.precision)
    check(coll, embedder.name, embedder.fingerprint)
    return embedder


def open_checked(directory: Path | str, model: str, fingerprint: str, input_mode: str,
                 precision: str) -> Collection | None:
    """The collection at `directory` when there is one, checked to hold vectors like these; None when there is none."""
    if not Collection.exists(directory):
        return None
    coll = Collection.open(directory)
    try:
        check(coll, model, fingerprint, input_mode, precision)
    except RevsearchError:
        coll.close()
        raise
    return coll


def create_for(directory: Path | str, embedder: Embedder, vector_dtype: str = "float32") -> Collection:
    """A new empty collection bound to `embedder`'s model, weights, input handling and precision."""
    return Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim,
                             vector_dtype=vector_dtype, input_mode=embedder.input_mode, precision=embedder.precision)


def open_or_create(directory: Path | str, model: str | None = None, input_mode: str | None = None,
                   backend: str = "auto", vector_dtype: str = "float32",
                   precision: str | None = None) -> tuple[Collection, Embedder, bool]:
    """(collection, its embedder, whether it was created): the collection at `directory` with its own model (a
    different `model`, `input_mode` or `precision` is refused), else a new one for `model` (default: the best
    available), `input_mode` (default DEFAULT_INPUT) and `precision` (default: the model's). `vector_dtype` applies
    to a new collection only."""
    if Collection.exists(directory):
        coll = Collection.open(directory)
        try:
            return coll, embedder_for(coll, model, input_mode, backend, precision), False
        except BaseException:
            coll.close()
            raise
    embedder = Embedder(model or default_model()[0], backend=backend, input_mode=input_mode or DEFAULT_INPUT,
                        precision=precision)
    return create_for(directory, embedder, vector_dtype), embedder, True


__all__ = ["check", "create_for", "embedder_for", "open_checked", "open_or_create", "paired"]
