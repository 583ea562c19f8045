"""revsearch.files: walking, hashing, safe names and zip extraction."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from revsearch.files import ZipRefused, content_hash, extract_zip, safe_relpath, unique_path, walk_files

# --------------------------------------------------------------------------------------------
# walk_files


def test_walk_files(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    (root / "a.jpg").write_bytes(b"a")
    (root / "b" / "c.png").write_bytes(b"c")
    (root / "b" / "deep" / "d.txt").write_bytes(b"d")
    (root / ".DS_Store").write_bytes(b"x")
    (root / ".hidden_dir" / "e.jpg").write_bytes(b"e")
    (root / "b" / "._c.png").write_bytes(b"x")
    (root / "empty.jpg").write_bytes(b"")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"o")
    (root / "link.jpg").symlink_to(outside)  # file symlink: kept
    (root / "broken.jpg").symlink_to(tmp_path / "missing.jpg")  # broken: dropped
    (root / "b" / "loop").symlink_to(root, target_is_directory=True)  # dir symlink: not followed
    os.mkfifo(root / "pipe")  # not a regular file

    files = walk_files(root)
    rel = [p.relative_to(root.resolve()).as_posix() for p in files]
    assert rel == ["a.jpg", "b/c.png", "b/deep/d.txt", "empty.jpg", "link.jpg"]
    assert all(p.is_absolute() for p in files)
    assert files == sorted(files)


def test_walk_files_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert walk_files(Path(".")) == [(tmp_path / "x.jpg").resolve()]


def test_walk_files_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="folder not found"):
        walk_files(tmp_path / "missing")
    f = tmp_path / "f.jpg"
    f.write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        walk_files(f)


def test_walk_edge_case_folder(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, expected = edge_case_folder
    rel = {p.relative_to(folder.resolve()).as_posix() for p in walk_files(folder)}
    assert rel == set(expected)


# --------------------------------------------------------------------------------------------
# content_hash


def test_content_hash(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # crosses chunk boundaries
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()[:32]
    assert content_hash(f) == content_hash(data) == want
    assert len(want) == 32
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()[:32]
    assert content_hash(b"a") != content_hash(b"b")


# --------------------------------------------------------------------------------------------
# safe_relpath


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("photo.jpg", "photo.jpg"),
        ("a/b/c.jpg", "a/b/c.jpg"),
        ("../evil.txt", "evil.txt"),
        ("../../../../etc/passwd", "etc/passwd"),
        ("/abs/x.jpg", "abs/x.jpg"),
        ("C:\\x\\y.jpg", "x/y.jpg"),
        ("C:y.jpg", "y.jpg"),
        ("\\\\server\\share\\z.jpg", "server/share/z.jpg"),
        ("a/./b/../c.jpg", "a/b/c.jpg"),
        ("nul\x00byte.jpg", "nulbyte.jpg"),
        ("tab\there\n.jpg", "tabhere.jpg"),
        ("what?<>.jpg", "what___.jpg"),
        ("trailing. ", "trailing"),
        ("CON.jpg", "_CON.jpg"),
        ("Fotos/Été 2024.JPG", "Fotos/Été 2024.JPG"),
    ],
)
def test_safe_relpath(name: str, want: str) -> None:
    got = safe_relpath(name)
    assert isinstance(got, PurePosixPath)
    assert got == PurePosixPath(want)
    assert not got.is_absolute() and ".." not in got.parts


@pytest.mark.parametrize("name", ["", "/", "..", "../..", "./.", "C:", "\x00\x01", "\\\\", "  "])
def test_safe_relpath_nothing_left(name: str) -> None:
    with pytest.raises(ValueError):
        safe_relpath(name)


def test_safe_relpath_long_names() -> None:
    got = safe_relpath("d" * 300 + "/" + "é" * 300 + ".jpeg")
    assert all(len(part.encode()) <= 255 for part in got.parts)
    assert got.suffix == ".jpeg"
    deep = safe_relpath("/".join(["x"] * 500) + "/f.png")
    assert deep.name == "f.png" and len(deep.parts) <= 32


# --------------------------------------------------------------------------------------------
# unique_path


def test_unique_path(tmp_path: Path) -> None:
    rel = PurePosixPath("sub/a.jpg")
    first = unique_path(tmp_path, rel)
    assert first == tmp_path.resolve() / "sub" / "a.jpg"
    first.parent.mkdir()
    first.write_bytes(b"1")
    second = unique_path(tmp_path, rel)
    assert second.name == "a-1.jpg"
    second.write_bytes(b"2")
    assert unique_path(tmp_path, rel).name == "a-2.jpg"
    (tmp_path / "README").write_bytes(b"")
    assert unique_path(tmp_path, PurePosixPath("README")).name == "README-1"
    # a folder component colliding with an existing file
    (tmp_path / "f").write_bytes(b"")
    assert unique_path(tmp_path, PurePosixPath("f/x.jpg")) == tmp_path.resolve() / "f-1" / "x.jpg"
    with pytest.raises(ValueError):
        unique_path(tmp_path, PurePosixPath("../x.jpg"))
    with pytest.raises(ValueError):
        unique_path(tmp_path, PurePosixPath("/x.jpg"))


# --------------------------------------------------------------------------------------------
# extract_zip


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names, which some tests want
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buf.getvalue()


def test_extract_zip_traversal_stays_inside(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    data = make_zip(
        [
            ("../evil.txt", b"evil"),
            ("/abs/x.jpg", b"abs"),
            ("C:\\x\\y.jpg", b"drive"),
            ("..\\..\\win.txt", b"win"),
            ("ok/photo.jpg", b"photo"),
        ]
    )
    out = extract_zip(data, dest)
    base = dest.resolve()
    rel = [p.relative_to(base).as_posix() for p in out]
    assert rel == ["evil.txt", "abs/x.jpg", "x/y.jpg", "win.txt", "ok/photo.jpg"]
    assert all(p.resolve().is_relative_to(base) for p in out)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "win.txt").exists()
    assert (base / "x" / "y.jpg").read_bytes() == b"drive"


def test_extract_zip_skips_junk(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link.jpg")
    link.external_attr = (0o120777 << 16)  # a symlink entry
    data = make_zip(
        [
            ("dir/", b""),
            ("__MACOSX/._a.jpg", b"junk"),
            (".DS_Store", b"junk"),
            ("sub/.hidden.jpg", b"junk"),
            (".git/config", b"junk"),
            (link, b"/etc/passwd"),
            ("a.jpg", b"a"),
        ]
    )
    out = extract_zip(data, tmp_path)
    assert [p.name for p in out] == ["a.jpg"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.jpg"]


def test_extract_zip_collisions(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.jpg").write_bytes(b"existing")
    data = make_zip([("x/a.jpg", b"1"), ("x\\a.jpg", b"2"), ("../x/a.jpg", b"3"), ("f", b"file"), ("f/b.jpg", b"b")])
    out = extract_zip(data, tmp_path)
    rel = [p.relative_to(tmp_path.resolve()).as_posix() for p in out]
    assert rel == ["x/a-1.jpg", "x/a-2.jpg", "x/a-3.jpg", "f", "f-1/b.jpg"]
    assert (tmp_path / "x" / "a.jpg").read_bytes() == b"existing"
    assert [p.read_bytes() for p in out[:3]] == [b"1", b"2", b"3"]


def test_extract_zip_sources(tmp_path: Path) -> None:
    data = make_zip([("a.jpg", b"a")])
    z = tmp_path / "in.zip"
    z.write_bytes(data)
    assert [p.read_bytes() for p in extract_zip(z, tmp_path / "p")] == [b"a"]
    assert [p.read_bytes() for p in extract_zip(io.BytesIO(data), tmp_path / "f")] == [b"a"]
    assert [p.read_bytes() for p in extract_zip(data, tmp_path / "b")] == [b"a"]


def test_extract_zip_bomb_declared(tmp_path: Path) -> None:
    data = make_zip([("zeros.bin", bytes(5 * 1024 * 1024)), ("b.jpg", b"b")])
    assert len(data) < 20_000
    with pytest.raises(ValueError, match="zip bomb"):
        extract_zip(data, tmp_path / "d", max_total_bytes=1024 * 1024)
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_extract_zip_bomb_lying_sizes(tmp_path: Path) -> None:
    """Central directory claims 10 bytes, the data inflates to 1 MiB: never more than declared is written."""
    data = bytearray(make_zip([("liar.bin", bytes(1024 * 1024)), ("ok.jpg", b"ok")]))
    cd = data.find(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = struct.pack("<I", 10)  # uncompressed size in the central directory
    lh = data.find(b"PK\x03\x04")
    data[lh + 22 : lh + 26] = struct.pack("<I", 10)  # and in the local header
    dest = tmp_path / "d"
    out = extract_zip(bytes(data), dest, max_total_bytes=1000)
    assert [p.name for p in out] == ["ok.jpg"]  # the liar fails its CRC check and is dropped
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1000


def test_extract_zip_too_many_files(tmp_path: Path) -> None:
    data = make_zip([(f"{i}.jpg", b"x") for i in range(11)], compression=zipfile.ZIP_STORED)
    with pytest.raises(ZipRefused, match="more than 10 files"):
        extract_zip(data, tmp_path, max_files=10)
    assert len(extract_zip(data, tmp_path / "ok", max_files=11)) == 11


def test_extract_zip_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid zip"):
        extract_zip(b"definitely not a zip", tmp_path)
    with pytest.raises(FileNotFoundError):
        extract_zip(tmp_path / "missing.zip", tmp_path)
