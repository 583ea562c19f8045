"""Uploads on a shared server (issue 20): only admins upload, each file within the limit an admin set, and the zip
safeguards hold on this path too (no escape from the collection's folder, nothing but images kept)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from revsearch.auth import guarded
from revsearch.auth.roles import ADMIN, LABELLER, Actor, Forbidden
from revsearch.auth.roots import Roots
from revsearch.workspace import CollectionInfo, Workspace


def upload(name: str, data: bytes) -> io.BytesIO:
    buf = io.BytesIO(data)
    buf.name = name  # what Streamlit's UploadedFile carries
    return buf


def test_uploads_are_for_admins_within_the_limit_and_zips_stay_inside(tmp_path: Path, samples):
    ws = Workspace(tmp_path / "data")
    ws.set_upload_limit_mb(1)
    coll_dir = ws.collections_dir / "c"
    info = CollectionInfo("c", "c", coll_dir, "m", {}, 0.0, [], False)
    photo = samples.jpeg(samples.pattern(1, (320, 240)))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.jpg", samples.jpeg(samples.pattern(2)))
        zf.writestr("/abs/root.jpg", samples.jpeg(samples.pattern(3)))
        zf.writestr("notes.txt", "not a photo")
    big = samples.jpeg(samples.pattern(4, (64, 64))) + os.urandom(1024 * 1024 + 10)  # over 1 MB
    files = [upload("ok.jpg", photo), upload("more.zip", archive.getvalue()), upload("big.jpg", big)]

    with pytest.raises(Forbidden):
        guarded.save_uploads(Actor("bob", LABELLER, Roots(shared=True)), ws, info, files)
    assert not coll_dir.exists()

    saved = guarded.save_uploads(Actor("ana", ADMIN, Roots(shared=True)), ws, info, files)
    kept = sorted(p.relative_to(info.files_dir).as_posix() for p in saved.saved)
    assert kept == ["more/abs/root.jpg", "more/escape.jpg", "ok.jpg"]  # every name lands inside files/
    assert all(p.resolve().is_relative_to(info.files_dir.resolve()) for p in saved.saved)
    reasons = dict(saved.rejected)
    assert reasons["big.jpg"] == "larger than the upload limit of 1 MB"
    assert "more.zip/notes.txt" in reasons
    assert not (tmp_path / "escape.jpg").exists() and not (tmp_path / "data" / "escape.jpg").exists()
    assert ws.upload_limit_mb() == 1.0
