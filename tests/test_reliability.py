"""Bad input at every entry point, and no silent garbage (issue 8, items 1 and 3).

The bad-input matrix walks ``load_audio``, dataset building (``load_dataset`` +
``build_features``), ``train``, ``generate``, ``reconstruct``, ``evaluate``, ``load_model``
and ``griffin_lim`` (and the ``vae-audio`` command) through the kinds of bad input below. Each
call must give either a correct result (checked) or a :class:`VaeAudioError` whose message is
one line naming the input and the reason, and must leave no output files behind; the command
exits with status 2 and prints exactly one line on stderr.

Running as root, unreadable files are simulated by making Python's ``open`` refuse them.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")

from vae_audio import bundle, cli, generate, inference, models  # noqa: E402
from vae_audio.config import RunConfig  # noqa: E402
from vae_audio.data.datasets import load_dataset  # noqa: E402
from vae_audio.data.featurize import build_features, make_tf_dataset  # noqa: E402
from vae_audio.dsp.audio import load_audio  # noqa: E402
from vae_audio.dsp.features import SpectrogramConfig, stft_magnitude  # noqa: E402
from vae_audio.dsp.phase import griffin_lim  # noqa: E402
from vae_audio.errors import (  # noqa: E402
    AudioWriteError,
    BundleError,
    ConfigError,
    DatasetError,
    ParameterError,
    TrainingError,
    VaeAudioError,
)
from vae_audio.pipeline import train  # noqa: E402
from vae_audio.training import latest_checkpoint  # noqa: E402

from helpers import sine, wav_bytes  # noqa: E402

SR = 8000
CONFIG = SpectrogramConfig(sr=SR, n_fft=64, hop_length=32, n_samples=2000)  # 33 x 63 spectrograms, 0.25 s
REPO = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------- the kinds of bad input
#: audio-file kinds -> (file name, regex of the reason, or None when the file is valid audio)
FILE_KINDS: dict[str, tuple[str, str | None]] = {
    "empty_file": ("empty.wav", r"empty \(0 bytes\)"),
    "zero_samples": ("zero_samples.wav", r"no samples"),
    "truncated_header": ("truncated.wav", r"truncated"),
    "random_bytes": ("random.wav", r"not an audio format"),
    "text_file": ("notes.wav", r"text file"),
    "directory": ("folder.wav", r"directory"),
    "nan_samples": ("nan.wav", r"NaN or infinite"),
    "inf_samples": ("inf.wav", r"NaN or infinite"),
    "silent": ("silent.wav", None),
    "one_sample": ("one_sample.wav", None),
    "ten_minutes": ("ten_minutes.wav", None),
    "six_channels": ("six_channels.wav", None),
    "rate_1hz": ("rate_1hz.wav", r"sample rate 1 Hz"),
    "unreadable": ("unreadable.wav", r"permission denied"),
}
VALID = [k for k, (_, reason) in FILE_KINDS.items() if reason is None]
MODEL_KINDS = ["missing_decoder", "config_not_json", "config_unknown_version", "config_unreadable"]
REQUEST_KINDS = ["unknown_label", "negative_n", "huge_n"]


def make_file(kind: str, folder: Path) -> Path:
    """Write the bad input of ``kind`` into ``folder`` and return its path."""
    name = FILE_KINDS[kind][0]
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    tone = sine(440.0, SR, 0.5)
    if kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "zero_samples":
        path.write_bytes(wav_bytes(sr=SR, channels=1, bits=16, data=b""))
    elif kind == "truncated_header":
        sf.write(str(path), tone, SR)
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "text_file":
        path.write_text("this is not audio, just notes\n" * 20)
    elif kind == "directory":
        path.mkdir()
    elif kind in ("nan_samples", "inf_samples"):
        y = tone.copy()
        y[100] = np.nan if kind == "nan_samples" else np.inf
        sf.write(str(path), y, SR, subtype="FLOAT")
    elif kind == "silent":
        sf.write(str(path), np.zeros(SR // 2, np.float32), SR)
    elif kind == "one_sample":
        sf.write(str(path), np.array([0.5], np.float32), SR)
    elif kind == "ten_minutes":
        sf.write(str(path), sine(440.0, SR, 600.0), SR)
    elif kind == "six_channels":
        sf.write(str(path), np.stack([sine(220.0 * (c + 1), SR, 0.5, amplitude=0.1) for c in range(6)], axis=1), SR)
    elif kind == "rate_1hz":
        path.write_bytes(wav_bytes(sr=1, channels=1, bits=16, data=(np.ones(100, np.int16) * 1000).tobytes()))
    elif kind == "unreadable":
        sf.write(str(path), tone, SR)  # valid audio; deny_read() makes it unreadable
    return path


def deny_read(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Make Python's ``open`` refuse to read ``paths`` with EACCES (tests run as root, where chmod
    does not stop reads). C libraries (libsndfile) still see the file: only code that opens it
    from Python is refused, as load_audio does before handing a file to libsndfile."""
    denied = {str(Path(p).resolve()) for p in paths}
    real_open = builtins.open

    def guarded(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and str(Path(file).resolve()) in denied \
                and ("r" in mode or "+" in mode):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)


