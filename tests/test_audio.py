"""Audio loading, writing and shaping (vae_audio.dsp.audio), on synthetic files only."""

from __future__ import annotations

import builtins
import errno
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vae_audio.dsp.audio import MAX_SR, MIN_SR, load_audio, pad_or_truncate, resample, trim_silence, write_wav
from vae_audio.errors import AudioLoadError, AudioWriteError, ParameterError, VaeAudioError

from helpers import dominant_frequency, sine, wav_bytes


def fmt_tag(path) -> int:
    """wFormatTag of a WAV file's ``fmt `` chunk (1 = PCM, 3 = float, 0xFFFE = extensible)."""
    head = path.read_bytes()[:64]
    pos = head.index(b"fmt ")
    return struct.unpack("<H", head[pos + 8:pos + 10])[0]


def bits_per_sample(path) -> int:
    head = path.read_bytes()[:64]
    pos = head.index(b"fmt ")
    return struct.unpack("<H", head[pos + 22:pos + 24])[0]


def assert_one_family_error(excinfo, *, names, reason=None):
    """The error is ours, a ValueError, one line, names the file/argument and says why."""
    err = excinfo.value
    assert isinstance(err, VaeAudioError) and isinstance(err, ValueError)
    msg = str(err)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.strip() == msg and msg
    for name in names:
        assert name in msg, (name, msg)
    if reason is not None:
        assert reason.lower() in msg.lower(), (reason, msg)
    # no library traceback hangs off it: raised "from None" (or outside any except block)
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__), repr(err.__context__)


# ================================================================== load_audio: formats
# (subtype, largest quantization error of a sample in [-1, 1])
PCM_SUBTYPES = [("PCM_U8", 1 / 128), ("PCM_16", 1 / 32768), ("PCM_24", 2 ** -23), ("PCM_32", 2 ** -31),
                ("FLOAT", 1e-7), ("DOUBLE", 1e-7)]


