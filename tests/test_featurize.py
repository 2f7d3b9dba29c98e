"""vae_audio.data.featurize: datasets to model inputs: threaded featurizing, levels, the normalizer
fitted on the training split only, the feature cache and the tf.data pipelines.

(Listing clips of every dataset kind: tests/test_datasets.py, whose small fake datasets these use.)
"""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import pytest

from vae_audio.data.datasets import load_dataset, load_folder, load_fsdd
from vae_audio.data.featurize import build_features, make_tf_dataset
from vae_audio.dsp.features import Normalizer
from vae_audio.errors import DatasetError, ParameterError

from helpers import DATASET_CONFIG as SMALL
from helpers import dominant_frequency, save_wav, sine


def test_threaded_featurization_equals_serial(fsdd_dir, monkeypatch):
    from vae_audio import featurize

    monkeypatch.setattr(featurize, "_CHUNK", 7)  # many chunks, so the reader/transform threads interleave
    for ds in (load_fsdd(fsdd_dir, config=SMALL), load_dataset("synth", max_clips=30, config=SMALL, level="rms")):
        serial = build_features(ds, cache_dir=None, workers=1)
        threaded = build_features(ds, cache_dir=None, workers=3)
        assert np.array_equal(serial.x, threaded.x) and np.array_equal(serial.audio, threaded.audio)
        assert serial.normalizer == threaded.normalizer
    with pytest.raises(ParameterError, match="workers"):
        build_features(ds, cache_dir=None, workers=0)


def test_fsdd_features_levels_and_normalizer_fit_on_train_only(fsdd_dir, tmp_path):
    ds = load_fsdd(fsdd_dir, config=SMALL)
    feats = build_features(ds, cache_dir=None)
    assert feats.x.shape == (60, *SMALL.shape) and feats.x.dtype == np.float32
    assert 0.0 <= feats.x.min() and feats.x.max() <= 1.0
    assert feats.audio.shape == (60, 2000) and feats.labels.dtype == np.int64
    peaks = np.abs(feats.audio).max(axis=1)
    np.testing.assert_allclose(peaks, 0.9, atol=1e-3)  # "peak" level: quiet speaker brought up
    # the normalizer range comes from the training split only
    raw = load_fsdd(fsdd_dir, config=SMALL, level=None)
    f_raw = build_features(raw, cache_dir=None)
    train_db = SMALL.spectrogram_db(f_raw.audio[f_raw.split == "train"])
    assert f_raw.normalizer.low_db == pytest.approx(float(train_db.min()), abs=1e-4)
    assert f_raw.normalizer.high_db == pytest.approx(float(train_db.max()), abs=1e-4)
    quiet = np.array([m["speaker"] == "bob" for m in f_raw.metadata])
    ratio = np.abs(f_raw.audio[quiet]).max() / np.abs(f_raw.audio[~quiet]).max()
    assert ratio == pytest.approx(0.1, rel=0.01)  # level=None keeps the recorded levels
    test = feats.subset("test")
    assert len(test) == 30 and set(test.split) == {"test"} and len(test.metadata) == 30
    assert feats.stats["low_db"].shape == (60,)


def test_cache_hit_invalidation_and_no_pickle(tmp_path, labelled_folder):
    cache = tmp_path / "cache"
    ds = load_folder(labelled_folder, config=SMALL)
    first = build_features(ds, cache_dir=cache)
    assert first.cache_path is not None and first.cache_path.is_file()
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".npz")
    with np.load(first.cache_path, allow_pickle=False) as z:  # plain arrays, no pickled objects
        assert set(z.files) >= {"x", "audio", "labels", "split"}
    meta = json.loads(first.cache_path.with_suffix(".json").read_text())
    assert meta["recipe"]["spectrogram"] == SMALL.to_dict() and len(meta["metadata"]) == len(ds)

    t0 = time.perf_counter()
    second = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=cache)
    assert time.perf_counter() - t0 < 1.0
    assert second.cache_path == first.cache_path
    for name in ("x", "audio", "labels", "split"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert second.normalizer == first.normalizer and second.metadata == first.metadata

    # change one file: a new entry is built, the stale one is removed
    target = labelled_folder / "low" / "low1.wav"
    save_wav(target, sine(300, 8000, 0.25, amplitude=0.3))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    third = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=cache)
    assert third.cache_path != first.cache_path and not first.cache_path.exists()
    row = next(i for i, m in enumerate(third.metadata) if m["file"].endswith("low1.wav"))
    assert not np.array_equal(third.audio[row], first.audio[row])
    assert dominant_frequency(third.audio[row][:2000], 8000) == pytest.approx(300, abs=5)

    # another config is another entry (the first stays)
    other = build_features(load_folder(labelled_folder, config=SMALL.replace(hop_length=32)), cache_dir=cache)
    assert other.cache_path != third.cache_path and third.cache_path.exists()
    assert other.x.shape[-1] == 1 + 2000 // 32

    # a damaged entry is rebuilt with a warning; use_cache=False neither reads nor writes
    third.cache_path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=cache)
    assert np.array_equal(rebuilt.x, third.x)
    before = sorted(cache.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=cache, use_cache=False)
    assert fresh.cache_path is None and sorted(cache.iterdir()) == before


