"""`python -m revsearch …`, the same as the `revsearch` console script."""

import sys

from revsearch.cli import main

sys.exit(main())
