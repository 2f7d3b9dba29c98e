"""Atomic file writing shared by every module that writes user-visible files.

A file is written to a temporary name in the destination folder and renamed over the
target only once it is complete and flushed, so a crash or a full disk never leaves a
half-written file behind that looks valid. Parent folders are created as needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["atomic_path", "atomic_write_files", "atomic_write_json", "atomic_directory", "read_json"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path. If the block raises, the
    temporary file is removed and ``path`` is left untouched. With ``overwrite=False``
    an existing ``path`` raises :class:`FileExistsError`, both before anything is written
    and at the final rename (a file that appeared meanwhile is not clobbered).

    The new file gets the permissions of the file it replaces, or the usual
    ``0o666 & ~umask`` for a new file (not the ``0o600`` of a bare temporary file).
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(_exists_message(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, _mode_for(target, folder=False))
        if overwrite:
            os.replace(tmp, target)
        else:
            _rename_no_replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    Used for multi-file artefacts (a model bundle, an extracted dataset): readers see the old
    complete folder, then (for the instant between two renames) nothing, then the new complete
    folder, never a mix of old and new files. An existing folder (or file) at ``path`` is
    moved aside and deleted only after the new one is in place; if moving the new one in
    fails, the old one is put back. If the block raises, the temporary folder is deleted and
    ``path`` is untouched. With ``overwrite=False`` an existing ``path`` raises
    :class:`FileExistsError`, checked again at the end. The folder gets ``0o777 & ~umask``
    permissions (not the ``0o700`` of a bare temporary folder).
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(_exists_message(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target, folder=True))
        old = None
        if target.exists() or target.is_symlink():
            if not overwrite:
                raise FileExistsError(_exists_message(target))
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:  # put the previous version back rather than leave nothing
                os.replace(old, target)
            raise
        if old is not None:
            _remove(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_files(files: Sequence[tuple[str | os.PathLike, bytes]], *, workers: int = 8) -> None:
    """Write several files all or nothing: ``files`` is a list of ``(path, bytes)``.

    Each file is written under a temporary name beside its target and flushed to disk, a few
    files at a time in ``workers`` threads (flushing is mostly waiting for the disk); only when
    every one of them is complete are they renamed onto their targets (replacing what is
    there). If any write fails, every temporary file is removed and no target changes; an
    :class:`OSError` names the target it concerns (``filename``). Parent folders are created;
    new files get the permissions :func:`atomic_path` gives.
    """
    from concurrent.futures import ThreadPoolExecutor

    def stage(item: tuple[str | os.PathLike, bytes]) -> Path:
        target, tmp = Path(item[0]), None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
            tmp = Path(name)
            with open(fd, "wb") as handle:
                handle.write(item[1])
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, _mode_for(target, folder=False))
        except BaseException as exc:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            if isinstance(exc, OSError):
                exc.filename, exc.filename2 = str(target), None  # name the file, not its temporary
            raise
        return tmp

    def place(tmp: Path, target: Path) -> None:
        try:
            os.replace(tmp, target)
        except OSError as exc:
            exc.filename, exc.filename2 = str(target), None
            raise

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        staged, error = [], None
        for future in [pool.submit(stage, item) for item in files]:
            try:
                staged.append(future.result())
            except BaseException as exc:  # keep collecting: every staged file must be removed
                error = error or exc
        try:
            if error is not None:
                raise error
            for future in [pool.submit(place, tmp, Path(item[0])) for tmp, item in zip(staged, files)]:
                future.result()
        finally:
            for tmp in staged:  # what is still there was not placed
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int = 2) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically (see :func:`atomic_path`)."""
    text = json.dumps(data, indent=indent, sort_keys=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; raises :class:`json.JSONDecodeError` or :class:`OSError` as usual."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _exists_message(target: Path) -> str:
    return f"{target}: already exists (pass overwrite=True to replace it)"


def _rename_no_replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` exists (atomically where links work)."""
    try:
        os.link(tmp, target)  # fails with EEXIST instead of replacing
    except FileExistsError:
        raise FileExistsError(_exists_message(target)) from None
    except OSError:  # file system without hard links: check, then rename
        if target.exists():
            raise FileExistsError(_exists_message(target)) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path, *, folder: bool) -> int:
    """Permission bits for a new ``target``: those of the file (or folder) it replaces, else the
    defaults of ``open``/``mkdir`` (``0o666``/``0o777`` minus the umask)."""
    with contextlib.suppress(OSError):
        st = target.stat()
        if stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    return (0o777 if folder else 0o666) & ~_umask()


def _fsync_file(path: Path) -> None:
    if path.is_file():
        with open(path, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
