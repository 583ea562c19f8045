"""The names of precisions: in which number format a model's graph runs (revsearch/embed/quantize.py builds int8).

int8 vectors are close to fp32's, not equal (per-image cosine ~0.997), so a collection records the precision its
vectors were made in, and vectors of the other precision are not its own. The names live here, apart from the model
code, so that the catalog can record and read them without importing a model.
"""

from __future__ import annotations

from revsearch.errors import RevsearchError

FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)
LEGACY_PRECISION = FP32  # for collections and shards that record none (made before the choice existed)


def check_precision(precision: str) -> str:
    """The precision itself when known; else an error listing the known ones."""
    if precision not in PRECISIONS:
        raise RevsearchError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision
