"""The benchmark suite of issue 5, run by `benchmarks/bench.py`: naive seed-style pipeline vs revsearch, side by side.

One module per concern: `plans` (sizes and the table's rows), `measure` (clocks, machine load, memory, machine
facts), `inputs` (generated JPEGs and synthetic vectors), `naive` (the seed-style pipeline), `session` (what the
sections share), one module per section (`throughput`, `query`, `ann`, `growth`, `quality`, `profile`) and `report`
(BENCHMARKS.md and the table on stdout). It uses only revsearch's public API.
"""
