"""One progress callback type shared by every long operation, adapted by the CLI (tqdm) and the app (st.progress)."""

from __future__ import annotations

from typing import Callable, Optional

# progress(done, total, message) — total may be 0 when unknown.
Progress = Callable[[int, int, str], None]


def report(progress: Optional[Progress], done: int, total: int, message: str = "") -> None:
    """Call `progress` if one was given; keeps callers free of None checks."""
    if progress is not None:
        progress(done, total, message)
