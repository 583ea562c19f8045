"""pyproject.toml declares the same pins as requirements.txt, so `pip install .` gets what scripts/setup tests."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def requirement_sections() -> dict[str, list[str]]:
    """requirements.txt's pins: the runtime ones, then those after its `# tests` line."""
    sections: dict[str, list[str]] = {"runtime": [], "test": []}
    current = "runtime"
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.strip()
        if line == "# tests":
            current = "test"
        elif line and not line.startswith("#"):
            sections[current].append(line)
    return sections


def test_project_dependencies_are_the_runtime_requirements() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = requirement_sections()
    assert pins["runtime"] and pins["test"], "requirements.txt lost its runtime pins or its `# tests` section"
    assert project["dependencies"] == pins["runtime"]
    assert project["optional-dependencies"]["test"] == pins["test"]