@pytest.fixture
def bad_file(tmp_path, monkeypatch):
    """``make(kind) -> Path``: the bad input of ``kind`` in its own folder ``tmp_path/in``."""
    def make(kind: str, folder: Path | None = None) -> Path:
        path = make_file(kind, folder or tmp_path / "in")
        if kind == "unreadable":
            deny_read(monkeypatch, path)
        return path
    return make


def assert_one_line_error(exc: BaseException, *, names, reason: str, kind=VaeAudioError) -> str:
    """``exc`` is one of ours, its message is one line, names every item of ``names``, and says ``reason``."""
    assert isinstance(exc, kind), f"{type(exc).__name__}: {exc}"
    msg = str(exc)
    assert "\n" not in msg, f"multi-line message: {msg!r}"
    for name in names:
        assert str(name) in msg, f"{name} not named in: {msg}"
    assert re.search(reason, msg, re.IGNORECASE), f"reason /{reason}/ not in: {msg}"
    return msg


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``vae-audio ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_error(code: int, err: str, *, names, reason: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vae-audio: error: "), err
    for name in names:
        assert str(name) in lines[0], f"{name} not named in: {lines[0]}"
    assert re.search(reason, lines[0], re.IGNORECASE), f"reason /{reason}/ not in: {lines[0]}"


# ----------------------------------------------------------------------------- a tiny trained model
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A conditional conv VAE trained for one epoch on 24 synthetic notes (8 families), as a bundle."""
    features = build_features(load_dataset("synth", config=CONFIG, max_clips=24, seed=0), cache_dir=None)
    keras.utils.set_random_seed(0)
    kw = {"architecture": "conv", "latent_dim": 4, "num_classes": len(features.label_names), "filters": (4, 8)}
    vae = models.VAE(models.build_encoder(CONFIG.shape, **kw), models.build_decoder(CONFIG.shape, **kw), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(make_tf_dataset(features, batch_size=8, with_labels=True), epochs=1, verbose=0, shuffle=False)
    path = bundle.save_model(vae, tmp_path_factory.mktemp("tiny") / "model", recipe=features.recipe,
                             label_names=features.label_names)
    return SimpleNamespace(path=path, model=bundle.load_model(path), features=features, vae=vae)


def broken_bundle(kind: str, tiny, folder: Path, monkeypatch) -> tuple[Path, Path, str]:
    """A copy of the tiny bundle broken as ``kind``: (bundle folder, file at fault, reason regex)."""
    path = folder / f"model_{kind}"
    shutil.copytree(tiny.path, path)
    if kind == "missing_decoder":
        (path / "decoder.keras").unlink()
        return path, path / "decoder.keras", r"missing"
    if kind == "config_not_json":
        (path / "config.json").write_text("{this is not json")
        return path, path / "config.json", r"not valid JSON"
    if kind == "config_unknown_version":
        info = json.loads((path / "config.json").read_text())
        info["format_version"] = 99
        (path / "config.json").write_text(json.dumps(info))
        return path, path / "config.json", r"format version 99"
    if kind == "config_unreadable":
        deny_read(monkeypatch, path / "config.json")
        return path, path / "config.json", r"cannot be read \(Permission denied\)"
    raise AssertionError(kind)


# ============================================================================= load_audio
@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_load_audio(kind, bad_file):
    path = bad_file(kind)
    reason = FILE_KINDS[kind][1]
    if reason is not None:
        with pytest.raises(VaeAudioError) as err:
            load_audio(path, sr=SR)
        assert_one_line_error(err.value, names=[path], reason=reason)
        return
    y, sr = load_audio(path, sr=SR)
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1 and np.all(np.isfinite(y))
    expected = {"silent": SR // 2, "one_sample": 1, "ten_minutes": 600 * SR, "six_channels": SR // 2}[kind]
    assert y.shape == (expected,)
    if kind == "silent":
        assert not np.any(y)
    if kind == "one_sample":
        assert y[0] == pytest.approx(0.5, abs=1e-4)
    if kind == "six_channels":  # the mean of the six channels
        data, _ = sf.read(str(path), dtype="float32")
        np.testing.assert_allclose(y, data.mean(axis=1), atol=1e-6)


# ============================================================================= dataset building
def dataset_outcome(kind: str) -> tuple[str | None, str]:
    """(reason regex or None for a valid dataset, what is named) of a folder holding only ``kind``."""
    if kind == "directory":
        return r"no audio files found", "folder"
    if kind == "silent":
        return r"every training clip is silent", "folder"
    return FILE_KINDS[kind][1], "file"


@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_dataset_building(kind, bad_file, tmp_path):
    path = bad_file(kind)
    folder = path.parent
    reason, named = dataset_outcome(kind)
    if reason is not None:
        with pytest.raises(DatasetError) as err:
            build_features(load_dataset(folder), cache_dir=tmp_path / "cache")
        assert_one_line_error(err.value, names=[folder] + ([path] if named == "file" else []), reason=reason)
        assert files_under(tmp_path / "cache") == []
        return
    features = build_features(load_dataset(folder), cache_dir=None)
    assert len(features) == 1 and features.skipped == []
    cfg = features.config
    assert features.x.shape == (1, *cfg.shape) and np.all(np.isfinite(features.x))
    assert features.audio.shape == (1, cfg.n_samples) and np.max(np.abs(features.audio)) > 0
    assert 0.0 <= features.x.min() and features.x.max() <= 1.0


@pytest.mark.parametrize("kind", [k for k in FILE_KINDS if k != "directory"])
def test_dataset_building_skips_the_bad_file_among_good_ones(kind, bad_file, tmp_path):
    folder = _mk(tmp_path / "mixed")
    for i in range(4):
        sf.write(str(folder / f"good_{i}.wav"), sine(300.0 + 100 * i, SR, 0.5), SR)
    path = bad_file(kind, folder)
    features = build_features(load_dataset(folder, config=CONFIG), cache_dir=None)
    used = [m["file"] for m in features.metadata]
    reason = FILE_KINDS[kind][1]
    if reason is None:
        assert path.name in used and len(features) == 5
        row = used.index(path.name)
        assert np.all(np.isfinite(features.x[row]))
    else:
        assert path.name not in used and len(features) == 4
        (skip,) = features.skipped
        assert Path(skip.path).resolve() == path.resolve()
        assert "\n" not in skip.reason and re.search(reason, skip.reason, re.IGNORECASE), skip.reason
        assert not skip.reason.startswith(str(path))  # the path is given once, not repeated in front


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ============================================================================= train
@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One training run (API) on a folder holding 8 good clips plus every kind of bad file."""
    root = tmp_path_factory.mktemp("mixed_run")
    folder = root / "data"
    for i in range(8):
        sf.write(str(_mk(folder) / f"good_{i}.wav"), sine(200.0 + 90 * i, SR, 1.0), SR)
    paths = {kind: make_file(kind, folder) for kind in FILE_KINDS}
    from vae_audio import featurize

    built = []
    real_build = featurize.build_features

    def spy(*args, **kwargs):
        built.append(real_build(*args, **kwargs))
        return built[-1]

    with pytest.MonkeyPatch.context() as mp:
        deny_read(mp, paths["unreadable"])
        mp.setattr(featurize, "build_features", spy)
        mp.chdir(root)  # the feature cache goes to ./data/cache
        result = train(RunConfig.of(data=str(folder), model="conv", epochs=1, batch_size=8, out=str(root / "run"),
                                     n_samples=2, samples_dir=str(root / "samples")), verbose=0)
    (features,) = built
    return SimpleNamespace(result=result, features=features, paths=paths, root=root)


@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_train(kind, bad_file, tmp_path, monkeypatch, mixed_run, capsys):
    # among good clips: a valid file is trained on, a bad one is skipped with its reason
    features, path = mixed_run.features, mixed_run.paths[kind]
    used = [m["file"] for m in features.metadata]
    skipped = {Path(s.path).name: s.reason for s in features.skipped}
    reason = FILE_KINDS[kind][1]
    if kind == "directory":
        assert path.name not in used and path.name not in skipped  # a folder is walked, not read
    elif reason is None:
        assert path.name in used and path.name not in skipped
    else:
        assert path.name not in used and re.search(reason, skipped[path.name], re.IGNORECASE)
        assert "\n" not in skipped[path.name]
    assert mixed_run.result.epochs_run == 1 and bundle.load_model(mixed_run.result.model_dir).config == features.config
    samples = mixed_run.result.samples
    assert len(samples) >= 2 and all(p.is_file() for p in samples)

    # alone: a bad file stops training before anything is written (valid files are covered above)
    reason, named = dataset_outcome(kind)
    if reason is None:
        return
    monkeypatch.chdir(tmp_path)
    alone = bad_file(kind)
    out = tmp_path / "run"
    with pytest.raises(DatasetError) as err:
        train(RunConfig.of(data=str(alone.parent), epochs=1, out=str(out), n_samples=0), verbose=0)
    names = [alone.parent] + ([alone] if named == "file" else [])
    assert_one_line_error(err.value, names=names, reason=reason)
    assert not out.exists()
    # the same through the command line: status 2, one line, no output folder
    code, _, err_text = run_cli(capsys, "train", "--data", alone.parent, "--out", out, "--epochs", 1, "--quiet",
                                "--n-samples", 0)
    assert_cli_error(code, err_text, names=names, reason=reason)
    assert not out.exists()


def test_train_with_a_file_as_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ConfigError) as err:
        train(RunConfig.of(data="synth", model="conv", max_clips=8, epochs=1, out=str(tmp_path / "taken")), verbose=0)
    assert_one_line_error(err.value, names=[tmp_path / "taken"], reason="not a folder")


