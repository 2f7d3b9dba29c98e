"""Audio input/output and waveform shaping.

Waveforms are float32 NumPy arrays in [-1, 1], shaped ``(n_samples,)`` for mono or
``(channels, n_samples)`` (librosa's convention) and ``(..., n_samples)`` for batches.
Sample rates ``sr`` are in Hz.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import AudioLoadError, AudioWriteError, ParameterError
from ..fileio import atomic_path

__all__ = [
    "MIN_SR",
    "MAX_SR",
    "check_sr",
    "describe_unreadable",
    "load_audio",
    "write_wav",
    "encode_wav",
    "pad_or_truncate",
    "trim_silence",
    "resample",
]

#: Lowest and highest sample rates (Hz) accepted for files and for the ``sr`` argument.
MIN_SR = 1000
MAX_SR = 768_000


def check_sr(sr: object, name: str = "sr") -> int:
    """``sr`` as an int in [MIN_SR, MAX_SR]: ints, NumPy ints and whole floats (Python or NumPy)
    are accepted; bools, strings, fractions, NaN/inf and anything else raise ParameterError."""
    whole = isinstance(sr, (int, np.integer)) or (isinstance(sr, (float, np.floating)) and bool(np.isfinite(sr))
                                                  and float(sr).is_integer())
    if isinstance(sr, (bool, np.bool_)) or not whole:
        raise ParameterError(f"{name}={sr!r}: expected a whole number of Hz")
    value = int(sr)
    if not MIN_SR <= value <= MAX_SR:
        raise ParameterError(f"{name}={value}: unsupported sample rate, expected {MIN_SR}..{MAX_SR} Hz")
    return value


def _one_line(text: str) -> str:
    """Collapse a library message onto one line (our errors are printed as a single line)."""
    return " ".join(str(text).split())


def describe_unreadable(path: Path, reason: str) -> str:
    """Explain why libsndfile refused ``path``, naming the likely cause."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"RIFF") or head.startswith(b"fLaC") or head.startswith(b"OggS"):
        cause = "the header is truncated or corrupt"
    elif head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        cause = "it is a text file, not audio"
    else:
        cause = "it is not an audio format soundfile can read"
    return f"{path}: cannot read audio ({cause}; soundfile said: {_one_line(reason)})"


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``y`` (``(..., n_samples)``) from ``orig_sr`` to ``target_sr`` Hz with soxr (high quality)."""
    orig_sr, target_sr = check_sr(orig_sr, "orig_sr"), check_sr(target_sr, "target_sr")
    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    import librosa

    out = librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=orig_sr, target_sr=target_sr,
                           res_type="soxr_hq")
    return out.astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    mono: bool = True,
    *,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read an audio file into a float32 waveform in [-1, 1].

    Reads every format soundfile (libsndfile) reads: WAV with 8/16/24/32-bit PCM or
    32/64-bit float samples (plain or WAVE_FORMAT_EXTENSIBLE headers), FLAC, OGG/Vorbis, AIFF.

    Parameters
    ----------
    path : path to the file.
    sr : target sample rate in Hz, or ``None`` to keep the file's rate. Resampling uses soxr
        (``soxr_hq``) through librosa.
    mono : mix all channels down to one by averaging. With ``mono=False`` the result is
        ``(channels, n_samples)`` (librosa's layout) even for a mono file.
    duration : read at most this many seconds from the start (cheap on long files).

    Returns
    -------
    (y, sr) : ``y`` is ``(n_samples,)`` (mono) or ``(channels, n_samples)``, float32 in [-1, 1]
        (float files with samples beyond full scale are clipped); ``sr`` is the rate of ``y`` in Hz.

    Raises
    ------
    AudioLoadError
        The file is missing, a folder, empty, unreadable (permissions), not audio, truncated,
        has no samples, has NaN/inf samples, or has a sample rate outside ``MIN_SR..MAX_SR``.
    ParameterError
        ``path``, ``sr`` or ``duration`` is not valid (``sr`` must be a whole number of Hz in
        ``MIN_SR..MAX_SR``).
    """
    import soundfile as sf

    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path={path!r}: expected a file path (str or os.PathLike)")
    p = Path(path)
    if sr is not None:
        sr = check_sr(sr)
    if duration is not None:
        checks.number(duration, "duration", 0, lo_open=True, what="a number of seconds")
    if not p.exists():
        raise AudioLoadError(f"{p}: no such file")
    if p.is_dir():
        raise AudioLoadError(f"{p}: is a directory, not an audio file")
    if not p.is_file():  # a FIFO or device would block or stream forever
        raise AudioLoadError(f"{p}: is not a regular file")
    try:
        if p.stat().st_size == 0:
            raise AudioLoadError(f"{p}: file is empty (0 bytes)")
        with open(p, "rb"):
            pass
    except PermissionError:
        raise AudioLoadError(f"{p}: permission denied (cannot open the file for reading)") from None
    except OSError as exc:
        raise AudioLoadError(f"{p}: cannot open the file ({_one_line(exc.strerror or exc)})") from None
    try:
        with sf.SoundFile(str(p)) as f:
            file_sr = int(f.samplerate)
            frames = -1 if duration is None else max(1, int(round(duration * file_sr)))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:  # libsndfile refuses the file
        raise AudioLoadError(describe_unreadable(p, str(exc))) from None
    except (OSError, ValueError) as exc:
        raise AudioLoadError(f"{p}: cannot read audio ({_one_line(exc)})") from None
    if file_sr < MIN_SR:
        raise AudioLoadError(f"{p}: sample rate {file_sr} Hz is too low for audio (minimum {MIN_SR} Hz)")
    if file_sr > MAX_SR:
        raise AudioLoadError(f"{p}: sample rate {file_sr} Hz is implausibly high (maximum {MAX_SR} Hz)")
    if data.shape[0] == 0:
        raise AudioLoadError(f"{p}: contains no samples (zero-length audio)")
    if not np.all(np.isfinite(data)):
        raise AudioLoadError(f"{p}: contains NaN or infinite samples")
    y = data.T  # (channels, n_samples)
    if mono:
        y = y.mean(axis=0)
    if sr is not None and sr != file_sr:
        y = resample(y, file_sr, sr)
    else:
        sr = file_sr
    y = np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)
    return np.ascontiguousarray(y), int(sr)


