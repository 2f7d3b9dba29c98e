"""Dataset download: checksum, atomic extraction, refusal of unsafe archives; served locally, never the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vae_audio import download
from vae_audio.data.datasets import load_fsdd
from vae_audio.data.download import (
    FSDD_SHA256,
    FSDD_URL,
    download_and_extract,
    download_fsdd,
    extract_archive,
    fetch,
    sha256_file,
)
from vae_audio.errors import DatasetError, ParameterError

from helpers import sine

TOP = "free-spoken-digit-dataset-1.0.10"


def _wav_bytes(freq: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, sine(freq, 8000, 0.1), 8000, format="WAV")
    return buf.getvalue()


def _members(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = {f"{TOP}/README.md": b"# FSDD\n"}
    for d in range(3):
        for take in (0, 5):  # one test take, one training take
            files[f"{TOP}/recordings/{d}_ann_{take}.wav"] = _wav_bytes(300 + 100 * d)
    files.update(extra or {})
    return files


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _targz(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; ``/cut/<name>`` announces the full length but sends half and hangs up."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/cut/"):
            data = (Path(self.directory) / self.path[5:]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(base_url, folder): an HTTP server on 127.0.0.1 serving ``folder`` from a thread."""
    folder = tmp_path / "served"
    folder.mkdir()

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(folder), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def _leftovers(parent: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def test_pinned_constants():
    assert FSDD_URL.startswith("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/")
    assert "v1.0.10" in FSDD_URL
    assert re.fullmatch(r"[0-9a-f]{64}", FSDD_SHA256), FSDD_SHA256  # a SHA-256 in lower-case hex


def test_download_over_http_verifies_and_extracts(server, tmp_path):
    base, folder = server
    archive = _zip(folder / "fsdd.zip", _members())
    dest_parent = tmp_path / "data"
    target = download_fsdd(to=dest_parent / "fsdd", url=f"{base}/fsdd.zip", sha256=_sha(archive), quiet=True)
    assert target == dest_parent / "fsdd"
    wavs = sorted(p.name for p in (target / "recordings").glob("*.wav"))
    assert len(wavs) == 6 and (target / "README.md").read_bytes() == b"# FSDD\n"  # top folder stripped
    source = json.loads((target / "SOURCE.json").read_text())
    assert source["sha256"] == _sha(archive) and source["files"] == 7
    assert _leftovers(dest_parent, {"fsdd"}) == []  # no temporary archive or folder left
    ds = load_fsdd(target)
    assert len(ds) == 6 and {c.label for c in ds.clips} == {0, 1, 2}


def test_file_url_and_tar_gz(tmp_path, monkeypatch):
    archive = _targz(tmp_path / "fsdd.tar.gz", _members())
    monkeypatch.setenv("FSDD_URL", archive.as_uri())
    monkeypatch.setenv("FSDD_SHA256", _sha(archive).upper())  # case does not matter
    target = download_fsdd(to=tmp_path / "out", quiet=True)
    assert len(list((target / "recordings").glob("*.wav"))) == 6


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, folder = server
    archive = _zip(folder / "fsdd.zip", _members())
    parent = tmp_path / "data"
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as err:
        download_fsdd(to=parent / "fsdd", url=f"{base}/fsdd.zip", sha256="0" * 64, quiet=True)
    assert _sha(archive) in str(err.value) and "FSDD_SHA256" in str(err.value)
    assert not (parent / "fsdd").exists() and _leftovers(parent, set()) == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    base, folder = server
    archive = _zip(folder / "fsdd.zip", _members())
    parent = tmp_path / "data"
    with pytest.raises(DatasetError, match="interrupted") as err:
        download_fsdd(to=parent / "fsdd", url=f"{base}/cut/fsdd.zip", sha256=_sha(archive), quiet=True)
    assert "run the command again" in str(err.value)
    assert _leftovers(parent, set()) == []


def test_interrupted_by_user_removes_partial_file(server, tmp_path):
    base, folder = server
    archive = _zip(folder / "big.zip", _members({f"{TOP}/pad.bin": np.random.default_rng(0).bytes(300_000)}))
    dest = tmp_path / "partial.download"

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(f"{base}/big.zip", dest, sha256=_sha(archive), progress=stop)
    assert not dest.exists()


def test_http_errors_are_clear(server, tmp_path):
    base, _ = server
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_fsdd(to=tmp_path / "a", url=f"{base}/nothing.zip", sha256="0" * 64, quiet=True)
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match="cannot download"):
        download_fsdd(to=tmp_path / "b", url=f"http://127.0.0.1:{port}/x.zip", sha256="0" * 64, quiet=True,
                      timeout=5)
    with pytest.raises(ParameterError, match="sha256"):
        download_fsdd(to=tmp_path / "c", url=f"{base}/x.zip", sha256="abc", quiet=True)
    assert _leftovers(tmp_path, {"served"}) == []