# ============================================================================= reconstruct
@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_reconstruct(kind, bad_file, tiny, tmp_path, capsys):
    path = bad_file(kind)
    out = tmp_path / "out"
    reason = FILE_KINDS[kind][1] or (r"silent \(all zeros\)" if kind == "silent" else None)
    if reason is not None:
        with pytest.raises(VaeAudioError) as err:
            generate.reconstruct_files(tiny.model, [path], out, label="flute")
        assert_one_line_error(err.value, names=[path], reason=reason)
        assert not out.exists()
        code, _, err_text = run_cli(capsys, "reconstruct", "--model", tiny.path, "--label", "flute", path,
                                    "--out", out)
        assert_cli_error(code, err_text, names=[path], reason=reason)
        assert not out.exists()
        return
    written = generate.reconstruct_files(tiny.model, [path], out, label="flute")
    assert [p.name for p in written] == [f"{path.stem}_{k}.wav" for k in ("original", "ceiling", "reconstruction")]
    original, _ = load_audio(path, sr=SR)
    for p in written:
        y, sr = sf.read(str(p), dtype="float32")
        assert sr == SR and y.shape == (CONFIG.n_samples,) and np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0
    y0, _ = sf.read(str(written[0]), dtype="float32")
    n = min(len(original), CONFIG.n_samples)
    np.testing.assert_allclose(y0[:n], original[:n], atol=1e-4)  # the original is the padded/cut input
    assert files_under(out) == sorted(p.name for p in written)


