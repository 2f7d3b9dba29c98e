"""Inspecting a dataset before training ("the folder speaks first"): vae_audio.data.inspection and
``vae-audio inspect``; the summary in ``train --dry-run`` and in ``train``'s first lines.

Every expected value is computed here from how the audio was made (amplitudes, lengths, rates), not
with the module's own functions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_audio.data.datasets import load_dataset
from vae_audio.data.inspection import FLOOR_DB, DataSummary, clip_levels, inspect_dataset
from vae_audio.errors import DatasetError, ParameterError

from helpers import DATASET_CONFIG, sine

# (file under the root, rate Hz, stereo, length s, tone s, amplitude): a 440 Hz tone from the start, then silence.
# A stereo file's right channel is half its left, so its mono mix has 0.75 x the amplitude.
CLIPS = [
    ("quiet/q0.wav", 8000, False, 0.5, 0.25, 0.01),
    ("quiet/q1.flac", 16000, False, 1.5, 1.0, 0.02),
    ("quiet/q2.wav", 44100, True, 2.5, 2.0, 0.04),
    ("quiet/q3.flac", 8000, False, 0.75, 0.5, 0.03),
    ("loud/l0.wav", 8000, False, 0.3, 0.3, 0.5),
    ("loud/l1.flac", 44100, False, 4.5, 4.0, 0.9),
    ("loud/l2.wav", 16000, True, 1.2, 1.0, 0.9),
    ("loud/l3.wav", 44100, False, 3.0, 0.5, 0.8),
]


def mix_amplitude(stereo: bool, amplitude: float) -> float:
    return 0.75 * amplitude if stereo else amplitude


def tone(sr: int, seconds: float, tone_s: float, amplitude: float) -> np.ndarray:
    y = np.zeros(int(round(seconds * sr)), dtype=np.float32)
    t = sine(440.0, sr, tone_s, amplitude=amplitude)
    y[:t.size] = t
    return y


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Two labels (a quiet one near -35 dBFS, a loud one near -1 dBFS) at 8, 16 and 44.1 kHz, mono and
    stereo, WAV and FLAC, 0.3 to 4.5 s long; plus a text file named .wav, a WAV of NaN samples (its
    header is fine) and a README that is not audio."""
    import soundfile as sf

    root = tmp_path / "mixed"
    for name, sr, stereo, seconds, tone_s, amp in CLIPS:
        y = tone(sr, seconds, tone_s, amp)
        data = np.stack([y, 0.5 * y], axis=1) if stereo else y
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(root / name), data, sr)
    (root / "loud" / "broken.wav").write_text("not audio at all\n")
    sf.write(str(root / "quiet" / "nan.wav"), np.full(800, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    (root / "README.txt").write_text("two labels\n")
    return root


def expected_levels(label: str) -> dict[str, float]:
    """Median and standard deviation of the peak and active RMS of a label's clips, from their amplitudes."""
    amps = np.array([mix_amplitude(st, a) for n, _, st, _, _, a in CLIPS if n.startswith(label + "/")])
    peak = 20 * np.log10(amps)
    rms = 20 * np.log10(amps / np.sqrt(2))  # a sine's RMS over the frames where it sounds
    return {"peak": np.median(peak), "peak_sd": peak.std(), "rms": np.median(rms), "rms_sd": rms.std()}


# ----------------------------------------------------------------------------- one clip
def test_clip_levels_of_known_signals():
    sr = 16000
    full = sine(1000.0, sr, 1.0, amplitude=1.0)
    levels = clip_levels(full, sr)
    assert levels["peak_db"] == pytest.approx(0.0, abs=0.01) and levels["rms_db"] == pytest.approx(-3.01, abs=0.05)
    assert levels["active_s"] == pytest.approx(1.0, abs=1e-9) and 990 <= levels["rolloff_hz"] <= 1100
    # a 0.1 s hit in a 2 s file has the level of the hit; the plain RMS over the file is 13 dB lower
    hit = tone(sr, 2.0, 0.1, 0.5)
    levels = clip_levels(hit, sr)
    assert levels["rms_db"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.3)
    plain = 10 * np.log10(np.mean(hit.astype(np.float64) ** 2))
    assert levels["rms_db"] - plain == pytest.approx(10 * np.log10(20), abs=0.3)
    assert levels["active_s"] == pytest.approx(0.1, abs=0.02)
    assert clip_levels(np.zeros(100), sr) == {"peak_db": FLOOR_DB, "rms_db": FLOOR_DB, "active_s": 0.0,
                                              "rolloff_hz": 0.0}
    assert clip_levels(np.full(10, 0.25), sr)["rms_db"] == pytest.approx(20 * np.log10(0.25))  # shorter than a frame
    with pytest.raises(ParameterError, match=r"^y: expected a non-empty mono waveform"):
        clip_levels(np.zeros((2, 100)), sr)


# ----------------------------------------------------------------------------- a folder
def test_a_mixed_folder_is_summarized_with_exact_counts_lengths_and_levels(mixed_folder):
    s = inspect_dataset(mixed_folder)
    assert s.name == "folder" and s.label_names == ("loud", "quiet") and s.level_scope == "all"
    assert s.n_clips == 8 and s.n_measured == 8 and s.n_ignored == 1
    assert s.rates == {8000: 3, 16000: 2, 44100: 3} and s.channels == {1: 6, 2: 2}
    assert s.formats == {"WAV PCM_16": 5, "FLAC PCM_16": 3}
    assert s.label_counts == {"loud": 4, "quiet": 4} and sum(s.splits.values()) == 8
    # lengths from the headers, percentiles computed here
    lengths = np.array([c[3] for c in CLIPS])
    g = s.lengths
    assert (g.min_s, g.max_s) == (0.3, 4.5) and g.total_s == pytest.approx(lengths.sum(), abs=1e-3)
    assert [g.p10_s, g.p50_s, g.p90_s] == pytest.approx(np.percentile(lengths, [10, 50, 90]), abs=1e-5)
    assert g.longer_than == {1.0: 5 / 8, 2.0: 3 / 8, 4.0: 1 / 8}
    # per clip: the file's own rate, channels and format; levels of the mono mix; how long the tone lasts
    by_file = {Path(c.source).relative_to(mixed_folder.resolve()).as_posix(): c for c in s.clips}
    for name, sr, stereo, seconds, tone_s, amp in CLIPS:
        c = by_file[name]
        assert (c.sr, c.channels, c.duration_s, c.label) == (sr, 2 if stereo else 1, seconds, name.split("/")[0])
        assert c.peak_db == pytest.approx(20 * np.log10(mix_amplitude(stereo, amp)), abs=0.5), name
        assert c.rms_db == pytest.approx(20 * np.log10(mix_amplitude(stereo, amp) / np.sqrt(2)), abs=0.5), name
        assert c.active_s == pytest.approx(tone_s, abs=0.03), name
        assert 440 <= c.rolloff_hz <= 600, name
    # per label: the quiet one near -35 dBFS, the loud one near -1 dBFS, within 0.5 dB of the amplitudes'
    for label in ("quiet", "loud"):
        lv, want = s.label_levels[label], expected_levels(label)
        assert lv.n == 4 and lv.n_silent == 0 and lv.n_full_scale == 0
        assert lv.peak_db == pytest.approx(want["peak"], abs=0.5) and lv.rms_db == pytest.approx(want["rms"], abs=0.5)
        assert lv.peak_spread_db == pytest.approx(want["peak_sd"], abs=0.5)
        assert lv.rms_spread_db == pytest.approx(want["rms_sd"], abs=0.5)
    assert s.label_levels["loud"].rms_db - s.label_levels["quiet"].rms_db > 25
    # both bad files are skipped, each with its reason: the text file by the listing, the NaN one when read
    reasons = {Path(k.path).name: k.reason for k in s.skipped}
    assert set(reasons) == {"broken.wav", "nan.wav"}
    assert reasons["broken.wav"].startswith("cannot read audio (it is a text file, not audio")
    assert reasons["nan.wav"] == "contains NaN or infinite samples"
    assert s.column("rms_db").shape == (8,) and np.all(np.isfinite(s.column("rms_db")))


def test_describe_shows_the_key_lines(mixed_folder):
    s = inspect_dataset(mixed_folder)
    text = s.describe()
    lines = text.splitlines()
    assert lines[0].startswith("folder: 8 clips (train ")
    assert lines[0].endswith(f"2 labels from {mixed_folder.resolve()}")
    assert lines[1] == ("  files: WAV PCM_16 (5), FLAC PCM_16 (3); 8000 Hz (3), 16000 Hz (2), 44100 Hz (3); "
                        "mono (6), stereo (2); 1 other file ignored")
    assert lines[2].startswith("  lengths: min 0.30 s, median 1.35 s (10-90 %: 0.44-3.45 s), max 4.50 s; "
                               "longer than 1 s: 62 %, 2 s: 38 %, 4 s: 12 %; 14.2 s in all")
    assert lines[3].startswith("  levels of every clip (mono mix, median dBFS): peak ")
    want = expected_levels("quiet")
    quiet = next(line for line in lines if line.startswith("  quiet "))
    assert quiet.split()[1:3] == ["4", f"{s.label_levels['quiet'].peak_db:.1f}"]
    assert abs(float(quiet.split()[4]) - want["rms"]) < 0.5  # the active RMS column
    assert "  skipped: 2 files:" in lines
    assert any(line.strip().startswith("quiet/nan.wav: contains NaN") for line in lines)
    assert 8 <= len(lines) <= 20
    short = s.describe(short=True).splitlines()
    assert short[:4] == lines[:4] and len(short) <= 8
    assert any(line.startswith("  per label: median active RMS from ") and "(quiet)" in line and "(loud)" in line
               for line in short)


def test_the_summary_round_trips_through_json(mixed_folder):
    s = inspect_dataset(mixed_folder)
    text = json.dumps(s.to_dict(), allow_nan=False)
    again = DataSummary.from_dict(json.loads(text))
    assert again == s and again.to_dict() == s.to_dict()
    d = json.loads(text)
    assert d["rates"] == {"8000": 3, "16000": 2, "44100": 3} and len(d["clips"]) == 8
    assert d["lengths"]["longer_than"] == {"1": 0.625, "2": 0.375, "4": 0.125}
    assert "clips" not in s.to_dict(clips=False)
    with pytest.raises(ParameterError, match="has no 'clips'"):
        DataSummary.from_dict(s.to_dict(clips=False))
    with pytest.raises(ParameterError, match="expected the dict of DataSummary.to_dict"):
        DataSummary.from_dict({"name": "folder"})


def test_large_data_has_its_levels_from_a_seeded_sample_and_long_files_are_read_in_part(mixed_folder):
    s = inspect_dataset(mixed_folder, max_level_clips=4)
    # nan.wav's header is fine, its samples are not: only reading it finds that, and this sample left it out
    assert s.level_scope == "sample" and s.n_measured == 4 and s.n_clips == 9
    assert [Path(k.path).name for k in s.skipped] == ["broken.wav"]
    assert sorted(lv.n for lv in s.label_levels.values()) == [1, 3]  # drawn across every (split, label) group
    assert [c.source for c in s.clips if c.measured] == \
        [c.source for c in inspect_dataset(mixed_folder, max_level_clips=4).clips if c.measured]  # seeded
    assert "levels of a seeded sample of 4 of 9 clips" in s.describe()
    assert " read/clips " in s.describe()
    headers_only = inspect_dataset(mixed_folder, max_level_clips=0)
    assert headers_only.level_scope == "none" and headers_only.levels is None and headers_only.rates == s.rates
    assert "  levels: not measured (no audio read)" in headers_only.describe().splitlines()
    # a file longer than max_read_s is measured on its start: l1's 4 s tone lasts 1 s of it
    part = inspect_dataset(mixed_folder, max_read_s=1.0)
    l1 = next(c for c in part.clips if c.source.endswith("l1.flac"))
    assert l1.duration_s == 4.5 and l1.active_s == pytest.approx(1.0, abs=0.03)
    assert "the first 1 s of longer files" in part.describe()


@pytest.mark.parametrize("kwargs, pattern", [
    ({"max_level_clips": -1}, r"^max_level_clips=-1: expected a whole number >= 0"),
    ({"max_read_s": 0}, r"^max_read_s=0: expected a number of seconds > 0"),
])
def test_bad_arguments_are_refused_in_one_line(mixed_folder, kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        inspect_dataset(mixed_folder, **kwargs)
    with pytest.raises(ParameterError, match=r"^data: expected an AudioDataset, Features or a dataset spec"):
        inspect_dataset(42)
    with pytest.raises(DatasetError, match=r"nowhere: not a dataset name"):
        inspect_dataset("nowhere")


def test_synth_summarizes_the_notes_as_made():
    from vae_audio.data.synth import generate_synth

    ds = load_dataset("synth", max_clips=16)
    s = inspect_dataset(ds)
    assert s.rates == {16000: 16} and s.channels == {1: 16} and s.formats == {"synth float32": 16}
    assert s.lengths.min_s == s.lengths.max_s == 1.0 and s.lengths.total_s == 16.0
    assert s.label_counts == {name: 2 for name in ds.label_names} and s.level_scope == "all" and not s.skipped
    audio, meta = generate_synth(16, sr=16000, n_samples=16000)
    assert [c.peak_db for c in s.clips] == pytest.approx([20 * np.log10(m["peak"]) for m in meta], abs=0.01)
    assert [c.label for c in s.clips] == [m["family"] for m in meta]
    lines = s.describe().splitlines()
    assert lines[0].startswith("synth: 16 clips (train ")
    assert lines[1].startswith("  notes made in memory: float32 (16)")
    assert "  lengths: all 1.00 s; longer than 1 s: 0 %, 2 s: 0 %, 4 s: 0 %; 16.0 s in all" in lines


def test_featurized_data_is_summarized_from_its_metadata(mixed_folder):
    from vae_audio.data.featurize import build_features

    ds = load_dataset(mixed_folder, config=DATASET_CONFIG)
    features = build_features(ds, cache_dir=None)
    s = inspect_dataset(features)
    assert s.level_scope == "none" and s.levels is None and s.n_clips == 8
    assert s.rates == {8000: 3, 16000: 2, 44100: 3} and s.channels == {1: 6, 2: 2}  # the folder's metadata
    assert s.formats == {"featurized": 8} and {Path(k.path).name for k in s.skipped} == {"broken.wav", "nan.wav"}
    assert "  levels: not measured (the data came featurized)" in s.describe().splitlines()


# ----------------------------------------------------------------------------- the command line
def run(capsys, *argv) -> tuple[int, str, str]:
    from vae_audio import cli

    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_inspect_command_prints_the_summary_and_writes_json(mixed_folder, tmp_path, capsys):
    code, out, err = run(capsys, "inspect", mixed_folder, "--json", tmp_path / "summary.json")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("folder: 8 clips") and lines[1].startswith("  files: WAV PCM_16 (5), FLAC PCM_16 (3)")
    assert lines[-2].startswith("inspected in ") and lines[-1] == f"wrote {tmp_path / 'summary.json'}"
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert DataSummary.from_dict(saved) == inspect_dataset(mixed_folder)


@pytest.mark.parametrize("make, pattern", [
    (lambda tmp: tmp / "missing", r"missing: not a dataset name \('synth', 'fsdd', 'nsynth'\) nor an existing folder"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", r"empty: no audio files found \(the folder is empty\)"),
    (lambda tmp: (tmp / "t").mkdir() or (tmp / "t" / "a.wav").write_text("x") and tmp / "t",
     r"t: none of the 1 audio file\(s\) could be read"),
])
def test_bad_data_is_refused_in_one_line(make, pattern, tmp_path, capsys):
    code, out, err = run(capsys, "inspect", make(tmp_path))
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("vae-audio: error: ")
    assert __import__("re").search(pattern, lines[0]), lines[0]


def test_the_inspect_command_imports_no_tensorflow(mixed_folder):
    code = ("import sys; from vae_audio.cli import main; rc = main(['inspect', sys.argv[1]]); "
            "print(rc, [m for m in ('tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(mixed_folder)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 []"


# ----------------------------------------------------------------------------- in a run
def test_resolution_carries_the_summary_and_dry_run_prints_it(mixed_folder, tmp_path, capsys):
    from vae_audio.resolve import resolve_config

    r = resolve_config(data=str(mixed_folder), epochs=1)
    assert r.summary == inspect_dataset(r.dataset) and r.summary.n_clips == 8
    code, out, err = run(capsys, "train", "--data", mixed_folder, "--out", tmp_path / "run", "--dry-run")
    assert code == 0 and err == ""
    lines = out.splitlines()
    summary = r.summary.describe().splitlines()
    assert lines[:len(summary)] == summary and lines[len(summary)] == "settings, each with where it came from:"
    assert any(line.startswith("  quiet ") for line in lines)
    assert "  training.epochs = null  (the time budget (measured after featurizing))" in lines
    assert not (tmp_path / "run").exists()


def test_train_prints_the_summary_then_the_settings_it_chose(mixed_folder, tmp_path, capsys, monkeypatch):
    from vae_audio import pipeline

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(pipeline, "featurize", stop)  # everything before featurizing runs, nothing after
    with pytest.raises(Stop):
        pipeline.train(data=str(mixed_folder), out=str(tmp_path / "run"), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    short = inspect_dataset(mixed_folder).describe(short=True).splitlines()
    assert lines[:len(short)] == short
    rest = lines[len(short):]
    assert rest[0] == "settings derived from the data and the defaults, by reason:"
    assert "  the data has 2 labels: model.conditional = true" in rest
    # derived from the files: the highest rate capped, a window for the longest clips, the quiet label kept quiet
    assert "  the files' 44100 Hz (of 8000, 16000, 44100 Hz), capped at 22050 Hz: recipe.sr = 22050" in rest
    assert any("fit in 2 s (capped;" in line and line.endswith("recipe.duration = 2.0") for line in rest)
    assert any("one gain for the folder" in line and line.endswith("recipe.level = folder") for line in rest)
    assert len(rest) <= 18 and all(len(line) <= 200 for line in rest)
