#!/usr/bin/env python3
"""Benchmark suite of issue 5; same as `python -m revsearch bench`. Run from anywhere:

    .venv/bin/python benchmarks/bench.py            # full run (< 10 min on the 2-core reference machine)
    .venv/bin/python benchmarks/bench.py --quick    # smaller sizes (< 2 min)
    .venv/bin/python benchmarks/bench.py --smoke --out /tmp/b.md   # tiny, for tests

The code lives in revsearch/bench.py so the CLI can reach it from an installed package too.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from revsearch.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