def test_reconstruct_a_bad_file_among_good_ones_writes_nothing(bad_file, tiny, tmp_path, wav_factory):
    good = wav_factory("in/good.wav", sine(440.0, SR, 0.5), SR)
    bad = bad_file("truncated_header")
    with pytest.raises(VaeAudioError) as err:
        generate.reconstruct_files(tiny.model, [good, bad], tmp_path / "out", label=0)
    assert_one_line_error(err.value, names=[bad], reason="truncated")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["unknown_label", "missing_label", "label_on_unconditional"])
def test_reconstruct_labels(kind, tiny, tmp_path, wav_factory):
    good = wav_factory("in/good.wav", sine(440.0, SR, 0.5), SR)
    out = tmp_path / "out"
    model, label, reason, err_type = tiny.model, {"unknown_label": "zebra", "missing_label": None,
                                                  "label_on_unconditional": "flute"}[kind], None, VaeAudioError
    if kind == "unknown_label":
        reason, err_type = r"label 'zebra': unknown; this model's labels are \['flute'", ConfigError
    elif kind == "missing_label":
        reason, err_type = r"--label: this model is conditional", ParameterError
    else:
        model = inference.TrainedModel.from_vae(_unconditional(), recipe=tiny.features.recipe)
        reason, err_type = r"not conditional", ParameterError
    with pytest.raises(err_type) as err:
        generate.reconstruct_files(model, [good], out, label=label)
    assert_one_line_error(err.value, names=[], reason=reason)
    assert not out.exists()


def _unconditional():
    kw = {"architecture": "conv", "latent_dim": 4, "filters": (4, 8)}
    return models.VAE(models.build_encoder(CONFIG.shape, **kw), models.build_decoder(CONFIG.shape, **kw))


# ============================================================================= load_model
@pytest.mark.parametrize("kind", list(FILE_KINDS) + MODEL_KINDS)
def test_load_model(kind, bad_file, tiny, tmp_path, monkeypatch):
    if kind in MODEL_KINDS:
        path, at_fault, reason = broken_bundle(kind, tiny, tmp_path, monkeypatch)
    else:  # an audio file (or anything else) passed where a model folder is expected
        path = at_fault = bad_file(kind)
        reason = r"config\.json: missing" if kind == "directory" else r"no model bundle here \(not a folder\)"
    with pytest.raises(BundleError) as err:
        bundle.load_model(path)
    assert_one_line_error(err.value, names=[at_fault], reason=reason)


def test_load_model_with_an_unreadable_keras_file(tiny, tmp_path, monkeypatch):
    path = tmp_path / "model"
    shutil.copytree(tiny.path, path)
    deny_read(monkeypatch, path / "encoder.keras")
    with pytest.raises(BundleError) as err:
        bundle.load_model(path)
    assert_one_line_error(err.value, names=[path / "encoder.keras"], reason="cannot be read")


# ============================================================================= generate
@pytest.mark.parametrize("kind", REQUEST_KINDS + MODEL_KINDS + ["random_bytes", "directory"])
def test_generate(kind, tiny, tmp_path, monkeypatch, capsys, bad_file):
    out = tmp_path / "out"
    if kind in REQUEST_KINDS:
        kwargs, argv, reason, names = {
            "unknown_label": ({"n": 2, "label": "zebra"}, ["--label", "zebra"], r"label 'zebra': unknown", []),
            "negative_n": ({"n": -3}, ["--n", "-3"], r"-3", []),
            "huge_n": ({"n": 10 ** 9}, ["--n", str(10 ** 9)], r"1000000000.*expected a whole number from 1 to 10000",
                       []),
        }[kind]
        with pytest.raises(VaeAudioError) as err:
            generate.generate_to_files(tiny.model, out, **kwargs)
        assert_one_line_error(err.value, names=names, reason=reason)
        assert not out.exists()
        model_dir = tiny.path
    elif kind in MODEL_KINDS:
        model_dir, at_fault, reason = broken_bundle(kind, tiny, tmp_path, monkeypatch)
        names, argv = [at_fault], []
    else:
        model_dir = bad_file(kind)
        names, argv = [model_dir], []
        reason = r"config\.json: missing" if kind == "directory" else r"not a folder"
    code, _, err_text = run_cli(capsys, "generate", "--model", model_dir, "--out", out, *argv)
    assert_cli_error(code, err_text, names=names, reason=reason)
    assert not out.exists()