def test_synth_dataset_features_and_given_normalizer(tmp_path):
    ds = load_dataset("synth", max_clips=24, config=SMALL, seed=1)
    assert ds.name == "synth" and len(ds) == 24 and len(ds.label_names) == 8
    assert ds.clips[5].metadata["family"] == ds.label_names[ds.clips[5].label]
    feats = build_features(ds, cache_dir=tmp_path)
    assert feats.x.shape == (24, *SMALL.shape)
    peaks = np.abs(feats.audio).max(axis=1)
    assert 0.3 - 1e-3 <= peaks.min() and peaks.max() <= 0.9 + 1e-3  # level=None keeps the velocities
    fixed = Normalizer.fixed(-80.0, 0.0)
    with_fixed = build_features(ds, normalizer=fixed, cache_dir=tmp_path)
    assert with_fixed.normalizer == fixed and with_fixed.cache_path != feats.cache_path
    np.testing.assert_allclose(with_fixed.x, fixed.normalize(SMALL.spectrogram_db(feats.audio)), atol=1e-6)
    per_clip = build_features(ds, normalizer="per_clip", cache_dir=None)
    assert np.allclose(per_clip.x.max(axis=(1, 2)), 1.0) and np.allclose(per_clip.x.min(axis=(1, 2)), 0.0)
    with pytest.raises(ParameterError, match="normalizer"):
        build_features(ds, normalizer="minmax", cache_dir=None)
    with pytest.raises(ParameterError, match="AudioDataset"):
        build_features("synth")


def test_tf_dataset_structure_shuffle_and_errors(tmp_path, labelled_folder):
    import tensorflow as tf

    feats = build_features(load_dataset("synth", max_clips=40, config=SMALL), cache_dir=None)
    n_train = int(np.sum(feats.split == "train"))
    ds = make_tf_dataset(feats, split="train", batch_size=8, seed=3, with_labels=True)
    spec = ds.element_spec
    assert set(spec) == {"spectrogram", "label"}
    assert spec["spectrogram"].shape.as_list() == [None, *SMALL.shape, 1] and spec["spectrogram"].dtype == tf.float32
    assert spec["label"].dtype == tf.int32
    epoch1 = [b["label"].numpy() for b in ds]
    epoch2 = [b["label"].numpy() for b in ds]
    assert sum(len(b) for b in epoch1) == n_train
    again = [b["label"].numpy() for b in make_tf_dataset(feats, split="train", batch_size=8, seed=3,
                                                           with_labels=True)]
    assert all(np.array_equal(a, b) for a, b in zip(epoch1, again))  # same seed, same order
    first_x = next(iter(ds))["spectrogram"].numpy()
    assert first_x.shape[1:] == (*SMALL.shape, 1)
    assert np.concatenate(epoch1).tolist() != np.concatenate(epoch2).tolist()  # reshuffled every epoch
    # evaluation pipeline: no shuffle, original order, spectrogram only
    test = make_tf_dataset(feats, split="test", batch_size=3, shuffle=False)
    assert set(test.element_spec) == {"spectrogram"}
    stacked = np.concatenate([b["spectrogram"].numpy() for b in test])[..., 0]
    assert np.array_equal(stacked, feats.subset("test").x)
    # unlabelled data cannot feed a conditional model; an empty split is an error
    unlabelled = build_features(load_folder(labelled_folder / "low", config=SMALL), cache_dir=None)
    with pytest.raises(DatasetError, match="no labels"):
        make_tf_dataset(unlabelled, with_labels=True)
    empty = feats.select(feats.split == "train")
    with pytest.raises(DatasetError, match="'val' split has no clips"):
        make_tf_dataset(empty, split="val")
