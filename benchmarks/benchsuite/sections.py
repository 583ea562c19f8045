"""One way for every benchmark program to put its table into BENCHMARKS.md: a section between markers, replaced on
a rerun and appended the first time, so programs that measure different things share one report."""

from __future__ import annotations

from pathlib import Path


def write_section(out: Path, key: str, body: str) -> None:
    """Replace (or append) the block between `<!-- key:begin -->` and `<!-- key:end -->` in `out` with `body`."""
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = out.read_text() if out.exists() else ""
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text)