def test_generate_writes_checked_clips(tiny, tmp_path, capsys):
    code, out_text, err = run_cli(capsys, "generate", "--model", tiny.path, "--out", tmp_path / "out", "--n", 2,
                                  "--label", "bell")
    assert code == 0 and err == "" and "wrote 2 files" in out_text
    for name in ("bell_000.wav", "bell_001.wav"):
        y, sr = sf.read(str(tmp_path / "out" / name), dtype="float32")
        assert sr == SR and y.shape == (CONFIG.n_samples,) and np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0
    # a second run refuses to overwrite, and leaves the files as they were
    before = (tmp_path / "out" / "bell_000.wav").read_bytes()
    code, _, err = run_cli(capsys, "generate", "--model", tiny.path, "--out", tmp_path / "out", "--n", 2,
                           "--label", "bell", "--seed", 5)
    assert_cli_error(code, err, names=[tmp_path / "out" / "bell_000.wav"], reason="already exists")
    assert (tmp_path / "out" / "bell_000.wav").read_bytes() == before


def test_generate_prior_options(tiny, tmp_path, capsys):
    from vae_audio.modeling.latent_prior import LatentPrior

    # the tiny bundle has no fitted prior: asking for one is a one-line error, nothing written
    code, _, err = run_cli(capsys, "generate", "--model", tiny.path, "--out", tmp_path / "a", "--prior", "fitted")
    assert_cli_error(code, err, names=[], reason="no fitted latent prior")
    assert not (tmp_path / "a").exists()
    code, _, err = run_cli(capsys, "generate", "--model", tiny.path, "--out", tmp_path / "a", "--temperature", "-1")
    assert_cli_error(code, err, names=["--temperature"], reason="must be a finite number >= 0")
    assert not (tmp_path / "a").exists()
    # with a prior in the bundle, auto = fitted, and the files differ from the N(0, I) ones
    train = tiny.features.subset("train")
    prior = LatentPrior.fit(*tiny.model.encode(train.x, train.labels), train.labels, num_classes=8)
    path = bundle.save_model(tiny.vae, tmp_path / "with_prior", recipe=tiny.features.recipe,
                             label_names=tiny.features.label_names, prior=prior)
    written = {}
    for how in ("auto", "fitted", "standard"):
        code, _, err = run_cli(capsys, "generate", "--model", path, "--out", tmp_path / how, "--n", 2,
                               "--label", "bell", "--prior", how)
        assert code == 0 and err == ""
        written[how] = (tmp_path / how / "bell_000.wav").read_bytes()
    assert written["auto"] == written["fitted"] != written["standard"]


# ============================================================================= griffin_lim
N_FFT, HOP = 64, 32
N_FREQ = N_FFT // 2 + 1


def _gl_input(kind: str, tmp_path: Path):
    """The griffin_lim analogue of each kind: (magnitude, kwargs, reason regex or None)."""
    rng = np.random.default_rng(0)
    tone_mag = stft_magnitude(sine(440.0, SR, 0.25), n_fft=N_FFT, hop_length=HOP)
    return {
        "empty_file": (np.zeros((N_FREQ, 0), np.float32), {}, r"magnitude: empty array"),
        "zero_samples": (np.zeros((0, N_FREQ, 5), np.float32), {}, r"magnitude: empty array"),
        "truncated_header": (tone_mag[:20], {}, r"magnitude: frequency axis .* has 20 rows, expected 33"),
        "random_bytes": (np.frombuffer(rng.bytes(N_FREQ * 8 * 4), np.float32).reshape(N_FREQ, 8), {},
                         r"magnitude: contains (NaN|negative)"),
        "text_file": (np.array([["not", "a"], ["magnitude", "!"]]), {}, r"magnitude: expected a numeric array"),
        "directory": (tmp_path, {}, r"magnitude: expected a numeric array"),
        "nan_samples": (np.where(np.arange(tone_mag.size).reshape(tone_mag.shape) == 7, np.nan, tone_mag), {},
                        r"magnitude: contains NaN or infinite"),
        "inf_samples": (np.where(np.arange(tone_mag.size).reshape(tone_mag.shape) == 7, np.inf, tone_mag), {},
                        r"magnitude: contains NaN or infinite"),
        "db_instead_of_magnitude": (20 * np.log10(tone_mag + 1e-9), {}, r"magnitude: contains negative values"),
        "silent": (np.zeros((N_FREQ, 20), np.float32), {}, None),
        "one_sample": (stft_magnitude(np.array([0.5], np.float32), n_fft=N_FFT, hop_length=HOP), {"length": 1}, None),
        "ten_minutes": (None, {"n_iter": 2}, None),
        "six_channels": (np.stack([stft_magnitude(sine(220.0 * (c + 1), SR, 0.25), n_fft=N_FFT, hop_length=HOP)
                                   for c in range(6)]), {}, None),
        "rate_1hz": (tone_mag, {"hop_length": 0}, r"hop_length=0: expected a whole number >= 1"),
    }[kind]


GL_KINDS = [k for k in FILE_KINDS if k != "unreadable"] + ["db_instead_of_magnitude"]


