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
    ds = load_fsdd(fsdd_dir, config=SMALL, level="peak")
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


# ----------------------------------------------------------------------------- clips longer than the window
WINDOW_FRAMES = SMALL.n_frames  # 32 frames: 2000 samples, hop 64


@pytest.fixture
def long_folder(tmp_path):
    """Unlabelled 8 kHz chirps, each of its own rate (no 32 frames of one are those of another): 3 windows
    long (6000 samples), 6 windows (kept up to 4) and short clips (0.15 s)."""
    root = tmp_path / "long"
    for i in range(14):
        n = {0: 6000, 1: 12000}.get(i % 5, 1200)
        t = np.arange(n) / 8000
        y = 0.5 * np.sin(2 * np.pi * (200 + 40 * i + (150 + 37 * i) * t) * t)
        save_wav(root / f"c{i:02d}.wav", y.astype(np.float32))
    return root


def test_clips_longer_than_the_window_are_kept_up_to_max_duration(long_folder):
    ds = load_folder(long_folder, config=SMALL, level="peak")
    before = build_features(ds, cache_dir=None)
    feats = build_features(ds, cache_dir=None, max_duration=1.0)  # 4 windows: 8000 samples
    assert before.long is None and before.max_frames == WINDOW_FRAMES
    long = feats.long
    max_frames = 1 + 8000 // 64
    assert long.max_frames == feats.max_frames == max_frames == 126
    # x and audio are the windows, as without max_duration (the normalizer's range also covers the frames beyond)
    np.testing.assert_array_equal(feats.audio, before.audio)
    np.testing.assert_allclose(feats.normalizer.unnormalize(feats.x), before.normalizer.unnormalize(before.x),
                               atol=1e-3)
    assert feats.normalizer.low_db <= before.normalizer.low_db and feats.normalizer.high_db >= before.normalizer.high_db
    n_samples = np.array([{0: 6000, 1: 12000}.get(int(m["file"][1:3]) % 5, 1200) for m in feats.metadata])
    expected = np.minimum(1 + np.minimum(n_samples, 8000) // 64, max_frames)
    is_long = n_samples > 2000
    np.testing.assert_array_equal(long.start >= 0, is_long)
    np.testing.assert_array_equal(long.length[is_long], expected[is_long])  # 3 windows: 94; 6 windows: 126
    np.testing.assert_array_equal(long.length[~is_long], 1 + 1200 // 64)  # short clips: their frames in the window
    assert set(long.length[is_long]) == {94, 126}
    # memory: the frames of the long clips only, at most max_frames each
    assert long.frames.nbytes == int(long.length[is_long].sum()) * SMALL.n_freq * 4
    assert long.frames.nbytes <= long.n_long * SMALL.n_freq * max_frames * 4
    # each kept clip is its whole spectrogram (up to max_duration), made and normalized as the window is
    from vae_audio.dsp.audio import load_audio
    from vae_audio.dsp.recipe import level_gain

    for i in np.flatnonzero(is_long):
        y = load_audio(long_folder / feats.metadata[i]["file"], sr=8000)[0][:8000]
        gain = level_gain(y[None, :2000], "peak")[0, 0]  # the window's gain
        expect = feats.normalizer.normalize(SMALL.spectrogram_db(gain * y))
        np.testing.assert_allclose(long.clip(i), expect, atol=1e-5)
        np.testing.assert_allclose(long.clip(i)[:, :WINDOW_FRAMES - 2], feats.x[i][:, :WINDOW_FRAMES - 2], atol=1e-5)
    assert "clips kept beyond the window, up to 126 frames" in feats.describe()
    # a subset keeps its clips' rows (the frames are shared)
    train = feats.subset("train")
    assert train.long.frames is long.frames and len(train.long.start) == len(train)
    with pytest.raises(ParameterError, match="max_duration=0.1: expected at least the window"):
        build_features(ds, cache_dir=None, max_duration=0.1)
    with pytest.raises(ParameterError, match="per_clip"):
        build_features(ds, cache_dir=None, max_duration=1.0, normalizer="per_clip")


def test_the_memory_limit_bounds_what_is_kept_beyond_the_window(long_folder):
    ds = load_folder(long_folder, config=SMALL)
    window_bytes = len(ds) * (int(np.prod(SMALL.shape)) + SMALL.n_samples) * 4
    one = 94 * SMALL.n_freq * 4  # one clip of 3 windows
    with pytest.warns(UserWarning, match=r"clip\(s\) longer than the window are kept at the window only"):
        feats = build_features(ds, cache_dir=None, max_duration=1.0, memory_limit=window_bytes + one)
    assert feats.long.frames.nbytes <= one and feats.long.n_long == 1
    assert feats.long.frames.nbytes + window_bytes <= window_bytes + one


def _crop_offsets(feats, batches, rows) -> dict[int, int]:
    """For each long clip of ``rows`` (the split's rows), the offset its crop in ``batches`` was taken at."""
    crops = np.concatenate([b["spectrogram"].numpy()[..., 0] for b in batches])
    found = {}
    for i in rows[feats.long.start[rows] >= 0]:
        whole = feats.long.clip(i)
        offsets = [o for o in range(whole.shape[1] - WINDOW_FRAMES + 1)
                   for c in crops if np.array_equal(c, whole[:, o:o + WINDOW_FRAMES])]
        assert len(offsets) == 1, i  # each long clip shows up once per epoch, as one crop of itself
        found[int(i)] = offsets[0]
    return found


def test_training_batches_are_seeded_random_crops_and_evaluation_takes_the_start(long_folder):
    feats = build_features(load_folder(long_folder, config=SMALL, val_fraction=0.2, test_fraction=0.0),
                           cache_dir=None, max_duration=1.0)
    train = np.flatnonzero(feats.split == "train")
    assert feats.long.n_long >= 4 and np.sum(feats.long.start[train] >= 0) >= 4
    ds = make_tf_dataset(feats, split="train", batch_size=4, seed=7)
    assert ds.element_spec["spectrogram"].shape.as_list() == [None, *SMALL.shape, 1]
    epochs = [list(ds) for _ in range(3)]
    assert all(sum(len(b["spectrogram"]) for b in e) == len(train) for e in epochs)  # one crop per clip per epoch
    offsets = [_crop_offsets(feats, e, train) for e in epochs]
    assert offsets[0] != offsets[1] != offsets[2]  # drawn anew every epoch
    assert max(o for e in offsets for o in e.values()) > 10  # within the clip, not only near its start
    short = train[feats.long.start[train] < 0]
    stacked = np.concatenate([b["spectrogram"].numpy()[..., 0] for b in epochs[0]])
    for i in short:  # a clip that fits the window is its window, as before
        assert any(np.array_equal(c, feats.x[i]) for c in stacked)
    again = make_tf_dataset(feats, split="train", batch_size=4, seed=7)
    assert _crop_offsets(feats, list(again), train) == offsets[0]  # the same seed, the same crops
    other = make_tf_dataset(feats, split="train", batch_size=4, seed=8)
    assert _crop_offsets(feats, list(other), train) != offsets[0]
    # validation (no shuffle) and crops=False: the start of each clip, in order, exactly x
    for split, kwargs in (("val", {"shuffle": False}), ("train", {"shuffle": False}), ("val", {"crops": False})):
        rows = np.flatnonzero(feats.split == split)
        got = np.concatenate([b["spectrogram"].numpy()[..., 0]
                              for b in make_tf_dataset(feats, split=split, batch_size=3, **kwargs)])
        if kwargs.get("shuffle", True):
            got = got[np.argsort([np.flatnonzero([np.array_equal(g, feats.x[r]) for r in rows])[0] for g in got])]
        np.testing.assert_array_equal(got, feats.x[rows])


def test_the_cache_key_covers_max_duration(long_folder, tmp_path):
    cache = tmp_path / "cache"
    ds = load_folder(long_folder, config=SMALL)
    window = build_features(ds, cache_dir=cache)
    four = build_features(ds, cache_dir=cache, max_duration=1.0)
    three = build_features(ds, cache_dir=cache, max_duration=0.75)
    assert len({window.cache_path, four.cache_path, three.cache_path}) == 3
    assert window.long is None and four.long.max_frames == 126 and three.long.max_frames == 94
    hit = build_features(load_folder(long_folder, config=SMALL), cache_dir=cache, max_duration=1.0)
    assert hit.cache_path == four.cache_path
    for name in ("frames", "start", "length"):
        np.testing.assert_array_equal(getattr(hit.long, name), getattr(four.long, name))
    assert hit.long.max_frames == 126 and hit.long.frames.dtype == np.float32
    np.testing.assert_array_equal(hit.x, four.x)
    # the window (max_duration None or the window's own length) is the same entry as before
    same = build_features(load_folder(long_folder, config=SMALL), cache_dir=cache, max_duration=SMALL.duration)
    assert same.cache_path == window.cache_path and same.long is None
