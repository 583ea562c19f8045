"""Work beyond one process: Ray indexing and Parquet embedding shards. Ray is imported only when it is used."""
