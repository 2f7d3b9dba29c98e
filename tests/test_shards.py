"""Datasets larger than the memory limit: featurized into ``.npy`` shards, read on demand, streamed to Keras.

The sharded layout must give exactly the in-memory features (values, order, normalizer, dropped
files), a ShardedArray must index like the array it stands for, the stream must show every
training clip once per epoch with its own label, and a damaged shard must be rebuilt.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from vae_audio import cli, shards
from vae_audio.data import featurize
from vae_audio.data.datasets import load_dataset, load_folder
from vae_audio.data.featurize import build_features, make_tf_dataset, resolve_memory_limit
from vae_audio.data.shards import ShardedArray
from vae_audio.errors import ConfigError, DatasetError, ParameterError

from helpers import DATASET_CONFIG as SMALL
from helpers import LIGHT_RUN

TINY = "1KB"  # smaller than any dataset here: always sharded


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    monkeypatch.setattr(shards, "SHARD_BYTES", 200_000)  # several shards even for a few dozen clips


def _synth(n=60):
    return load_dataset("synth", max_clips=n, config=SMALL)


def test_sharded_features_equal_the_in_memory_ones(tmp_path):
    for normalizer in ("global", "per_clip"):
        mem = build_features(_synth(), normalizer=normalizer, cache_dir=tmp_path / f"m-{normalizer}")
        big = build_features(_synth(), normalizer=normalizer, cache_dir=tmp_path / f"s-{normalizer}",
                             memory_limit=TINY)
        assert isinstance(big.x, ShardedArray) and isinstance(big.audio, ShardedArray)
        assert isinstance(mem.x, np.ndarray)
        folder = big.cache_path.with_suffix(".shards")
        assert len(list(folder.glob("x-*.npy"))) >= 3 and len(list(folder.glob("audio-*.npy"))) >= 3
        assert big.x.shape == mem.x.shape and big.audio.shape == mem.audio.shape
        np.testing.assert_array_equal(np.asarray(big.x), mem.x)
        np.testing.assert_array_equal(np.asarray(big.audio), mem.audio)
        for name in ("labels", "split"):
            np.testing.assert_array_equal(getattr(big, name), getattr(mem, name))
        for k in ("low_db", "high_db"):
            np.testing.assert_allclose(big.stats[k], mem.stats[k])
        assert big.normalizer == mem.normalizer and big.metadata == mem.metadata
        with np.load(big.cache_path, allow_pickle=False) as z:  # the .npz holds only the small arrays
            assert "x" not in z.files and set(z.files) >= {"labels", "split"}


def test_sharded_folder_drops_unreadable_files_like_the_in_memory_path(tmp_path, labelled_folder):
    (labelled_folder / "low" / "broken.wav").write_bytes(b"RIFF not really")
    mem = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=tmp_path / "m")
    big = build_features(load_folder(labelled_folder, config=SMALL), cache_dir=tmp_path / "s", memory_limit=TINY)
    assert [s.path for s in big.skipped] == [s.path for s in mem.skipped] and len(big.skipped) == 1
    assert len(big) == len(mem) == 20
    np.testing.assert_array_equal(np.asarray(big.x), mem.x)
    assert [m["file"] for m in big.metadata] == [m["file"] for m in mem.metadata]


def test_cache_hit_stale_entry_and_damaged_shards_are_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    first = build_features(_synth(), cache_dir=cache, memory_limit=TINY)
    again = build_features(_synth(), cache_dir=cache, memory_limit=TINY)
    assert again.cache_path == first.cache_path and isinstance(again.x, ShardedArray)
    np.testing.assert_array_equal(np.asarray(again.x), np.asarray(first.x))
    # the in-memory layout is another entry: a lowered limit never loads a big .npz
    mem = build_features(_synth(), cache_dir=cache)
    assert mem.cache_path != first.cache_path and isinstance(mem.x, np.ndarray)

    folder = first.cache_path.with_suffix(".shards")
    shard = sorted(folder.glob("x-*.npy"))[1]
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    with pytest.warns(UserWarning, match=f"damaged.*{shard.name}.*truncated"):
        rebuilt = build_features(_synth(), cache_dir=cache, memory_limit=TINY)
    np.testing.assert_array_equal(np.asarray(rebuilt.x), mem.x)

    np.save(shard, np.zeros((3, 4), np.float32))  # a shard of another shape
    with pytest.warns(UserWarning, match=f"damaged.*{shard.name}.*expected float32"):
        rebuilt = build_features(_synth(), cache_dir=cache, memory_limit=TINY)
    np.testing.assert_array_equal(np.asarray(rebuilt.x), mem.x)

    # another set of clips with the same settings replaces the entry, shard folder included
    other = build_features(_synth(61), cache_dir=cache, memory_limit=TINY)
    assert other.cache_path != first.cache_path
    assert not folder.exists() and not first.cache_path.exists()
    assert other.cache_path.with_suffix(".shards").is_dir()


def test_sharded_array_indexes_like_the_array(tmp_path):
    data = np.arange(23 * 3 * 2, dtype=np.float32).reshape(23, 3, 2)
    rows = [5, 10, 8]
    paths = []
    for k, (lo, hi) in enumerate([(0, 5), (5, 15), (15, 23)]):
        paths.append(tmp_path / f"p{k}.npy")
        np.save(paths[-1], data[lo:hi])
    arr = ShardedArray(paths, rows, (3, 2), np.float32)
    assert arr.shape == data.shape and len(arr) == 23 and arr.ndim == 3 and arr.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(arr), data)
    np.testing.assert_array_equal(arr[7], data[7])
    view = arr[3:19:2]
    assert isinstance(view, ShardedArray) and view.shape == data[3:19:2].shape
    np.testing.assert_array_equal(np.asarray(view), data[3:19:2])
    pick = np.array([22, 0, 14, 14, 5])
    np.testing.assert_array_equal(np.asarray(arr[pick]), data[pick])
    mask = data[:, 0, 0] % 4 == 0
    np.testing.assert_array_equal(np.asarray(arr[mask]), data[mask])
    np.testing.assert_array_equal(np.asarray(view[[1, 0]]), data[3:19:2][[1, 0]])  # a view of a view
    np.testing.assert_array_equal(arr[..., 1], data[..., 1])  # anything else reads, then indexes
    np.testing.assert_array_equal(np.concatenate(list(arr.iter_chunks(4))), data)
    assert [len(c) for c in arr.iter_chunks(10)] == [10, 10, 3]

    paths[1].unlink()
    with pytest.raises(DatasetError, match=r"p1\.npy: cannot read this feature shard"):
        np.asarray(arr)


def test_stream_shows_every_training_clip_once_with_its_label(tmp_path):
    big = build_features(_synth(80), cache_dir=tmp_path, memory_limit=TINY)
    train = big.subset("train")
    x = np.asarray(train.x)
    key = {x[i].tobytes(): int(train.labels[i]) for i in range(len(train))}
    ds = make_tf_dataset(big, split="train", batch_size=7, shuffle=True, seed=3, with_labels=True)
    epochs = []
    for _ in range(2):
        seen = []
        for element in ds:
            spec, lab = element["spectrogram"].numpy(), element["label"].numpy()
            assert spec.shape[1:] == (*SMALL.shape, 1) and spec.dtype == np.float32 and len(spec) <= 7
            for s, label in zip(spec[..., 0], lab):
                assert key[s.tobytes()] == label  # each spectrogram comes with its own label
                seen.append(s.tobytes())
        assert sorted(seen) == sorted(key) and len(seen) == len(train)  # each clip exactly once
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    again = make_tf_dataset(big, split="train", batch_size=7, shuffle=True, seed=3, with_labels=True)
    assert [s.tobytes() for e in again for s in e["spectrogram"].numpy()[..., 0]] == epochs[0]  # same seed
    ordered = make_tf_dataset(big, split="val", batch_size=4, shuffle=False)
    got = np.concatenate([e["spectrogram"].numpy()[..., 0] for e in ordered])
    np.testing.assert_array_equal(got, np.asarray(big.subset("val").x))  # no shuffle: file order
    assert "label" not in next(iter(ordered))
    dropped = make_tf_dataset(big, split="train", batch_size=7, drop_remainder=True)
    assert sum(len(e["spectrogram"]) for e in dropped) == len(train) // 7 * 7


def test_memory_limit_argument_environment_and_no_cache(tmp_path, monkeypatch):
    assert resolve_memory_limit("512MB") == 512 * 2**20 and resolve_memory_limit("2 GB") == 2 * 2**30
    assert resolve_memory_limit(1234) == 1234
    monkeypatch.setenv("VAE_AUDIO_MEMORY_LIMIT", "3kb")
    assert resolve_memory_limit(None) == 3 * 1024
    monkeypatch.setenv("VAE_AUDIO_MEMORY_LIMIT", "lots")
    with pytest.raises(ParameterError, match=r"^VAE_AUDIO_MEMORY_LIMIT='lots': expected a size"):
        resolve_memory_limit(None)
    monkeypatch.delenv("VAE_AUDIO_MEMORY_LIMIT")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert resolve_memory_limit(None) == min(ram // 8, 512 * 2**20)  # an eighth of the RAM, at most 512 MB
    for bad in ("lots", "-3GB", 0, True, 1.5):
        with pytest.raises(ParameterError, match="^memory_limit="):
            resolve_memory_limit(bad)
    with pytest.raises(ConfigError, match="need more than the memory limit.*needs a cache folder"):
        build_features(_synth(), cache_dir=None, memory_limit=TINY)


def test_the_default_limit_shards_with_a_cache_and_stays_in_memory_without_one(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_AUDIO_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(featurize, "DEFAULT_MEMORY_LIMIT_CAP", 1024)  # the 512 MB cap, scaled to this data
    assert isinstance(build_features(_synth(), cache_dir=tmp_path).x, ShardedArray)
    assert isinstance(build_features(_synth(), cache_dir=None).x, np.ndarray)


def test_cli_refuses_a_bad_memory_limit_in_one_line(capsys, tmp_path):
    code = cli.main(["train", "--out", str(tmp_path / "run"), "--memory-limit", "lots", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "memory_limit='lots'" in err
    assert not (tmp_path / "run").exists()


def test_training_encoding_and_prior_on_sharded_features(tmp_path):
    from vae_audio.config import RunConfig
    from vae_audio.modeling.bundle import load_model
    from vae_audio.pipeline import train

    settings = RunConfig.of(LIGHT_RUN, data="synth", max_clips=48, epochs=1, sr=SMALL.sr, duration=SMALL.duration,
                             n_fft=SMALL.n_fft, hop_length=SMALL.hop_length, prior_model="autoregressive",
                             prior_steps=5, n_samples=2, out=str(tmp_path / "run"),
                             samples_dir=str(tmp_path / "samples"), memory_limit=TINY)
    features = build_features(load_dataset("synth", max_clips=48, config=SMALL),
                              cache_dir=tmp_path / "cache", memory_limit=TINY)
    assert isinstance(features.x, ShardedArray)
    result = train(settings, features=features, verbose=0)
    model = load_model(result.model_dir)
    assert len(list((tmp_path / "samples").glob("*.wav"))) >= 2
    train_x = features.subset("train").x
    labels = features.subset("train").labels if model.label_names else None
    z_sharded = model.encode(train_x, labels)[0]
    z_array = model.encode(np.asarray(train_x), labels)[0]
    np.testing.assert_allclose(z_sharded, z_array, atol=1e-5)
    assert json.loads((result.model_dir / "config.json").read_text())  # the bundle is whole


def test_ufuncs_read_the_view(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[0.0, 1.0], [0.0, 0.0], [2.0, 3.0]], np.float32))
    arr = ShardedArray([tmp_path / "a.npy"], [3], (2,), np.float32)
    np.testing.assert_array_equal(np.flatnonzero(np.any(arr != 0, axis=1)), [0, 2])
    np.testing.assert_array_equal(arr[1:] * 2, [[0.0, 0.0], [4.0, 6.0]])


def test_same_seed_same_batches_in_either_layout(tmp_path):
    mem = build_features(_synth(80), cache_dir=tmp_path / "m")
    big = build_features(_synth(80), cache_dir=tmp_path / "s", memory_limit=TINY)
    for split, shuffle in (("train", True), ("val", False)):
        a = make_tf_dataset(mem, split=split, batch_size=5, shuffle=shuffle, seed=11, with_labels=True)
        b = make_tf_dataset(big, split=split, batch_size=5, shuffle=shuffle, seed=11, with_labels=True)
        pairs = list(zip(a, b))
        assert len(pairs) == len(a)
        for ea, eb in pairs:
            np.testing.assert_array_equal(ea["spectrogram"].numpy(), eb["spectrogram"].numpy())
            np.testing.assert_array_equal(ea["label"].numpy(), eb["label"].numpy())


def test_the_folder_level_and_long_clips_in_shards(tmp_path, labelled_folder, monkeypatch):
    from helpers import save_wav, sine

    (labelled_folder / "low" / "broken.wav").write_bytes(b"RIFF not really")
    save_wav(labelled_folder / "high" / "long.wav", sine(880.0, 8000, 1.0, amplitude=0.3))  # 4 windows
    # the folder gain is fitted on the same training peaks whichever way the data is featurized
    monkeypatch.setattr(featurize, "FOLDER_GAIN_CLIPS", 9)  # a seeded sample of the training clips
    mem = build_features(load_folder(labelled_folder, config=SMALL, level="folder"), cache_dir=tmp_path / "m",
                         max_duration=0.75)
    big = build_features(load_folder(labelled_folder, config=SMALL, level="folder"), cache_dir=tmp_path / "s",
                         memory_limit=TINY, max_duration=0.75)
    assert mem.recipe.folder_gain == big.recipe.folder_gain and mem.recipe.folder_gain > 1  # quiet tones: raised
    np.testing.assert_array_equal(np.asarray(big.audio), mem.audio)
    np.testing.assert_allclose(mem.normalizer.unnormalize(mem.x), big.normalizer.unnormalize(np.asarray(big.x)),
                               atol=1e-3)
    assert len(big.skipped) == len(mem.skipped) == 1
    # in memory the long clip is kept beyond the window; shards keep the window: training takes its start
    assert mem.long.n_long > 1 and mem.long.length.max() == 94  # up to 0.75 s: 1 + 6000 // 64 frames
    assert big.long is None and big.max_frames == SMALL.n_frames
    batches = list(make_tf_dataset(big, batch_size=4, seed=1))
    assert sum(len(b["spectrogram"]) for b in batches) == int(np.sum(big.split == "train"))
    assert batches[0]["spectrogram"].shape[1:] == (*SMALL.shape, 1)
