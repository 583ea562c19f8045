"""Persistent collections: catalog + vectors + FAISS index, synced incrementally with folders."""

from revsearch.collection.collection import Collection, ImageRow, NewRow
from revsearch.collection.sync import IndexReport, index_files, index_folder

__all__ = ["Collection", "ImageRow", "NewRow", "IndexReport", "index_files", "index_folder"]
