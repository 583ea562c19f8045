"""Persistent collections: catalog + vectors + FAISS index, synced incrementally with folders."""

from revsearch.collection.collection import Collection, ImageRow
from revsearch.collection.sync import IndexReport, index_files, index_folder

__all__ = ["Collection", "ImageRow", "IndexReport", "index_files", "index_folder"]
