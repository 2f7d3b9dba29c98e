"""Datasets (FSDD, NSynth layout, any folder, synth), features, the feature cache, splits and tf.data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vae_audio import datasets
from vae_audio.data.datasets import (
    AudioDataset,
    find_fsdd,
    is_nsynth_folder,
    load_dataset,
    load_folder,
    load_fsdd,
    load_nsynth,
)
from vae_audio.data.featurize import Features, build_features, make_tf_dataset
from vae_audio.dsp.recipe import normalize_level
from vae_audio.errors import DatasetError, ParameterError

from helpers import DATASET_CONFIG as SMALL
from helpers import dominant_frequency, fake_fsdd, save_wav, sine


def _sources(ds, split):
    return {c.source for c in ds.clips if c.split == split}


# ----------------------------------------------------------------------------- defaults
def test_listed_data_gets_provisional_settings_from_its_headers(fsdd_dir, tmp_path):
    """No per-dataset table: the files' own rate (capped), a window covering 97.5 % of the clips, the 32 ms STFT;
    a run's configuration measures the rest (tests/test_rules.py)."""
    synth = load_dataset("synth", max_clips=16).config
    assert (synth.sr, synth.n_samples, synth.n_fft, synth.hop_length) == (16000, 16000, 512, 128)
    fsdd = load_dataset(fsdd_dir).config  # fake FSDD: 8 kHz clips
    assert fsdd.sr == 8000 and (fsdd.n_fft, fsdd.hop_length) == (256, 64)
    for i, (sr, seconds) in enumerate([(44100, 0.5), (48000, 0.6), (22050, 0.5)]):
        save_wav(tmp_path / "mixed" / f"clip{i}.wav", np.zeros(int(sr * seconds), np.float32) + 0.1, sr)
    mixed = load_dataset(tmp_path / "mixed").config
    assert mixed.sr == 22050 and mixed.n_samples == round(0.6 * 22050) and mixed.n_fft == 512  # capped at 22.05 kHz
    with pytest.raises(DatasetError, match="mnist: not a dataset name"):
        load_dataset("mnist")


# ----------------------------------------------------------------------------- FSDD
def test_fsdd_labels_and_standard_split(fsdd_dir):
    ds = load_fsdd(fsdd_dir.parent, config=SMALL, seed=3)  # the folder containing recordings/
    assert ds.name == "fsdd" and len(ds) == 60 and ds.label_names == tuple("0123456789")
    assert ds.level is None  # as recorded unless a level is given (a run's configuration measures it)
    for c in ds.clips:
        assert c.label == c.metadata["digit"] and c.source.endswith(c.metadata["file"])
        if c.metadata["take"] < 5:
            assert c.split == "test"
        else:
            assert c.split in ("train", "val")
    counts = ds.split_counts()
    assert counts == {"train": 24, "val": 6, "test": 30}  # 1 of takes 5-9 per (speaker, digit) is val
    groups = {(c.metadata["speaker"], c.label) for c in ds.clips if c.split == "val"}
    assert len(groups) == 6  # stratified: one per (speaker, digit) group
    assert _sources(ds, "train").isdisjoint(_sources(ds, "val"))
    again = load_fsdd(fsdd_dir, config=SMALL, seed=3)  # the recordings folder itself also works
    assert [c.split for c in again.clips] == [c.split for c in ds.clips]
    other = load_fsdd(fsdd_dir, config=SMALL, seed=4)
    assert _sources(other, "val") != _sources(ds, "val") and _sources(other, "test") == _sources(ds, "test")


def test_fsdd_discovery_env_cwd_and_errors(tmp_path, monkeypatch, fsdd_dir):
    monkeypatch.setattr(datasets, "_REPO_ROOT", tmp_path / "norepo")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("FSDD_DIR", raising=False)
    with pytest.raises(DatasetError, match="vae-audio download fsdd"):
        find_fsdd()
    monkeypatch.setenv("FSDD_DIR", str(fsdd_dir.parent))
    assert find_fsdd() == fsdd_dir.resolve()
    monkeypatch.setenv("FSDD_DIR", str(tmp_path / "nothing"))
    with pytest.raises(DatasetError, match="FSDD_DIR"):
        load_dataset("fsdd")
    monkeypatch.delenv("FSDD_DIR")
    fake_fsdd(work / "data" / "fsdd", digits=(7,), takes=range(6))
    ds = load_dataset("fsdd", config=SMALL)
    assert len(ds) == 12 and {c.label for c in ds.clips} == {7}
    # a WAV with another name is skipped and reported, not fatal
    save_wav(work / "data" / "fsdd" / "recordings" / "notes.wav", sine(440, 8000, 0.1))
    ds = load_dataset("fsdd", config=SMALL)
    assert len(ds) == 12 and len(ds.skipped) == 1 and "notes.wav" in ds.skipped_report()
    with pytest.raises(DatasetError, match="strict=True"):
        load_dataset("fsdd", config=SMALL, strict=True)