@pytest.mark.parametrize("kind", GL_KINDS)
def test_griffin_lim(kind, tmp_path):
    mag, kwargs, reason = _gl_input(kind, tmp_path)
    kwargs = {"n_fft": N_FFT, "hop_length": HOP, **kwargs}
    if kind == "ten_minutes":
        mag = stft_magnitude(sine(500.0, SR, 600.0), n_fft=N_FFT, hop_length=HOP)  # 500 Hz = bin 4
    if reason is not None:
        with pytest.raises(ParameterError) as err:
            griffin_lim(mag, **kwargs)
        assert_one_line_error(err.value, names=[], reason=reason)
        return
    y = griffin_lim(mag, **kwargs)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    if kind == "silent":
        assert y.shape == (HOP * 19,) and not np.any(y)
    elif kind == "one_sample":
        assert y.shape == (1,) and abs(y[0]) == pytest.approx(0.5, abs=1e-3)
    elif kind == "ten_minutes":
        assert y.shape == (600 * SR,)
        rebuilt = stft_magnitude(y[:SR], n_fft=N_FFT, hop_length=HOP)
        assert np.argmax(rebuilt.mean(axis=1)) == 4  # still a 500 Hz tone
    elif kind == "six_channels":
        assert y.shape == (6, HOP * (mag.shape[-1] - 1)) and np.all(np.max(np.abs(y), axis=1) > 0.05)


# ============================================================================= evaluate
EVAL_KINDS = list(FILE_KINDS) + MODEL_KINDS + ["negative_n", "huge_n", "unknown_data"]


@pytest.mark.parametrize("kind", EVAL_KINDS)
def test_evaluate(kind, bad_file, tiny, mixed_run, tmp_path, monkeypatch, capsys):
    """``evaluate`` on the model trained on a folder (16 kHz, 1 s), whose config folders of audio share."""
    from vae_audio.evaluation.evaluate import evaluate, evaluate_model

    monkeypatch.chdir(tmp_path)
    model_dir, out = mixed_run.result.model_dir, tmp_path / "results.json"
    phase = {"n_iter": 4}
    if kind in VALID:  # scored next to a good clip, both in the test split
        folder = _mk(tmp_path / "data")
        sf.write(str(folder / "good.wav"), sine(440.0, SR, 1.0), SR)
        path = bad_file(kind, folder)
        model = bundle.load_model(model_dir)
        features = build_features(load_dataset(folder, config=model.config), recipe=model.recipe,
                                  cache_dir=None)
        features.split[:] = "test"
        results = evaluate_model(model, features, phase_kwargs=phase)
        assert results["n_test"] + results["n_test_silent_skipped"] == 2
        assert results["n_test_silent_skipped"] == (1 if kind == "silent" else 0)
        for part in (results["reconstruction"], results["audio"], results["ceiling"]["truth_through_phase"]):
            for metric in ("sc_db", "lsd_db"):
                assert all(v is not None and -80 < v < 80 for v in part[metric].values()), (kind, part)
        if kind == "silent":  # nothing but silence is refused rather than scored against silence
            features = features.select(np.array([m["file"] == path.name for m in features.metadata]))
            with pytest.raises(DatasetError) as err:
                evaluate_model(model, features, phase_kwargs=phase)
            assert_one_line_error(err.value, names=[], reason="every test clip is silent")
        return
    if kind in MODEL_KINDS:
        bad_model, at_fault, reason = broken_bundle(kind, tiny, tmp_path, monkeypatch)
        kwargs, argv, names, err_type = {}, [], [at_fault], BundleError
        model_dir = bad_model
    elif kind in ("negative_n", "huge_n"):
        n = -3 if kind == "negative_n" else 10 ** 9
        kwargs, argv, names, err_type = {"n_generate": n}, ["--n-generate", str(n)], [], ParameterError
        reason = r"-3" if kind == "negative_n" else r"n_generate=1000000000: expected a whole number from 2"
    elif kind == "unknown_data":
        kwargs, argv, names, err_type = {"data": "zebra"}, ["--data", "zebra"], ["zebra"], DatasetError
        reason = r"not a dataset name"
    else:  # a folder holding only the bad file
        path = bad_file(kind)
        reason, named = dataset_outcome(kind)
        if kind in ("nan_samples", "inf_samples", "unreadable"):  # listed fine, so the lone clip's split
            reason, named = r"no clip in the test split", "folder"  # (train) is the first problem found
        kwargs, argv, err_type = {"data": str(path.parent)}, ["--data", path.parent], DatasetError
        names = [path.parent] + ([path] if named == "file" else [])
    with pytest.raises(err_type) as err:
        evaluate(model_dir, json_path=out, cache_dir=None, phase_kwargs=phase, **kwargs)
    assert_one_line_error(err.value, names=names, reason=reason)
    assert not out.exists()
    code, _, err_text = run_cli(capsys, "evaluate", "--model", model_dir, "--json", out, "--n-iter", 4, *argv)
    assert_cli_error(code, err_text, names=names, reason=reason)
    assert not out.exists()


def test_evaluate_skips_files_that_fail_to_decode(bad_file, mixed_run, tmp_path, monkeypatch):
    from vae_audio.evaluation.evaluate import evaluate

    monkeypatch.chdir(tmp_path)
    folder = _mk(tmp_path / "data")
    for i in range(12):
        sf.write(str(folder / f"good_{i:02d}.wav"), sine(200.0 + 60 * i, SR, 1.0), SR)
    bad = [bad_file(kind, folder) for kind in ("nan_samples", "inf_samples", "unreadable")]
    out = tmp_path / "results.json"
    results = evaluate(mixed_run.result.model_dir, data=str(folder), json_path=out, cache_dir=None,
                       phase_kwargs={"n_iter": 4})
    assert sum(results["data"]["split_counts"].values()) == 12  # the three bad files were left out
    assert results["n_test"] >= 1 and json.loads(out.read_text()) == results
    assert all(p.name not in json.dumps(results) for p in bad)


