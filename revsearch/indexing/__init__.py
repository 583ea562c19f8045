"""Indexing: files → decoded images → vectors → catalog rows.

`sync` brings a collection in line with a folder or a list of files (decoding while the model runs: `pipeline`);
`adding` indexes and then prepares the pages (thumbnails, clusters, map) — the one call the app and the CLI share.
"""

from revsearch.indexing.sync import IndexReport, index_files, index_folder

__all__ = ["IndexReport", "index_files", "index_folder"]
