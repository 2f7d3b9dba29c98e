"""Download a dataset archive, verify its SHA-256, and extract it atomically.

:func:`download_fsdd` fetches the pinned Free Spoken Digit Dataset release (tag ``v1.0.10``,
3000 recordings) from its public GitHub repository. Everything uses the standard library
(``urllib``), and nothing half-done is ever left behind:

1. an existing, non-empty target folder is refused unless ``overwrite=True``;
2. the archive streams into a temporary file beside the target while its SHA-256 is computed;
   a short read (connection dropped) or a checksum mismatch deletes it and raises
   :class:`~vae_audio.errors.DatasetError` saying what to do;
3. members are checked before anything is written: absolute paths, ``..`` components, links
   and device files are refused (no path traversal), and so are archives that would unpack to
   more than ``max_bytes``;
4. the archive is unpacked into a temporary folder which replaces the target only when
   complete (:func:`vae_audio.fileio.atomic_directory`).

About the checksum: :data:`FSDD_SHA256` was **not measured here** (no internet access); it is
the SHA-256 (and :data:`FSDD_SIZE` the byte count) of GitHub's zip archive of tag v1.0.10 as
recorded by an independent public audit. GitHub generates these archives on the fly; should it
ever serve different bytes, the download stops and shows both checksums. If you trust the new
file, pass ``sha256=...`` (or set ``FSDD_SHA256``; ``FSDD_URL`` overrides the address).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import DatasetError, ParameterError
from ..fileio import atomic_directory, atomic_write_json
from ..progress import bar as progress_bar

__all__ = [
    "FSDD_VERSION",
    "FSDD_URL",
    "FSDD_SHA256",
    "FSDD_SIZE",
    "download_fsdd",
    "download_and_extract",
    "fetch",
    "extract_archive",
    "sha256_file",
]

FSDD_VERSION = "v1.0.10"
#: GitHub's zip archive of the pinned release (override with the FSDD_URL environment variable).
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.zip"
#: Expected SHA-256 of that archive (not measured here: see the module docstring).
FSDD_SHA256 = "c680098f5d2355ba7cc4bd8b0ca9e0a24c00ebe3b4c552208889a4d28d4fbc2b"
#: Size in bytes of that archive (same source as the checksum).
FSDD_SIZE = 16_419_872
#: Refuse archives that would unpack to more than this (bytes); FSDD needs about 22 MB.
MAX_EXTRACT_BYTES = 2 * 1024**3

_CHUNK = 1 << 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _retry_hint(url: str) -> str:
    return (f"nothing was kept; run the command again, or download {url} yourself, unpack it and point "
            "FSDD_DIR at the folder holding the WAVs")


def fetch(url: str, dest: str | os.PathLike, *, sha256: str, timeout: float = 60.0, quiet: bool = True,
          progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download ``url`` (http, https or file) to the file ``dest`` and verify its SHA-256.

    The file is written as it arrives; on any failure (network error, HTTP error, a short read,
    a checksum mismatch) ``dest`` is deleted and :class:`DatasetError` raised. ``progress`` is
    called as ``progress(bytes_so_far, total_or_None)``. Returns ``Path(dest)``.
    """
    expected = _check_sha256(sha256)
    dest = Path(dest)
    digest = hashlib.sha256()
    got, total = 0, None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "vae_audio-download"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            _say(quiet, f"downloading {url}" + (f" ({total / 1e6:.1f} MB)" if total else ""))
            with progress_bar(total, "downloading", unit="B", unit_scale=True, enabled=not quiet) as shown:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    got += len(block)
                    shown.update(len(block))
                    if progress is not None:
                        progress(got, total)
        if total is not None and got != total:
            raise DatasetError(f"{url}: download interrupted after {got} of {total} bytes; {_retry_hint(url)}")
        actual = digest.hexdigest()
        if actual != expected:
            raise DatasetError(
                f"{url}: SHA-256 mismatch ({got} bytes): expected {expected}, got {actual}. The download was "
                f"deleted. If the server now serves a different file that you trust, pass sha256='{actual}' "
                f"(or set FSDD_SHA256={actual}) and run again")
    except DatasetError:
        _unlink(dest)
        raise
    except http.client.IncompleteRead as exc:
        _unlink(dest)
        done = got + len(exc.partial or b"")
        raise DatasetError(f"{url}: download interrupted after {done} bytes"
                           + (f" of {total}" if total else "") + f"; {_retry_hint(url)}") from None
    except urllib.error.HTTPError as exc:
        _unlink(dest)
        raise DatasetError(f"{url}: the server answered HTTP {exc.code} ({exc.reason}); {_retry_hint(url)}") from None
    except urllib.error.URLError as exc:
        _unlink(dest)
        raise DatasetError(f"{url}: cannot download ({exc.reason}); check the network connection; "
                           f"{_retry_hint(url)}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        _unlink(dest)
        raise DatasetError(f"{url}: download failed after {got} bytes ({type(exc).__name__}: {exc}); "
                           f"{_retry_hint(url)}") from None
    except ValueError as exc:  # unknown URL type and the like
        _unlink(dest)
        raise DatasetError(f"{url}: not a URL that can be downloaded ({exc})") from None
    except OSError as exc:  # e.g. the disk is full or the folder is not writable
        _unlink(dest)
        raise DatasetError(f"{url}: download failed after {got} bytes ({exc}); {_retry_hint(url)}") from None
    except BaseException:
        _unlink(dest)
        raise
    return dest


def _check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.match(sha256.strip().lower()):
        raise ParameterError(f"sha256={sha256!r}: expected 64 hexadecimal digits")
    return sha256.strip().lower()


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()


# ----------------------------------------------------------------------------- extraction
def _safe_parts(name: str, archive: Path) -> tuple[str, ...]:
    """Path components of a member name, refusing absolute paths and ``..`` (path traversal)."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise DatasetError(f"{archive}: refusing unsafe member {name!r} (absolute path); nothing was extracted")
    parts = tuple(p for p in PurePosixPath(text).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise DatasetError(f"{archive}: refusing unsafe member {name!r} (path traversal with '..'); "
                           "nothing was extracted")
    return parts


def _members(archive: Path) -> tuple[str, list[tuple[tuple[str, ...], bool, int, object]]]:
    """Kind (``"zip"``/``"tar"``) and checked members: (parts, is_dir, size, handle)."""
    out: list[tuple[tuple[str, ...], bool, int, object]] = []
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    parts = _safe_parts(info.filename, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise DatasetError(f"{archive}: refusing link member {info.filename!r}; "
                                           "nothing was extracted")
                    if parts:
                        out.append((parts, info.is_dir(), info.file_size, info.filename))
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{archive}: damaged zip archive ({exc}); run the command again") from None
        return "zip", out
    try:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                parts = _safe_parts(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    kind = "link" if (member.issym() or member.islnk()) else "special file"
                    raise DatasetError(f"{archive}: refusing {kind} member {member.name!r}; nothing was extracted")
                if parts:
                    out.append((parts, member.isdir(), member.size, member.name))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"{archive}: not a readable zip or tar archive ({exc}); the download may be damaged, "
                           "run the command again") from None
    return "tar", out


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, *, strip_top: bool = True,
                    max_bytes: int = MAX_EXTRACT_BYTES) -> int:
    """Unpack a zip or tar(.gz/.bz2/.xz) ``archive`` into the existing folder ``dest``; return the file count.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    links and special files raise :class:`DatasetError`, as does a total size above
    ``max_bytes``. With ``strip_top`` a single top-level folder shared by all members (as in
    GitHub archives) is dropped. Only regular files and folders are created.
    """
    archive, dest = Path(archive), Path(dest)
    kind, members = _members(archive)
    if not members:
        raise DatasetError(f"{archive}: the archive is empty")
    total = sum(size for _, is_dir, size, _ in members if not is_dir)
    if total > max_bytes:
        raise DatasetError(f"{archive}: would unpack to {total / 1e9:.2f} GB, more than the {max_bytes / 1e9:.2f} GB "
                           "limit; refusing it")
    tops = {parts[0] for parts, _, _, _ in members}
    strip = strip_top and len(tops) == 1 and all(len(p) > 1 or d for p, d, _, _ in members)
    root = dest.resolve()
    try:
        return _write_members(archive, root, kind, members, strip)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{archive}: damaged archive ({exc}); nothing was kept, run the command again") from None


def _write_members(archive: Path, root: Path, kind: str, members: list, strip: bool) -> int:
    count = 0
    opener = zipfile.ZipFile(archive) if kind == "zip" else tarfile.open(archive)
    with opener as handle:
        for parts, is_dir, _, name in members:
            rel = parts[1:] if strip else parts
            if not rel:
                continue
            target = root.joinpath(*rel)
            if root not in target.resolve().parents:  # belt and braces after _safe_parts
                raise DatasetError(f"{archive}: refusing member {name!r} outside the target folder")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = handle.open(name) if kind == "zip" else handle.extractfile(name)
            if source is None:  # pragma: no cover - regular tar members always have data
                continue
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            count += 1
    return count


def download_and_extract(url: str, to: str | os.PathLike, *, sha256: str, overwrite: bool = False,
                         strip_top: bool = True, timeout: float = 60.0, quiet: bool = True,
                         validate: Callable[[Path], str | None] | None = None,
                         max_bytes: int = MAX_EXTRACT_BYTES) -> Path:
    """Download ``url``, verify ``sha256``, unpack into the folder ``to`` atomically; return ``Path(to)``.

    ``validate(tmp_folder)`` may return an error message to reject the unpacked content (the
    target is then untouched). An existing non-empty ``to`` is refused unless ``overwrite``;
    on any failure neither the archive nor a partial folder is left behind.
    """
    _check_sha256(sha256)
    target = Path(to)
    if target.exists() and not target.is_dir():
        raise DatasetError(f"{target}: exists and is not a folder; choose another target")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise DatasetError(f"{target}: already exists and is not empty; pass overwrite=True "
                           "(vae-audio download ... --overwrite) to replace it, or choose another target")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".download", dir=target.parent)
    os.close(fd)
    archive = Path(tmp_name)
    t0 = time.perf_counter()
    try:
        fetch(url, archive, sha256=sha256, timeout=timeout, quiet=quiet)
        _say(quiet, f"verified SHA-256 {sha256[:16]}...; unpacking into {target}")
        try:
            with atomic_directory(target, overwrite=True) as tmp:
                n = extract_archive(archive, tmp, strip_top=strip_top, max_bytes=max_bytes)
                problem = validate(tmp) if validate is not None else None
                if problem:
                    raise DatasetError(f"{url}: {problem}; nothing was kept")
                atomic_write_json(tmp / "SOURCE.json", {"url": url, "sha256": sha256, "files": n,
                                                        "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S")})
        except OSError as exc:
            raise DatasetError(f"{target}: cannot unpack the archive ({exc}); nothing was kept") from None
    finally:
        _unlink(archive)
    _say(quiet, f"done: {n} files in {target} ({time.perf_counter() - t0:.1f} s)")
    return target


def _check_fsdd(folder: Path) -> str | None:
    from .datasets import FSDD_NAME

    rec = folder / "recordings"
    n = sum(1 for p in rec.glob("*.wav") if FSDD_NAME.match(p.name)) if rec.is_dir() else 0
    if n == 0:
        return "the archive holds no recordings/{digit}_{speaker}_{take}.wav files, so it is not FSDD"
    return None


def download_fsdd(to: str | os.PathLike | None = None, *, overwrite: bool = False, url: str | None = None,
                  sha256: str | None = None, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Download the Free Spoken Digit Dataset (release v1.0.10, 3000 WAVs, ~16 MB) into ``to``.

    Parameters
    ----------
    to : target folder (default ``data/fsdd`` under the current folder); the WAVs end up in
        ``to/recordings/``, where ``load_dataset("fsdd")`` finds them.
    overwrite : replace an existing non-empty ``to`` (otherwise refused).
    url, sha256 : override the pinned archive and its checksum (also via the ``FSDD_URL`` and
        ``FSDD_SHA256`` environment variables). The checksum is always verified.
    timeout : seconds to wait for the server at each step.
    quiet : print nothing (by default a few progress lines go to stderr).

    Returns the target folder. Raises :class:`DatasetError` with what to do next on any failure;
    nothing is left behind.
    """
    target = Path(to) if to is not None else Path("data") / "fsdd"
    url = url or os.environ.get("FSDD_URL") or FSDD_URL
    sha256 = sha256 or os.environ.get("FSDD_SHA256") or FSDD_SHA256
    return download_and_extract(url, target, sha256=sha256, overwrite=overwrite, timeout=timeout, quiet=quiet,
                                validate=_check_fsdd)