# ============================================================================= command line, real processes
def _subprocess_cases(tiny, root: Path) -> dict[str, tuple[list[str], list[Path], str, Path]]:
    """(argv, names, reason, output that must not appear) of the true ``python -m vae_audio`` runs."""
    bad = make_file("random_bytes", root / "in")
    text_folder = root / "texts"
    make_file("text_file", text_folder)
    broken = root / "broken"
    shutil.copytree(tiny.path, broken)
    (broken / "decoder.keras").unlink()
    return {
        "reconstruct_random_bytes": (["reconstruct", "--model", str(tiny.path), "--label", "flute", str(bad),
                                      "--out", str(root / "o1")], [bad], r"not an audio format", root / "o1"),
        "generate_missing_decoder": (["generate", "--model", str(broken), "--out", str(root / "o2")],
                                     [broken / "decoder.keras"], r"missing", root / "o2"),
        "train_text_file": (["train", "--data", str(text_folder), "--out", str(root / "o3"), "--epochs", "1"],
                            [text_folder / "notes.wav"], r"text file", root / "o3"),
        "generate_negative_n": (["generate", "--model", str(tiny.path), "--n", "-5", "--out", str(root / "o4")],
                                [], r"argument --n: -5 must be at least 1", root / "o4"),
    }


@pytest.fixture(scope="module")
def cli_processes(tiny, tmp_path_factory):
    """Start every true CLI run at once (each pays TensorFlow's import), collect them per test."""
    root = tmp_path_factory.mktemp("cli")
    cases = _subprocess_cases(tiny, root)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the CLI must cope on its own
    procs = {name: subprocess.Popen([sys.executable, "-m", "vae_audio", *argv], cwd=root, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (argv, *_rest) in cases.items()}
    results = {name: (*p.communicate(timeout=300), p.returncode) for name, p in procs.items()}
    return cases, results


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reconstruct_random_bytes", "generate_missing_decoder", "train_text_file",
                                  "generate_negative_n"])
def test_cli_subprocess_exit_code_and_one_line(name, cli_processes):
    cases, results = cli_processes
    _argv, names, reason, output = cases[name]
    stdout, stderr, code = results[name]
    assert code == 2, stderr
    assert stdout == ""
    assert_cli_error(code, stderr, names=names, reason=reason)  # exactly one line: no TensorFlow start-up noise
    assert not output.exists()


# ============================================================================= no silent garbage
def test_nan_features_stop_training_with_a_message(tiny, tmp_path):
    bad = tiny.features.select(np.arange(len(tiny.features)))
    bad.x = bad.x.copy()
    bad.x[np.flatnonzero(bad.split == "train")[:2], 3, 4] = np.nan
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as err:
        train(RunConfig.of(data="synth", model="conv", conditional=False, epochs=2, batch_size=64, out=str(out),
                           n_samples=0),
              features=bad, verbose=0)
    assert_one_line_error(err.value, names=[], reason=r"NaN/inf at epoch 1, batch 1; no epoch completed")
    assert latest_checkpoint(out) is None and not (out / "model").exists()


def test_loss_turning_nan_keeps_the_last_good_checkpoint(tiny, tmp_path, monkeypatch):
    real = models.VAE.compute_loss

    def nan_after_first_epoch(self, *args, **kwargs):
        loss = real(self, *args, **kwargs)
        import keras.ops as ops
        return ops.where(self.step > 3.0, ops.convert_to_tensor(float("nan")), loss)

    monkeypatch.setattr(models.VAE, "compute_loss", nan_after_first_epoch)
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as err:
        train(RunConfig.of(data="synth", model="conv", conditional=False, epochs=3, batch_size=8, out=str(out),
                           n_samples=0),
              features=tiny.features, verbose=0)
    msg = assert_one_line_error(err.value, names=[out / "checkpoints" / "epoch_0001"], reason=r"loss became NaN")
    assert "epoch 2" in msg
    assert latest_checkpoint(out).name == "epoch_0001"
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1
    assert not (out / "model").exists()


@pytest.mark.parametrize("bad", ["nan", "inf", "zeros"])
def test_generated_audio_is_checked_before_writing(bad, tmp_path):
    good = sine(440.0, SR, 0.25)
    broken = {"nan": np.full_like(good, np.nan), "inf": np.where(np.arange(good.size) == 9, np.inf, good),
              "zeros": np.zeros_like(good)}[bad]
    out = tmp_path / "out"
    with pytest.raises(AudioWriteError) as err:
        generate.write_clips(np.stack([good, broken, good]), ["a", "b", "c"], out, SR)
    assert_one_line_error(err.value, names=[out / "b.wav"], reason="NaN or infinite" if bad != "zeros" else "all zeros")
    assert not out.exists()  # not even the good clips of the batch
    with pytest.raises(AudioWriteError):
        generate.check_audio(broken, "clip")
    assert np.max(np.abs(generate.check_audio(good * 3, "loud"))) == pytest.approx(generate.PEAK_LIMIT)


def test_a_model_decoding_nan_writes_nothing(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "decode_array", lambda decoder, z, labels=None: np.full((len(z), *CONFIG.shape),
                                                                                        np.nan, np.float32))
    out = tmp_path / "out"
    with pytest.raises(BundleError) as err:
        generate.generate_to_files(tiny.model, out, n=2, label="flute")
    assert_one_line_error(err.value, names=[tiny.path], reason="decoder output contains NaN")
    assert not out.exists()