@pytest.mark.parametrize("kind,bad", [
    ("tar", {"../evil.txt": b"owned"}),
    ("tar", {f"{TOP}/../../evil.txt": b"owned"}),
    ("tar", {"/tmp/evil-vae-audio.txt": b"owned"}),
    ("zip", {"../evil.txt": b"owned"}),
    ("zip", {f"{TOP}/recordings/../../../evil.txt": b"owned"}),
])
def test_path_traversal_members_are_refused(tmp_path, kind, bad):
    make = _zip if kind == "zip" else _targz
    archive = make(tmp_path / f"evil.{'zip' if kind == 'zip' else 'tar.gz'}", _members(bad))
    parent = tmp_path / "data"
    with pytest.raises(DatasetError, match="unsafe member"):
        download_and_extract(archive.as_uri(), parent / "fsdd", sha256=_sha(archive))
    assert not (tmp_path / "evil.txt").exists() and not (parent / "evil.txt").exists()
    assert not Path("/tmp/evil-vae-audio.txt").exists()
    assert _leftovers(parent, set()) == []


def test_links_and_oversized_archives_are_refused(tmp_path):
    archive = _targz(tmp_path / "link.tar.gz", _members(), links={f"{TOP}/recordings/x.wav": "/etc/passwd"})
    with pytest.raises(DatasetError, match="link member"):
        extract_archive(archive, tmp_path)
    archive = _zip(tmp_path / "big.zip", _members())
    with pytest.raises(DatasetError, match="limit"):
        extract_archive(archive, tmp_path, max_bytes=100)
    (tmp_path / "junk.zip").write_bytes(b"this is not an archive")
    with pytest.raises(DatasetError, match="not a readable"):
        extract_archive(tmp_path / "junk.zip", tmp_path)


def test_existing_target_needs_overwrite_and_non_fsdd_is_rejected(tmp_path):
    archive = _zip(tmp_path / "fsdd.zip", _members())
    target = tmp_path / "data" / "fsdd"
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("user data")
    with pytest.raises(DatasetError, match="not empty"):
        download_fsdd(to=target, url=archive.as_uri(), sha256=_sha(archive), quiet=True)
    assert (target / "mine.txt").read_text() == "user data"  # untouched
    download_fsdd(to=target, url=archive.as_uri(), sha256=_sha(archive), overwrite=True, quiet=True)
    assert not (target / "mine.txt").exists() and len(list((target / "recordings").glob("*.wav"))) == 6
    # an archive without FSDD recordings is refused and the existing copy stays
    other = _zip(tmp_path / "other.zip", {"proj/README.md": b"hello"})
    with pytest.raises(DatasetError, match="not FSDD"):
        download_fsdd(to=target, url=other.as_uri(), sha256=_sha(other), overwrite=True, quiet=True)
    assert len(list((target / "recordings").glob("*.wav"))) == 6
    assert _leftovers(target.parent, {"fsdd"}) == []
    empty = tmp_path / "data" / "empty"
    empty.mkdir()
    download_fsdd(to=empty, url=archive.as_uri(), sha256=_sha(archive), quiet=True)  # an empty folder is fine
    assert sha256_file(archive) == _sha(archive)


def test_default_target_is_data_fsdd_in_cwd(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "fsdd.zip", _members())
    monkeypatch.chdir(tmp_path)
    out = download.download_fsdd(url=archive.as_uri(), sha256=_sha(archive), quiet=True)
    assert out == Path("data") / "fsdd" and (tmp_path / "data" / "fsdd" / "recordings").is_dir()
