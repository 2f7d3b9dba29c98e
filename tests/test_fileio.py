"""Atomic file writing (vae_audio.fileio): complete file or nothing, never a half-written one."""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

from vae_audio import fileio
from vae_audio.fileio import atomic_directory, atomic_path, atomic_write_json, read_json


def leftovers(folder):
    """Hidden temporary names left in ``folder`` (the atomic helpers' ``.name.*`` files)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------ atomic_path
def test_atomic_path_writes_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent  # same folder, so the rename is atomic
        assert tmp != target
        assert not target.exists()  # nothing visible until the block succeeds
        tmp.write_text("hello")
    assert target.read_text() == "hello"
    assert leftovers(target.parent) == []


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_failure_keeps_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("new but incomplete")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_path_replaces_existing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_atomic_path_overwrite_false(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(FileExistsError, match="out.txt"):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_path_overwrite_false_rechecks_at_commit(tmp_path):
    """A file that appears while we write must not be clobbered when overwrite=False."""
    target = tmp_path / "out.txt"
    with pytest.raises(FileExistsError, match="out.txt"):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_text("ours")
            target.write_text("theirs")  # someone else created it meanwhile
    assert target.read_text() == "theirs"
    assert leftovers(tmp_path) == []


def test_atomic_path_file_mode_follows_umask(tmp_path):
    """mkstemp creates 0600 files; the final file must get the usual 0666 & ~umask mode."""
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()


def test_atomic_path_keeps_mode_of_replaced_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# ------------------------------------------------------------------------ JSON
def test_json_round_trip(tmp_path):
    data = {"a": 1, "b": [1.5, None, "é"], "nested": {"x": True}}
    assert atomic_write_json(tmp_path / "sub" / "d.json", data) is None  # documented: returns nothing
    assert read_json(tmp_path / "sub" / "d.json") == data
    text = (tmp_path / "sub" / "d.json").read_text(encoding="utf-8")
    assert text.endswith("\n") and json.loads(text) == data
    assert leftovers(tmp_path / "sub") == []


def test_json_refuses_nan_and_writes_nothing(tmp_path):
    target = tmp_path / "d.json"
    target.write_text('{"keep": 1}')
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": math.nan})
    assert read_json(target) == {"keep": 1}
    assert leftovers(tmp_path) == []


def test_json_failure_during_write_keeps_old(tmp_path, monkeypatch):
    target = tmp_path / "d.json"
    atomic_write_json(target, {"v": 1})

    def failing_fsync(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "_fsync_file", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write_json(target, {"v": 2})
    assert read_json(target) == {"v": 1}
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------ atomic_directory
def test_atomic_directory_new(tmp_path):
    target = tmp_path / "parent" / "bundle"
    with atomic_directory(target) as tmp:
        assert tmp.is_dir() and tmp.parent == target.parent
        assert not target.exists()
        (tmp / "a.txt").write_text("a")
        atomic_write_json(tmp / "b.json", {"b": 2})  # nested atomic writes work inside
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "b.json"]
    assert leftovers(target.parent) == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~current_umask()


def test_atomic_directory_replaces_whole_folder(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old_only.txt").write_text("old")
    (target / "shared.txt").write_text("old")
    with atomic_directory(target) as tmp:
        (tmp / "shared.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["shared.txt"]  # no mix of old and new
    assert (target / "shared.txt").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_atomic_directory_failure_keeps_old(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "f.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "f.txt").write_text("new")
            raise RuntimeError("crash while writing")
    assert (target / "f.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_atomic_directory_failed_swap_restores_old(tmp_path, monkeypatch):
    """If moving the new folder into place fails, the old folder must come back."""
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "f.txt").write_text("old")
    real_replace = os.replace

    def flaky_replace(src, dst):
        if str(src).endswith(".tmp"):  # the step that moves the new folder in
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="Input/output"):
        with atomic_directory(target) as tmp:
            (tmp / "f.txt").write_text("new")
    monkeypatch.undo()
    assert (target / "f.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_atomic_directory_replaces_a_file(tmp_path):
    target = tmp_path / "bundle"
    target.write_text("a file where the folder goes")
    with atomic_directory(target) as tmp:
        (tmp / "f.txt").write_text("new")
    assert (target / "f.txt").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_atomic_directory_overwrite_false(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    with pytest.raises(FileExistsError, match="bundle"):
        with atomic_directory(target, overwrite=False):
            pass
    assert leftovers(tmp_path) == []


def test_atomic_directory_overwrite_false_rechecks_at_commit(tmp_path):
    target = tmp_path / "bundle"
    with pytest.raises(FileExistsError, match="bundle"):
        with atomic_directory(target, overwrite=False) as tmp:
            (tmp / "f.txt").write_text("ours")
            target.mkdir()
            (target / "g.txt").write_text("theirs")
    assert [p.name for p in target.iterdir()] == ["g.txt"]
    assert leftovers(tmp_path) == []


def test_atomic_write_files_writes_all_or_nothing(tmp_path):
    from vae_audio.fileio import atomic_write_files

    (tmp_path / "old.bin").write_bytes(b"before")
    items = ([(tmp_path / "sub" / f"f{i}.bin", bytes([i]) * (i + 1)) for i in range(10)]
             + [(tmp_path / "old.bin", b"after")])
    atomic_write_files(items, workers=3)
    assert [p.read_bytes() for p, _ in items] == [data for _, data in items]
    # no temporaries
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(f"f{i}.bin" for i in range(10))
    # one target whose folder is a file: nothing is replaced, nothing is left behind, the error names it
    (tmp_path / "blocked").write_bytes(b"a file, not a folder")
    with pytest.raises(OSError) as err:
        atomic_write_files([(tmp_path / "old.bin", b"third"), (tmp_path / "blocked" / "x.bin", b"x")])
    assert err.value.filename == str(tmp_path / "blocked" / "x.bin")
    assert (tmp_path / "old.bin").read_bytes() == b"after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "old.bin", "sub"]