def encode_wav(
    y: np.ndarray,
    sr: int,
    *,
    clip: bool = False,
    subtype: str = "PCM_16",
    name: str = "waveform",
) -> bytes:
    """A waveform as the bytes of a WAV file (what :func:`write_wav` writes).

    Parameters
    ----------
    y : ``(n_samples,)`` mono or ``(channels, n_samples)``; float, in [-1, 1].
    sr : sample rate in Hz.
    clip : out-of-range policy. ``False`` (default) refuses samples with ``|y| > 1`` so that
        a level bug is never hidden; ``True`` clips them to [-1, 1].
    subtype : soundfile subtype, ``"PCM_16"`` (default), ``"PCM_24"``, ``"FLOAT"``, ...
    name : what error messages call the waveform (the file it is meant for).

    Raises
    ------
    AudioWriteError
        ``y`` is empty, has the wrong rank, contains NaN/inf, or exceeds [-1, 1] with ``clip=False``.
    ParameterError
        ``sr`` or ``subtype`` is not valid.
    """
    import soundfile as sf

    sr = check_sr(sr)
    if not (isinstance(subtype, str) and sf.check_format("WAV", subtype)):
        raise ParameterError(
            f"subtype={subtype!r}: not a WAV subtype soundfile can write; "
            f"choose from {sorted(sf.available_subtypes('WAV'))}"
        )
    arr = np.asarray(y)
    if arr.ndim not in (1, 2):
        raise AudioWriteError(f"{name}: expected y shaped (n_samples,) or (channels, n_samples), got {arr.shape}")
    if arr.size == 0 or arr.shape[-1] == 0:
        raise AudioWriteError(f"{name}: refusing to write an empty waveform")
    if not np.issubdtype(arr.dtype, np.floating):
        raise AudioWriteError(f"{name}: expected floating-point samples in [-1, 1], got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise AudioWriteError(f"{name}: refusing to write NaN or infinite samples")
    peak = float(np.max(np.abs(arr)))
    if peak > 1.0:
        if not clip:
            raise AudioWriteError(
                f"{name}: samples reach {peak:.3f}, beyond full scale [-1, 1]; scale the audio or pass clip=True"
            )
        arr = np.clip(arr, -1.0, 1.0)
    buffer = io.BytesIO()  # in memory: soundfile's flush of a real file is an fsync of its own
    try:
        sf.write(buffer, arr.T if arr.ndim == 2 else arr, sr, subtype=subtype, format="WAV")
    except (RuntimeError, ValueError, TypeError) as exc:  # LibsndfileError is a RuntimeError
        raise AudioWriteError(f"{name}: cannot encode WAV ({_one_line(exc)})") from None
    return buffer.getvalue()


def write_wav(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int,
    *,
    clip: bool = False,
    subtype: str = "PCM_16",
) -> Path:
    """Write a waveform to a WAV file atomically and return the path.

    The file appears complete or not at all: the bytes of :func:`encode_wav` go to a temporary
    file in the same folder which is flushed and renamed onto ``path``; parent folders are
    created. ``y``, ``sr``, ``clip`` and ``subtype`` as in :func:`encode_wav`.

    Raises
    ------
    AudioWriteError
        A waveform :func:`encode_wav` refuses, or the file cannot be written (the target is
        left as it was).
    ParameterError
        ``sr`` or ``subtype`` is not valid.
    """
    p = Path(path)
    data = encode_wav(y, sr, clip=clip, subtype=subtype, name=str(p))
    try:
        with atomic_path(p) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise AudioWriteError(f"{p}: cannot write WAV ({_one_line(exc)})") from None
    return p


def trim_silence(y: np.ndarray, *, top_db: float = 60.0, frame_length: int = 512,
                 hop_length: int = 128) -> np.ndarray:
    """Remove leading and trailing silence from a mono waveform ``(n_samples,)``.

    Silence is anything more than ``top_db`` dB below the clip's loudest frame (librosa's
    ``effects.trim``). An all-silent clip comes back unchanged rather than empty.
    """
    import librosa

    checks.number(top_db, "top_db", 0, lo_open=True, what="a number of dB below the peak")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"y: trim_silence expects a mono waveform (n_samples,), got shape {y.shape}")
    if not np.any(y):  # silent or empty
        return y
    trimmed, _ = librosa.effects.trim(y, top_db=top_db, frame_length=frame_length, hop_length=hop_length)
    return trimmed if trimmed.size else y


