"""AppTest fixtures: the real app, the real model, a temporary data directory and a tiny demo (6 photos).

Every test starts the app on its own empty data directory, so the first run goes through the real first-start path
(building the demo: embedding 6 photos, clusters, map). The model is loaded once per test session (st.cache_resource),
which keeps each start well under a second.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui import jobs

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
TINY_CLASSES = ("dress", "hat", "shoes")
TIMEOUT = 180


def new_app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def problems(at: AppTest) -> list[str]:
    """Uncaught exceptions (tracebacks) on the page: there must never be any."""
    return [e.message for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def texts(at: AppTest) -> str:
    """Everything readable on the page, for loose assertions."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [s.value for s in at.subheader] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [s.value for s in at.success] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two photos of each of three classes from assets/demo."""
    root = tmp_path_factory.mktemp("tiny_demo")
    for cls in TINY_CLASSES:
        for src in sorted((DEMO / cls).glob("*.jpg"))[:2]:
            (root / cls).mkdir(exist_ok=True)
            shutil.copy2(src, root / cls / src.name)
    return root


@pytest.fixture
def data_dir(tiny_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory and the tiny demo, selected through the environment like a user would."""
    data = tmp_path / "data"
    monkeypatch.setenv("REVSEARCH_DATA", str(data))
    monkeypatch.setenv("REVSEARCH_DEMO", str(tiny_demo))
    return data


@pytest.fixture(autouse=True)
def jobs_finish() -> None:
    """Background jobs a test started (a retrain after a labelling action, …) end before its data directory goes."""
    yield
    jobs.runner().wait()


def settled(at: AppTest) -> AppTest:
    """Run the page again once the background jobs it started are over (what the sidebar does in a browser)."""
    jobs.runner().wait()
    return at.run()


@pytest.fixture
def app(data_dir: Path) -> AppTest:
    """The app after its first start (the demo is built and selected)."""
    at = new_app()
    at.run()
    assert not problems(at)
    return at


def resized_jpeg(path: Path, factor: float = 0.6) -> bytes:
    """A resized, re-encoded copy of a photo: a realistic query for that photo."""
    with Image.open(path) as im:
        small = im.convert("RGB").resize((max(1, int(im.width * factor)), max(1, int(im.height * factor))))
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=85)
    return buf.getvalue()