@pytest.mark.parametrize("subtype, tol", PCM_SUBTYPES)
def test_load_wav_subtypes(wav_factory, subtype, tol):
    y = sine(440, 8000, 0.25, amplitude=0.9)
    path = wav_factory(f"tone_{subtype}.wav", y, 8000, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    expected_bits = {"PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}[subtype]
    assert bits_per_sample(path) == expected_bits
    assert fmt_tag(path) == (3 if subtype in ("FLOAT", "DOUBLE") else 1)
    out, sr = load_audio(path)
    assert sr == 8000
    assert out.dtype == np.float32 and out.shape == y.shape and out.flags.c_contiguous
    assert np.max(np.abs(out)) <= 1.0
    np.testing.assert_allclose(out, y, atol=tol * 1.01 + 1e-7)


def test_load_full_scale_pcm_stays_in_range(wav_factory):
    y = np.array([-1.0, 1.0, -1.0, 0.0], dtype=np.float32)
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32"):
        out, _ = load_audio(wav_factory(f"full_{subtype}.wav", y, 8000, subtype=subtype))
        assert out.min() >= -1.0 and out.max() <= 1.0
        assert out.min() == -1.0 and out.max() > 0.99


def test_load_float_beyond_full_scale_is_clipped(wav_factory):
    y = np.array([0.0, 1.5, -3.0, 0.25], dtype=np.float32)
    out, _ = load_audio(wav_factory("loud.wav", y, 8000, subtype="FLOAT"))
    np.testing.assert_array_equal(out, [0.0, 1.0, -1.0, 0.25])


def test_load_wavex_written_by_soundfile(wav_factory):
    y = np.stack([sine(440, 8000, 0.1), sine(880, 8000, 0.1)], axis=1)  # (n, 2)
    path = wav_factory("ext.wav", y, 8000, subtype="PCM_24", format="WAVEX")
    assert fmt_tag(path) == 0xFFFE
    out, sr = load_audio(path)
    assert sr == 8000
    np.testing.assert_allclose(out, y.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("bits, channels", [(16, 1), (24, 3), (32, 6)])
def test_load_handmade_wave_format_extensible(tmp_path, bits, channels):
    """A WAVE_FORMAT_EXTENSIBLE header built byte by byte (wFormatTag 0xFFFE, PCM sub-format GUID)."""
    n = 400
    rng = np.random.default_rng(bits)
    ints = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(n, channels), dtype=np.int64)
    if bits == 24:
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel())
    else:
        raw = ints.astype(f"<i{bits // 8}").tobytes()
    path = tmp_path / "handmade.wav"
    path.write_bytes(wav_bytes(sr=16000, channels=channels, bits=bits, data=raw, extensible=True))
    assert fmt_tag(path) == 0xFFFE
    out, sr = load_audio(path, mono=False)
    assert sr == 16000 and out.shape == (channels, n) and out.dtype == np.float32
    np.testing.assert_allclose(out, ints.T / 2.0 ** (bits - 1), atol=1e-6)
    mono, _ = load_audio(path)
    np.testing.assert_allclose(mono, (ints / 2.0 ** (bits - 1)).mean(axis=1), atol=1e-6)


def test_load_stereo_mixed_to_mono_and_kept(wav_factory):
    left, right = sine(440, 8000, 0.2, amplitude=0.8), sine(440, 8000, 0.2, amplitude=0.2)
    path = wav_factory("stereo.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, sr = load_audio(path)
    assert mono.shape == left.shape and sr == 8000
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (2, len(left)) and both.flags.c_contiguous
    np.testing.assert_allclose(both[0], left, atol=1e-7)
    np.testing.assert_allclose(both[1], right, atol=1e-7)


def test_load_mono_false_on_mono_file_is_2d(sine_wav):
    y, _ = load_audio(sine_wav(), mono=False)
    assert y.shape == (1, 4000)


def test_load_six_channels_mixed_to_mono(wav_factory):
    n = 800
    chans = np.stack([sine(200 * (c + 1), 8000, n / 8000, amplitude=0.1 * (c + 1)) for c in range(6)], axis=1)
    path = wav_factory("six.wav", chans, 8000, subtype="FLOAT")
    assert sf.info(str(path)).channels == 6
    y, sr = load_audio(path)
    assert y.shape == (n,) and sr == 8000
    np.testing.assert_allclose(y, chans.mean(axis=1), atol=1e-7)
    assert load_audio(path, mono=False)[0].shape == (6, n)


def test_load_flac(wav_factory):
    y = sine(440, 16000, 0.3)
    path = wav_factory("tone.flac", y, 16000, subtype="PCM_16")
    assert path.read_bytes()[:4] == b"fLaC"
    out, sr = load_audio(path)
    assert sr == 16000 and out.dtype == np.float32
    np.testing.assert_allclose(out, y, atol=1 / 32768 + 1e-7)


def test_load_ogg_vorbis(wav_factory):
    y = sine(440, 16000, 0.5)
    path = wav_factory("tone.ogg", y, 16000)
    assert path.read_bytes()[:4] == b"OggS"
    out, sr = load_audio(path)
    assert sr == 16000 and out.dtype == np.float32
    assert abs(len(out) - len(y)) <= 1
    assert abs(dominant_frequency(out, sr) - 440) < 1.0
    assert np.max(np.abs(out)) <= 1.0


def test_load_duration_reads_prefix(sine_wav):
    full, _ = load_audio(sine_wav())
    part, sr = load_audio(sine_wav(), duration=0.1)
    assert len(part) == 800
    np.testing.assert_array_equal(part, full[:800])
    longer, _ = load_audio(sine_wav(), duration=10)
    assert len(longer) == len(full)


# ================================================================== load_audio: resampling
@pytest.mark.parametrize("sr_in, sr_out", [(8000, 16000), (22050, 8000), (16000, 22050), (44100, 11025)])
def test_load_resamples(wav_factory, sr_in, sr_out):
    y = sine(440, sr_in, 0.5)
    path = wav_factory("tone.wav", y, sr_in, subtype="FLOAT")
    out, sr = load_audio(path, sr=sr_out)
    assert sr == sr_out and out.dtype == np.float32
    assert abs(len(out) - round(len(y) * sr_out / sr_in)) <= 1
    assert abs(len(out) / sr - 0.5) <= 1.5 / sr_out
    assert abs(dominant_frequency(out, sr) - 440.0) < 0.5
    assert np.max(np.abs(out)) <= 1.0
    # The tone keeps its level away from the edges (a high-quality resampler, not a crude one).
    mid = out[len(out) // 4: 3 * len(out) // 4]
    assert abs(np.sqrt(np.mean(mid ** 2)) - 0.5 / np.sqrt(2)) < 0.005


def test_load_same_rate_is_untouched(wav_factory):
    y = sine(440, 8000, 0.1)
    path = wav_factory("tone.wav", y, 8000, subtype="FLOAT")
    out, sr = load_audio(path, sr=8000)
    assert sr == 8000
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("sr", [16000, np.int64(16000), 16000.0, np.float64(16000.0), np.float32(16000.0)])
def test_load_accepts_whole_number_sr_types(sine_wav, sr):
    out, got = load_audio(sine_wav(), sr=sr)
    assert got == 16000 and type(got) is int and len(out) == 8000


def test_resample_batches_and_validates():
    batch = np.stack([sine(440, 8000, 0.25), sine(1000, 8000, 0.25)])
    out = resample(batch, 8000, 16000)
    assert out.shape == (2, 4000) and out.dtype == np.float32
    assert abs(dominant_frequency(out[1], 16000) - 1000) < 0.5
    with pytest.raises(ParameterError) as excinfo:
        resample(batch, 8000, 0)
    assert_one_family_error(excinfo, names=["target_sr"])


# ================================================================== load_audio: bad input
def _bad_files(tmp_path):
    """name -> (make(path), expected reason substring)."""
    good = tmp_path / "good_src.wav"
    sf.write(str(good), sine(440, 8000, 0.1), 8000, subtype="PCM_16")
    good_bytes = good.read_bytes()

    def zero_frames(p):
        sf.write(str(p), np.zeros(0, dtype=np.float32), 8000)

    return {
        "missing": (lambda p: None, "no such file"),
        "empty": (lambda p: p.write_bytes(b""), "empty"),
        "zero_frames": (zero_frames, "no samples"),
        "handmade_zero_frames": (lambda p: p.write_bytes(wav_bytes(sr=8000, channels=1, bits=16, data=b"")),
                                 "no samples"),
        "truncated_header": (lambda p: p.write_bytes(good_bytes[:20]), "truncated or corrupt"),
        "riff_garbage": (lambda p: p.write_bytes(b"RIFF" + os.urandom(300)), "truncated or corrupt"),
        "text": (lambda p: p.write_text("this is not audio\njust some text\n"), "text file"),
        "random_bytes": (lambda p: p.write_bytes(bytes(np.random.default_rng(1).integers(128, 256, 2000,
                                                                                         dtype=np.uint8))),
                         "not an audio format"),
        "directory": (lambda p: p.mkdir(), "directory"),
        "nan": (lambda p: sf.write(str(p), np.array([0.0, np.nan, 0.1], np.float32), 8000, subtype="FLOAT"),
                "NaN"),
        "inf": (lambda p: sf.write(str(p), np.array([0.0, -np.inf, 0.1], np.float32), 8000, subtype="DOUBLE"),
                "infinite"),
        "sr_1hz": (lambda p: p.write_bytes(wav_bytes(sr=1, channels=1, bits=16, data=b"\x00\x10" * 50)),
                   "sample rate 1 Hz"),
        "sr_too_high": (lambda p: p.write_bytes(wav_bytes(sr=10_000_000, channels=1, bits=16, data=b"\x00\x10" * 50)),
                        "sample rate 10000000 Hz"),
    }


BAD_FILE_CASES = ["missing", "empty", "zero_frames", "handmade_zero_frames", "truncated_header", "riff_garbage",
                  "text", "random_bytes", "directory", "nan", "inf", "sr_1hz", "sr_too_high"]


@pytest.mark.parametrize("case", BAD_FILE_CASES)
def test_load_bad_files(tmp_path, case):
    make, reason = _bad_files(tmp_path)[case]
    path = tmp_path / f"bad {case}.wav"
    make(path)
    with pytest.raises(AudioLoadError) as excinfo:
        load_audio(path)
    assert_one_family_error(excinfo, names=[str(path)], reason=reason)
    with pytest.raises(AudioLoadError):  # same with a target rate and a str path
        load_audio(str(path), sr=16000)


def test_load_unreadable_permissions(tmp_path, monkeypatch, sine_wav):
    path = sine_wav("locked.wav")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root reads anything: make opening this one file fail the way chmod 000 would.
        real_open = builtins.open

        def deny(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.fspath(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", deny)
    else:
        path.chmod(0)
    try:
        with pytest.raises(AudioLoadError) as excinfo:
            load_audio(path)
    finally:
        monkeypatch.undo()
        path.chmod(0o644)
    assert_one_family_error(excinfo, names=[str(path)], reason="permission denied")


def test_load_error_message_is_one_line_even_if_library_message_is_not(tmp_path, monkeypatch):
    path = tmp_path / "weird.wav"
    path.write_bytes(b"RIFF" + b"\x00" * 100)

    class Boom(sf.LibsndfileError):
        def __init__(self):
            RuntimeError.__init__(self)

        def __str__(self):
            return "line one\nline two\r\n"

    def raising(*args, **kwargs):
        raise Boom()

    monkeypatch.setattr(sf, "SoundFile", raising)
    with pytest.raises(AudioLoadError) as excinfo:
        load_audio(path)
    assert_one_family_error(excinfo, names=[str(path)])


@pytest.mark.parametrize("sr", [0, -5, 1e9, "abc", 999, MAX_SR + 1, 22050.5, float("nan"), float("inf"), True,
                                [8000]])
def test_load_bad_sr_argument(sine_wav, sr):
    path = sine_wav()
    with pytest.raises(ParameterError) as excinfo:
        load_audio(path, sr=sr)
    assert_one_family_error(excinfo, names=["sr="])


@pytest.mark.parametrize("duration", [0, -1, float("nan"), float("inf"), "abc", [1.0]])
def test_load_bad_duration_argument(sine_wav, duration):
    with pytest.raises(ParameterError) as excinfo:
        load_audio(sine_wav(), duration=duration)
    assert_one_family_error(excinfo, names=["duration="])


def test_load_bad_path_type():
    with pytest.raises(ParameterError) as excinfo:
        load_audio(None)
    assert_one_family_error(excinfo, names=["path"])


def test_sr_bounds_are_sane():
    assert MIN_SR <= 8000 and MAX_SR >= 192000


# ================================================================== write_wav
def test_write_round_trip_pcm16(tmp_path):
    y = sine(440, 8000, 0.25, amplitude=0.9)
    path = write_wav(tmp_path / "new" / "deeper" / "out.wav", y, 8000)
    assert path == tmp_path / "new" / "deeper" / "out.wav"
    info = sf.info(str(path))
    assert info.samplerate == 8000 and info.subtype == "PCM_16" and info.channels == 1 and info.frames == len(y)
    back, sr = load_audio(path)
    assert sr == 8000
    np.testing.assert_allclose(back, y, atol=1 / 32768 + 1e-7)
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]


def test_write_float_exact_and_stereo(tmp_path):
    y = np.stack([sine(440, 8000, 0.1), sine(660, 8000, 0.1, amplitude=0.25)])  # (channels, n)
    path = write_wav(tmp_path / "st.wav", y, 8000, subtype="FLOAT")
    back, _ = load_audio(path, mono=False)
    np.testing.assert_array_equal(back, y)


def test_write_refuses_nan_inf(tmp_path):
    for bad in (np.nan, np.inf, -np.inf):
        y = sine(440, 8000, 0.1)
        y[10] = bad
        target = tmp_path / "bad.wav"
        with pytest.raises(AudioWriteError) as excinfo:
            write_wav(target, y, 8000)
        assert_one_family_error(excinfo, names=[str(target)], reason="NaN or infinite")
        assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_out_of_range_refused_then_clipped(tmp_path):
    y = np.array([0.0, 0.5, 1.5, -2.0, 1.0, -1.0], dtype=np.float32)
    target = tmp_path / "loud.wav"
    with pytest.raises(AudioWriteError) as excinfo:
        write_wav(target, y, 8000)
    assert_one_family_error(excinfo, names=[str(target)], reason="clip=True")
    assert not target.exists()
    write_wav(target, y, 8000, clip=True, subtype="FLOAT")
    back, _ = sf.read(str(target), dtype="float32")  # raw samples (load_audio would clip on its own)
    np.testing.assert_array_equal(back, [0.0, 0.5, 1.0, -1.0, 1.0, -1.0])
    write_wav(target, y[[0, 1, 4, 5]], 8000)  # exactly full scale is fine without clip


def fake_partial_write(written):
    """A ``Path.write_bytes`` that writes half a WAV file, then fails like a full disk would."""

    def write(self, data):
        with open(self, "wb") as handle:
            handle.write(bytes(data)[:len(data) // 2])
        written.append(str(self))
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_write_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr(Path, "write_bytes", fake_partial_write(written))
    target = tmp_path / "sub" / "out.wav"
    with pytest.raises(AudioWriteError, match="No space left") as excinfo:
        write_wav(target, sine(440, 8000, 0.1), 8000)
    assert_one_family_error(excinfo, names=[str(target)])
    assert written and written[0] != str(target) and os.path.dirname(written[0]) == str(target.parent)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file either


def test_write_failure_keeps_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    write_wav(target, sine(440, 8000, 0.1), 8000)
    before = target.read_bytes()
    monkeypatch.setattr(Path, "write_bytes", fake_partial_write([]))
    with pytest.raises(AudioWriteError):
        write_wav(target, sine(880, 8000, 0.2), 8000)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_write_interrupted_keeps_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    write_wav(target, sine(440, 8000, 0.1), 8000)
    before = target.read_bytes()

    def interrupted(self, data):
        with open(self, "wb") as handle:
            handle.write(b"RIFF")
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_wav(target, sine(880, 8000, 0.2), 8000)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


@pytest.mark.parametrize("y, reason", [
    (np.zeros(0, np.float32), "empty"),
    (np.zeros((2, 3, 4), np.float32), "shape"),
    (np.zeros(10, np.int16), "dtype"),
    (np.zeros(10, np.complex64), "dtype"),
])
def test_write_refuses_bad_arrays(tmp_path, y, reason):
    target = tmp_path / "x.wav"
    with pytest.raises(AudioWriteError) as excinfo:
        write_wav(target, y, 8000)
    assert_one_family_error(excinfo, names=[str(target)], reason=reason)
    assert list(tmp_path.iterdir()) == []


def test_write_bad_sr_and_subtype(tmp_path):
    with pytest.raises(ParameterError) as excinfo:
        write_wav(tmp_path / "x.wav", sine(), 0)
    assert_one_family_error(excinfo, names=["sr="])
    with pytest.raises(VaeAudioError) as excinfo:
        write_wav(tmp_path / "x.wav", sine(), 8000, subtype="NOT_A_SUBTYPE")
    assert_one_family_error(excinfo, names=["subtype", "NOT_A_SUBTYPE"])
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_directory_path_fails_cleanly(tmp_path):
    (tmp_path / "taken.wav").mkdir()
    with pytest.raises(AudioWriteError) as excinfo:
        write_wav(tmp_path / "taken.wav", sine(), 8000)
    assert_one_family_error(excinfo, names=[str(tmp_path / "taken.wav")])
    assert [p.name for p in tmp_path.iterdir()] == ["taken.wav"]


# ================================================================== pad_or_truncate / trim
@pytest.mark.parametrize("n_in", [1, 999, 1000, 1001, 5000])
def test_pad_or_truncate_exact_length_zeros_at_end(n_in):
    y = np.arange(1, n_in + 1, dtype=np.float32) / (n_in + 1)
    out = pad_or_truncate(y, 1000)
    assert out.shape == (1000,) and out.dtype == np.float32
    k = min(n_in, 1000)
    np.testing.assert_array_equal(out[:k], y[:k])
    assert not np.any(out[k:])
    assert out is not y and not np.shares_memory(out, y)


def test_pad_or_truncate_center():
    y = np.ones(6, np.float32)
    np.testing.assert_array_equal(pad_or_truncate(y, 10, align="center"), [0, 0, 1, 1, 1, 1, 1, 1, 0, 0])
    z = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(pad_or_truncate(z, 4, align="center"), [3, 4, 5, 6])


def test_pad_or_truncate_batches():
    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, size=(3, 2, 700)).astype(np.float32)
    out = pad_or_truncate(y, 1000)
    assert out.shape == (3, 2, 1000)
    np.testing.assert_array_equal(out[..., :700], y)
    assert not np.any(out[..., 700:])
    assert pad_or_truncate(y, 500).shape == (3, 2, 500)
    np.testing.assert_array_equal(pad_or_truncate(y, 500), y[..., :500])


def _silence_tone_silence(lead: int, tone_len: int, tail: int, freq: float = 440.0) -> np.ndarray:
    return np.concatenate([np.zeros(lead, np.float32), sine(freq, 8000, tone_len / 8000),
                           np.zeros(tail, np.float32)])


def test_pad_or_truncate_trims_silence_first():
    y = _silence_tone_silence(3000, 2000, 3000)
    plain = pad_or_truncate(y, 4000)
    assert not np.any(plain[:3000])  # without trimming the clip starts silent
    out = pad_or_truncate(y, 4000, trim_db=40)
    assert out.shape == (4000,)
    onset = int(np.argmax(np.abs(out) > 0.01))
    assert onset < 512  # speech now starts within one analysis frame of sample 0
    assert not np.any(out[2600:])  # tone (+ at most a frame of silence) then padding zeros
    assert abs(dominant_frequency(out[:2000], 8000) - 440) < 5


def test_pad_or_truncate_trims_each_clip_of_a_batch():
    batch = np.stack([_silence_tone_silence(3000, 2000, 3000), _silence_tone_silence(500, 2000, 5500, 1000)])
    out = pad_or_truncate(batch[None], 3000, trim_db=40)
    assert out.shape == (1, 2, 3000)
    for row in out[0]:
        assert int(np.argmax(np.abs(row) > 0.01)) < 512


def test_trim_all_silent_clip_unchanged():
    z = np.zeros(1000, np.float32)
    np.testing.assert_array_equal(trim_silence(z), z)
    np.testing.assert_array_equal(pad_or_truncate(z, 800, trim_db=30), np.zeros(800))
    with pytest.raises(ParameterError):
        trim_silence(np.zeros((2, 10), np.float32))


@pytest.mark.parametrize("kwargs, name", [
    ({"n_samples": 0}, "n_samples="), ({"n_samples": -3}, "n_samples="), ({"n_samples": 2.5}, "n_samples="),
    ({"n_samples": True}, "n_samples="), ({"n_samples": 10, "align": "end"}, "align="),
    ({"n_samples": 10, "trim_db": -5}, "trim_db="), ({"n_samples": 10, "trim_db": float("nan")}, "trim_db="),
    ({"n_samples": 10, "trim_db": "loud"}, "trim_db="),
])
def test_pad_or_truncate_bad_arguments(kwargs, name):
    with pytest.raises(ParameterError) as excinfo:
        pad_or_truncate(sine(), **kwargs)
    assert_one_family_error(excinfo, names=[name])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    with pytest.raises(AudioLoadError) as excinfo:
        load_audio(path)
    assert_one_family_error(excinfo, names=[str(path)], reason="not a regular file")