def pad_or_truncate(
    y: np.ndarray,
    n_samples: int,
    *,
    align: str = "start",
    trim_db: float | None = None,
) -> np.ndarray:
    """Return ``y`` with exactly ``n_samples`` samples on its last axis.

    Parameters
    ----------
    y : waveform ``(..., n_samples_in)``; batches keep their leading axes.
    n_samples : output length in samples (> 0).
    align : ``"start"`` (default) keeps the beginning: zeros are appended at the end and long
        clips lose their end. ``"center"`` pads/crops equally on both sides.
    trim_db : if given, first strip leading/trailing silence quieter than ``trim_db`` dB
        below each clip's peak (per clip for batches), so speech starts at sample 0.

    Returns
    -------
    float32 array ``(..., n_samples)``, always a new array (never a view of ``y``).
    """
    checks.whole_number(n_samples, "n_samples", 1)
    if align not in ("start", "center"):
        raise ParameterError(f"align={align!r}: expected 'start' or 'center'")
    if trim_db is not None:
        checks.number(trim_db, "trim_db", 0, lo_open=True, what="a number of dB below the peak")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 0:
        raise ParameterError("y: expected a waveform with a time axis, got a scalar")
    if trim_db is not None:  # per clip: each loses its own silence
        rows = y[None] if y.ndim == 1 else y.reshape(-1, y.shape[-1])
        out = np.stack([_fit(trim_silence(row, top_db=trim_db), n_samples, align) for row in rows])
        return out.reshape(*y.shape[:-1], n_samples)
    return _fit(y, n_samples, align)


def _fit(y: np.ndarray, n_samples: int, align: str) -> np.ndarray:
    n_in = y.shape[-1]
    if n_in >= n_samples:
        start = 0 if align == "start" else (n_in - n_samples) // 2
        return y[..., start:start + n_samples].copy()  # a copy: callers may write to the result
    missing = n_samples - n_in
    before = 0 if align == "start" else missing // 2
    widths = [(0, 0)] * (y.ndim - 1) + [(before, missing - before)]
    return np.pad(y, widths)
