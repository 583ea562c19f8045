"""Persistent collections: catalog + vectors + FAISS index (filled by revsearch.indexing).

This package is the only place in revsearch that speaks SQL, and it runs no model. The rest uses `Collection` (rows,
vectors, index, metadata, `add_rows`) and the store modules: `label_store` (labels with history, every write one
undoable action recorded by `label_actions`), `cluster_store` (centroids, members, names), `map_store` (2-D map
points) and `sampling` (cheap reads of large catalogs: a sample of the images, images per folder, rows of given
paths or content).
"""

from revsearch.collection.collection import Collection
from revsearch.collection.rows import ImageRow, NewRow

__all__ = ["Collection", "ImageRow", "NewRow"]
