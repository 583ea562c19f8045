"""The `revsearch` console script that `pip install` (scripts/setup: `pip install -e .`) puts in the venv's bin."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sysconfig
from pathlib import Path

import pytest


def installed_script() -> Path:
    """The venv's `revsearch` executable; skips with the reason when the package is not installed in this venv."""
    installed_distribution()
    return Path(sysconfig.get_path("scripts")) / "revsearch"


def installed_distribution() -> importlib.metadata.Distribution:
    """revsearch's metadata in the venv's site-packages (a build's `revsearch.egg-info` in the checkout, on sys.path
    through pytest's `pythonpath`, does not count as installed)."""
    site = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    found = [d for d in importlib.metadata.distributions(path=site) if d.metadata["Name"] == "revsearch"]
    if not found:
        pytest.skip("the revsearch package is not installed in this venv (scripts/setup runs `pip install -e .`)")
    return found[0]


def test_the_entry_point_is_the_cli_main() -> None:
    (entry,) = [e for e in installed_distribution().entry_points if e.group == "console_scripts"]
    assert (entry.name, entry.value) == ("revsearch", "revsearch.cli:main")


def test_the_command_runs_from_any_directory(tmp_path: Path) -> None:
    script = installed_script()
    assert script.is_file(), f"revsearch is installed but {script} is missing"
    helped = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: revsearch ") and "index" in helped.stdout
    models = subprocess.run([str(script), "models", "--json"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert models.returncode == 0, models.stderr
    assert "efficientnet_lite0" in {m["name"] for m in json.loads(models.stdout)["models"]}


def test_a_user_error_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """The wrapper's `sys.exit(main())` carries main's return code out of the process."""
    script = installed_script()
    proc = subprocess.run([str(script), "info", "--collection", str(tmp_path / "none"), "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.startswith("revsearch: error: ") and proc.stderr.count("\n") == 1
