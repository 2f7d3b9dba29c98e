"""Preprocessing benchmark: a folder of audio -> normalized spectrograms, package vs a plain librosa loop.

Usage::

    python benchmarks/preprocess.py [DIR] [--repeats 3] [--no-synth]
    python benchmarks/preprocess.py [DIR] --measure-defaults   # length, trim and level statistics of DIR

``DIR`` defaults to the FSDD recordings at ``../shared/data/fsdd/recordings`` (relative to the
repository). Every measurement runs in a fresh Python process, so peak RSS is that method's own
and imports are cold; the table reports medians over ``--repeats`` runs:

* ``package``: ``load_fsdd(DIR, config=SpectrogramConfig(**FSDD_CONFIG_ARGS))`` (``load_folder`` when the files
  are not FSDD-named) then ``build_features(dataset, use_cache=False)``: exactly the code
  ``vae-audio train --data fsdd`` runs (streaming chunked loading + batched STFT on a thread
  pool, peak level normalization, global normalizer fitted on the training split).
* ``package, 1 thread``: the same with ``workers=1``.
* ``package, generic folder loader``: ``load_folder(DIR)`` instead (``--data DIR``), which also
  opens every file's header while listing (to report unreadable files up front).
* ``package, cache hit``: the same call when the on-disk cache is warm (``data/cache`` in a
  temporary folder).
* ``baseline librosa loop (sr=8000)``: per file ``librosa.load(sr=8000)``, ``fix_length``,
  ``abs(librosa.stft)``, ``amplitude_to_db``, per-clip min-max; results stacked at the end.
* ``naive loop, librosa.load default 22050 Hz``: the same loop without ``sr=`` (librosa
  resamples every file to 22.05 kHz; window and hop scaled to the same durations). Different
  output, shown because it is the loop people write first.
* ``synth: generate 1000`` / ``synth: build_features``: the built-in dataset (16 kHz, 1 s).

"work" excludes imports and a warm-up call on one file (librosa's first STFT imports
scipy.signal and numba, about 2 s); "process" is the whole child process, imports included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
METHODS = ("package", "package_1thread", "package_folder", "package_cache", "baseline", "baseline_22k",
           "synth_generate", "synth_features")
#: the spectrogram the timings are measured with (FSDD's 8 kHz, 0.75 s, 256 / 64: the rows of docs/ stay comparable)
FSDD_CONFIG_ARGS = dict(sr=8000, n_fft=256, hop_length=64, n_samples=6000)
LABELS = {
    "package": "package: load + build_features (2 threads)",
    "package_1thread": "package, 1 thread",
    "package_folder": "package, generic folder loader",
    "package_cache": "package, cache hit",
    "baseline": "baseline librosa loop (sr=8000)",
    "baseline_22k": "naive loop, librosa.load default 22050 Hz",
    "synth_generate": "synth: generate_synth(1000)",
    "synth_features": "synth: build_features (no cache)",
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _child(method: str, folder: str, cache_dir: str) -> dict:
    t_proc = time.perf_counter()
    import numpy as np

    files = sorted(str(p) for p in Path(folder).glob("*.wav"))
    if method.startswith("synth"):
        from vae_audio.data.datasets import load_dataset
        from vae_audio.data.featurize import build_features
        from vae_audio.data.synth import generate_synth

        generate_synth(8)
        build_features(load_dataset("synth", max_clips=8), use_cache=False)  # warm-up (imports)
        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        if method == "synth_generate":
            audio, _ = generate_synth(1000)
            n, shape = len(audio), audio.shape
        else:
            feats = build_features(load_dataset("synth"), use_cache=False)
            n, shape = len(feats), feats.x.shape
    elif method.startswith("baseline"):
        import librosa

        scale = 1 if method == "baseline" else 22050 / 8000  # same seconds / same 32 ms window at 22.05 kHz

        def featurize(path):
            y, sr = librosa.load(path, sr=8000 if method == "baseline" else 22050)
            y = librosa.util.fix_length(y, size=int(0.75 * sr))
            n_fft, hop = int(256 * scale), int(64 * scale)
            s_db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)), ref=1.0, amin=1e-4,
                                           top_db=None)
            return (s_db - s_db.min()) / max(float(s_db.max() - s_db.min()), 1e-6)

        featurize(files[0])  # warm-up
        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        x = np.stack([featurize(f) for f in files]).astype(np.float32)
        n, shape = len(x), x.shape
    else:
        from vae_audio import datasets
        from vae_audio.data.featurize import build_features
        from vae_audio.dsp.features import SpectrogramConfig

        cfg = SpectrogramConfig(**FSDD_CONFIG_ARGS)

        def load(**kwargs):
            # FSDD-named files: the loader `--data fsdd` uses; anything else (or package_folder): the folder loader
            if method != "package_folder" and datasets._fsdd_recordings(Path(folder)) is not None:
                return datasets.load_fsdd(folder, config=cfg, **kwargs)
            return datasets.load_folder(folder, config=cfg, **kwargs)

        build_features(datasets.load_dataset("synth", max_clips=8, config=cfg), use_cache=False)  # warm-up
        if method == "package_fill":  # fills the cache for the "cache hit" rows
            build_features(load(), cache_dir=cache_dir)
            return {}
        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        ds = load()
        if method == "package_cache":
            feats = build_features(ds, cache_dir=cache_dir)
            assert feats.cache_path is not None
        else:
            feats = build_features(ds, use_cache=False, workers=1 if method == "package_1thread" else None)
        n, shape = len(feats), feats.x.shape
    work, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"method": method, "n": n, "shape": list(shape), "work_s": work, "cpu_s": cpu,
            "process_s": time.perf_counter() - t_proc, "rss_before_mb": rss0, "peak_rss_mb": _rss_mb()}


def measure_defaults(folder: Path) -> None:
    """Print the clip-length, trim and level statistics of ``folder`` (``--measure-defaults``)."""
    import librosa
    import numpy as np
    import soundfile as sf

    from vae_audio.data.synth import generate_synth

    files = sorted(folder.glob("*.wav"))
    waves = [sf.read(str(f), dtype="float32")[0] for f in files]
    sr = sf.info(str(files[0])).samplerate
    dur = np.array([len(w) / sr for w in waves])
    print(f"## {folder}: {len(files)} files at {sr} Hz\n")
    print("duration percentiles (s): " + ", ".join(f"p{q} {np.percentile(dur, q):.3f}" for q in (50, 90, 95, 98, 99)))
    for n in (4000, 5000, 6000, 8000):
        print(f"  n_samples {n} ({n / sr:.3f} s) holds {np.mean(dur * sr <= n):.1%} of the clips completely")
    t0 = time.perf_counter()
    trims = {db: [librosa.effects.trim(w, top_db=db, frame_length=256, hop_length=64)[1] for w in waves]
             for db in (30, 40)}
    seconds = (time.perf_counter() - t0) / 2
    for db, idx in trims.items():
        lead = np.array([i[0] for i in idx]) / sr * 1000
        kept = np.array([i[1] - i[0] for i in idx])
        print(f"  trim_db={db}: leading silence median {np.median(lead):.0f} ms, p95 {np.percentile(lead, 95):.0f} ms; "
              f"after trimming 6000 samples hold {np.mean(kept <= 6000):.1%}")
    print(f"  librosa.effects.trim on all clips takes {seconds:.1f} s\n")
    speakers = sorted({f.name.split("_")[1] for f in files if f.name.count("_") == 2})
    rms = np.array([np.sqrt(np.mean(w ** 2)) for w in waves])
    peak = np.array([np.abs(w).max() for w in waves])
    print("loudness by speaker (median dBFS): " + ", ".join(
        f"{s} RMS {20 * np.log10(np.median(rms[[f.name.split('_')[1] == s for f in files]])):.1f}" for s in speakers))
    print(f"  RMS spread across clips: std {np.std(20 * np.log10(rms)):.1f} dB as recorded, "
          f"{np.std(20 * np.log10(rms / peak)):.1f} dB after peak normalization\n")

    def lsd(a, b, rate):
        m = [librosa.feature.melspectrogram(y=v, sr=rate, n_fft=1024, hop_length=128, n_mels=64) for v in (a, b)]
        d = 10 * np.log10(np.maximum(m[0], 1e-8)) - 10 * np.log10(np.maximum(m[1], 1e-8))
        return float(np.median(np.sqrt(np.mean(d ** 2, axis=(-2, -1)))))

    def griffin_lim_table(y, rate, combos):
        print("| n_fft | hop | shape (freq x frames) | pixels | Griffin-Lim mel LSD (dB) |")
        print("| ---: | ---: | --- | ---: | ---: |")
        for n_fft, hop in combos:
            mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
            rec = librosa.griffinlim(mag, n_iter=32, hop_length=hop, n_fft=n_fft, random_state=0, momentum=0.99)
            rec = librosa.util.fix_length(rec, size=y.shape[-1])
            print(f"| {n_fft} | {hop} | {mag.shape[-2]} x {mag.shape[-1]} | {mag.shape[-2] * mag.shape[-1]} | "
                  f"{lsd(y, rec, rate):.2f} |")
        print()

    pick = np.stack([librosa.util.fix_length(w, size=6000) for w in waves[::max(1, len(waves) // 50)]])
    pick = pick / np.abs(pick).max(axis=1, keepdims=True) * 0.9
    print(f"Griffin-Lim (32 it., momentum 0.99) on {len(pick)} clips of {folder.name}, 6000 samples at {sr} Hz:\n")
    griffin_lim_table(pick, sr, [(256, 64), (256, 128), (512, 128), (512, 64), (128, 32)])
    synth, _ = generate_synth(48)
    print("Griffin-Lim on 48 synthetic notes, 16000 samples at 16 kHz:\n")
    griffin_lim_table(synth, 16000, [(1024, 256), (512, 128), (512, 256), (256, 64), (1024, 128)])


def _run(method: str, folder: str, cache_dir: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", method, folder, "--cache-dir", cache_dir],
                         capture_output=True, text=True, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise SystemExit(f"{method} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_DIR), help="folder of audio (default: FSDD)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--no-synth", action="store_true", help="skip the synthetic-dataset rows")
    parser.add_argument("--measure-defaults", action="store_true",
                        help="instead, print the measurements behind the dataset defaults (durations, trimming, "
                             "loudness, Griffin-Lim quality per n_fft/hop)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.folder, args.cache_dir)))
        return 0
    folder = Path(args.folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder (pass the folder of audio files to featurize)")
    if args.measure_defaults:
        measure_defaults(folder)
        return 0
    methods = [m for m in METHODS if not (args.no_synth and m.startswith("synth"))]
    results: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as cache_dir:
        if "package_cache" in methods:
            _run("package_fill", str(folder), cache_dir)
        for _ in range(args.repeats):  # interleaved, so machine noise hits every method alike
            for m in methods:
                results[m].append(_run(m, str(folder), cache_dir))
    print(f"folder: {folder} ({results['package'][0]['n']} clips -> {tuple(results['package'][0]['shape'])}); "
          f"{os.cpu_count()} CPUs; medians of {args.repeats} runs, each in a fresh process\n")
    print("| method | clips | work (s) | clips/s | CPU (s, all threads) | process incl. imports (s) | peak RSS (MB) "
          "| RSS before work (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in methods:
        rows = results[m]
        work = statistics.median(r["work_s"] for r in rows)
        print(f"| {LABELS[m]} | {rows[0]['n']} | {work:.2f} | {rows[0]['n'] / work:,.0f} | "
              f"{statistics.median(r['cpu_s'] for r in rows):.2f} | "
              f"{statistics.median(r['process_s'] for r in rows):.2f} | "
              f"{statistics.median(r['peak_rss_mb'] for r in rows):.0f} | "
              f"{statistics.median(r['rss_before_mb'] for r in rows):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