# ----------------------------------------------------------------------------- NSynth
def _fake_nsynth(root: Path, families=("brass", "guitar", "organ"), per=4, missing: bool = False) -> Path:
    examples = {}
    for f_i, fam in enumerate(families):
        for k in range(per):
            note = f"{fam}_acoustic_{f_i:03d}-{60 + k:03d}-100"
            examples[note] = {"note_str": note, "pitch": 60 + k, "velocity": 100, "instrument_family_str": fam,
                              "instrument_source_str": "acoustic", "qualities_str": ["bright"], "sample_rate": 16000}
            save_wav(root / "audio" / f"{note}.wav", sine(261.6 * 2 ** (k / 12), 16000, 0.3), 16000)
    if missing:
        examples["flute_synthetic_000-070-050"] = {"instrument_family_str": "flute", "pitch": 70}
    (root / "examples.json").write_text(json.dumps(examples))
    return root


def test_nsynth_layout(tmp_path):
    root = _fake_nsynth(tmp_path / "nsynth-mini", missing=True)
    assert is_nsynth_folder(root)
    ds = load_dataset(str(root), config=SMALL)  # detected from the path
    assert ds.name == "nsynth" and ds.label_names == ("brass", "guitar", "organ")
    assert len(ds) == 12 and len(ds.skipped) == 1 and "missing" in ds.skipped_report()
    for c in ds.clips:
        assert ds.label_names[c.label] == c.metadata["instrument_family_str"]
        assert 60 <= c.metadata["pitch"] <= 63 and c.metadata["qualities_str"] == ["bright"]
    assert all(any(c.label == lab and c.split == "train" for c in ds.clips) for lab in range(3))
    feats = build_features(ds, cache_dir=None)
    assert feats.x.shape == (12, *SMALL.shape)
    bad = tmp_path / "broken"
    (bad / "audio").mkdir(parents=True)
    (bad / "examples.json").write_text("{not json")
    with pytest.raises(DatasetError, match="examples.json"):
        load_nsynth(bad)


def test_nsynth_split_folders(tmp_path):
    root = tmp_path / "nsynth"
    for name in ("nsynth-train", "nsynth-valid", "nsynth-test"):
        _fake_nsynth(root / name, per=2)
    ds = load_dataset(root, config=SMALL)
    by_split = {s: {c.metadata["file"].split(os.sep)[0] for c in ds.clips if c.split == s}
                for s in ("train", "val", "test")}
    assert by_split == {"train": {"nsynth-train"}, "val": {"nsynth-valid"}, "test": {"nsynth-test"}}


# ----------------------------------------------------------------------------- any folder
def test_folder_labels_recursion_resampling_and_mono(tmp_path, labelled_folder):
    stereo = np.stack([sine(880, 22050, 0.3), sine(880, 22050, 0.3)], axis=1)
    save_wav(labelled_folder / "high" / "cd_quality.flac", stereo, 22050)
    (labelled_folder / "high" / "README.txt").write_text("not audio, ignored")
    ds = load_dataset(labelled_folder, config=SMALL, seed=1)
    assert ds.name == "folder" and ds.label_names == ("high", "low") and len(ds) == 21
    assert not ds.skipped  # the .txt is ignored by extension, not "skipped"
    deep = [c for c in ds.clips if "deeper" in c.source]
    assert deep and all(ds.label_names[c.label] == c.metadata["file"].split(os.sep)[0] for c in ds.clips)
    feats = build_features(ds, cache_dir=None)
    i = next(k for k, m in enumerate(feats.metadata) if m["file"].endswith("cd_quality.flac"))
    assert feats.metadata[i]["file_sr"] == 22050 and feats.metadata[i]["channels"] == 2
    assert dominant_frequency(feats.audio[i][:2000], 8000) == pytest.approx(880, abs=5)  # resampled to 8 kHz
    assert feats.audio.shape == (21, 2000)