def test_write_clips_failing_mid_batch_leaves_nothing(tmp_path, monkeypatch):
    import threading

    import vae_audio.fileio as fileio
    import vae_audio.modeling.generate as gen

    lock, calls = threading.Lock(), []

    class FillsUp(io.FileIO):  # the disk fills up during the third file
        def write(self, data):
            with lock:
                calls.append(self.name)
                third = len(calls) == 3
            if third:
                super().write(bytes(data)[:len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    def fake_open(file, mode="r", **kw):  # the staged WAV files are opened from their descriptor
        return FillsUp(file, mode) if isinstance(file, int) else builtins.open(file, mode, **kw)

    monkeypatch.setattr(fileio, "open", fake_open, raising=False)
    out = tmp_path / "out"
    clips = np.stack([sine(200.0 * (i + 1), SR, 0.1) for i in range(4)])
    with pytest.raises(AudioWriteError) as err:
        gen.write_clips(clips, ["a", "b", "c", "d"], out, SR)
    assert len(calls) == 4  # every file was attempted (a few at a time)
    failed = next(name for name in ("a", "b", "c", "d") if f"{out / name}.wav:" in str(err.value))
    assert_one_line_error(err.value, names=[out / f"{failed}.wav"], reason="No space left")
    assert files_under(out) == []  # neither the two clips written before nor any temporary file


# ----------------------------------------------------------------------------- model config vs data config
def test_check_compatible_shows_both_configs():
    other = CONFIG.replace(hop_length=16)
    assert inference.check_compatible(CONFIG, CONFIG.replace()) is None
    with pytest.raises(ConfigError) as err:
        inference.check_compatible(CONFIG, other)
    msg = assert_one_line_error(err.value, names=[CONFIG.describe(), other.describe()], reason="hop_length 32 vs 16")
    assert "another spectrogram config" in msg
    with pytest.raises(ParameterError):
        inference.check_compatible(CONFIG, other.to_dict())


def test_model_applied_to_data_with_another_config_is_refused(tiny, tmp_path):
    other = CONFIG.replace(n_samples=4000)
    features = build_features(load_dataset("synth", config=other, max_clips=8, seed=0), cache_dir=None)
    out = tmp_path / "samples"
    with pytest.raises(ConfigError) as err:
        generate.write_training_samples(tiny.model, features, out, n=2)
    assert_one_line_error(err.value, names=[CONFIG.describe(), other.describe()], reason="n_samples 2000 vs 4000")
    assert not out.exists()


def test_resume_with_data_of_another_config_is_refused(tiny, tmp_path):
    out = tmp_path / "run"
    settings = RunConfig.of(data="synth", model="conv", conditional=False, epochs=1, batch_size=8, out=str(out),
                            n_samples=0)
    train(settings, features=tiny.features, verbose=0)
    before = files_under(out)
    other = CONFIG.replace(db_floor=-60.0)
    features = build_features(load_dataset("synth", config=other, max_clips=24, seed=0), cache_dir=None)
    with pytest.raises(ConfigError) as err:
        train(settings.updated(epochs=2), resume=True, features=features, verbose=0)
    assert_one_line_error(err.value, names=[other.describe(), "epoch_0001"], reason="db_floor -80.0 vs -60.0")
    assert files_under(out) == before  # nothing was touched
    # the same config but another normalizer range (the dataset changed): refused too
    changed = tiny.features.select(np.arange(len(tiny.features)))
    changed.recipe = changed.recipe.with_normalizer(type(changed.normalizer).fixed(-70.0, 0.0))
    with pytest.raises(ConfigError, match="normalizer"):
        train(settings.updated(epochs=2), resume=True, features=changed, verbose=0)


# ============================================================================= memory
def test_dataset_building_does_not_hold_waveforms_twice(tmp_path, monkeypatch):
    """Files stream into the preallocated arrays: the peak (tracemalloc, NumPy included) stays below
    the final arrays plus 0.8 x the audio array. Keeping every loaded waveform until the end would
    add a whole second audio array (measured: +0.47 x streaming, +1.48 x holding them)."""
    import tracemalloc

    import vae_audio.data.featurize as featurize

    folder = _mk(tmp_path / "many")
    rng = np.random.default_rng(0)
    monkeypatch.setattr(featurize, "_CHUNK", 32)  # smaller chunks: fewer files give the same proportions
    n = 8 * featurize._CHUNK  # many chunks, so that the per-chunk working set is small next to the whole
    for i in range(n):
        sf.write(str(folder / f"c{i:04d}.wav"), (0.3 * rng.standard_normal(4000)).astype(np.float32), SR,
                 subtype="FLOAT")
    config = SpectrogramConfig(sr=SR, n_fft=64, hop_length=64, n_samples=4000)
    dataset = load_dataset(folder, config=config)
    warm = load_dataset(folder, config=config)
    warm.clips = warm.clips[:3]
    build_features(warm, cache_dir=None)  # one-time imports and caches are not what is measured
    tracemalloc.start()
    try:
        features = build_features(dataset, cache_dir=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = features.x.nbytes + features.audio.nbytes
    assert len(features) == n
    assert peak - final < 0.8 * features.audio.nbytes, (peak, final, features.audio.nbytes)