def test_folder_unreadable_files_are_skipped_and_reported(tmp_path):
    root = tmp_path / "mixed"
    for i in range(4):
        save_wav(root / f"ok{i}.wav", sine(440 + 50 * i, 8000, 0.2))
    (root / "text.wav").write_text("this is not a wav file at all, just some text\n")
    (root / "empty.wav").write_bytes(b"")
    (root / "truncated.wav").write_bytes((root / "ok0.wav").read_bytes()[:30])
    ds = load_folder(root, config=SMALL)
    assert len(ds) == 4 and ds.label_names == () and all(c.label == -1 for c in ds.clips)
    report = ds.skipped_report()
    assert {Path(s.path).name for s in ds.skipped} == {"text.wav", "empty.wav", "truncated.wav"}
    assert "text.wav" in report and "empty" in report
    with pytest.raises(DatasetError, match="strict=True") as err:
        load_folder(root, config=SMALL, strict=True)
    assert "truncated.wav" in str(err.value)
    # a file that breaks between listing and loading is skipped at featurizing time
    (root / "ok3.wav").write_text("overwritten with text")
    feats = build_features(ds, cache_dir=None)
    assert len(feats) == 3 and any(Path(s.path).name == "ok3.wav" for s in feats.skipped)
    assert "ok3.wav" in feats.skipped_report() and "text.wav" in feats.skipped_report()
    ds.strict = True
    with pytest.raises(DatasetError, match="failed to load"):
        build_features(ds, cache_dir=None)


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        load_dataset(empty)
    (empty / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="1 other file"):
        load_dataset(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.wav").write_text("text")
    (bad / "b.flac").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="none of the 2 audio file"):
        load_dataset(bad)
    with pytest.raises(DatasetError, match="no such folder|nor an existing folder"):
        load_dataset(tmp_path / "missing")
    f = save_wav(tmp_path / "one.wav", sine())
    with pytest.raises(DatasetError, match="is a file"):
        load_folder(f)


# ----------------------------------------------------------------------------- splits
def test_splits_never_overlap_and_are_seeded(labelled_folder):
    for ds in (load_dataset("synth", max_clips=80, config=SMALL, seed=2), load_folder(labelled_folder, config=SMALL)):
        parts = [_sources(ds, s) for s in ("train", "val", "test")]
        assert sum(len(p) for p in parts) == len(ds) == len({c.source for c in ds.clips})
        assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
        for lab in range(len(ds.label_names)):  # stratified: every label in every split
            assert {c.split for c in ds.clips if c.label == lab} == {"train", "val", "test"}
    synth = load_dataset("synth", max_clips=80, config=SMALL, seed=2)
    assert synth.split_counts() == {"train": 64, "val": 8, "test": 8}
    assert [c.split for c in synth.clips] == [c.split for c in load_dataset("synth", max_clips=80, config=SMALL,
                                                                             seed=2).clips]
    assert [c.split for c in synth.clips] != [c.split for c in load_dataset("synth", max_clips=80, config=SMALL,
                                                                             seed=3).clips]


def test_max_clips_subsamples_every_group(fsdd_dir):
    ds = load_dataset(str(fsdd_dir), config=SMALL)  # a plain folder: unlabelled, random split
    assert ds.name == "folder" and len(ds) == 60
    small = load_fsdd(fsdd_dir, config=SMALL)
    sub = datasets.subsample_clips(small.clips, 20, seed=0)
    assert len(sub) == 20 and {c.split for c in sub} >= {"train", "test"}
    assert sub == datasets.subsample_clips(small.clips, 20, seed=0)
    assert {c.label for c in sub} == {0, 1, 2}


# ----------------------------------------------------------------------------- level
def test_normalize_level():
    y = np.stack([sine(440, 8000, 0.1, amplitude=0.01), np.zeros(800, np.float32),
                  np.r_[np.zeros(798), 0.8 * np.ones(2)].astype(np.float32)])
    peak = normalize_level(y, "peak")
    np.testing.assert_allclose(np.abs(peak).max(axis=1), [0.9, 0.0, 0.9], atol=1e-6)
    rms = normalize_level(y, "rms")
    assert 20 * np.log10(np.sqrt(np.mean(rms[0] ** 2))) == pytest.approx(-20.0, abs=0.01)
    assert np.abs(rms[2]).max() == pytest.approx(0.99, abs=1e-6)  # limited by the peak instead
    assert not np.any(rms[1])
    assert np.array_equal(normalize_level(y, None), y)
    with pytest.raises(ParameterError, match="level"):
        normalize_level(y, "loud")
    with pytest.raises(ParameterError, match="level"):
        load_dataset("synth", max_clips=8, level="loud")


# ----------------------------------------------------------------------------- cache
# ----------------------------------------------------------------------------- tf.data
def test_top_level_names():
    import vae_audio

    assert vae_audio.build_features is build_features and vae_audio.make_tf_dataset is make_tf_dataset
    assert vae_audio.Features is Features and vae_audio.load_dataset is load_dataset
    assert isinstance(load_dataset("synth", max_clips=8), AudioDataset)
