"""Scale: featurize and train one epoch on 2,000, 20,000 and 100,000 synthetic clips; peak memory per size.

Each size runs in its own process (so its peak resident memory, ``ru_maxrss``, is its own):
``build_features`` of that many built-in synth clips into a fresh cache folder, then
``vae-audio train``'s :func:`~vae_audio.training.train` for one epoch of the default model on
them (no prior, no samples: the autoencoder epoch with its validation pass, checkpoint and bundle).
Clips are short (``--duration`` s at ``--sr`` Hz) so that the three sizes fit in a few minutes;
the data of the largest run is still larger than the memory limit (``--memory-limit``), which makes
it featurize into ``.npy`` shards and stream them through ``tf.data``. ``--modes`` adds rows of
the same size with the other layout (``memory``: limit raised; ``sharded``: limit lowered) to
measure what streaming costs where both are possible.

    python benchmarks/scale.py
    python benchmarks/scale.py --sizes 2000 20000 --modes auto sharded

Prints a markdown table: layout, featurize clips/s, training clips/s (training clips of the epoch
per second of the whole ``train`` call), peak RSS and its ratio to the first row's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_one(n: int, mode: str, args: argparse.Namespace, folder: str) -> dict:
    """Featurize + one epoch on ``n`` clips in this process; what it measured."""
    from vae_audio.config import RunConfig
    from vae_audio.data.featurize import build_features
    from vae_audio.data.shards import ShardedArray
    from vae_audio.pipeline import train
    from vae_audio.progress import quiet
    from vae_audio.resolve import resolve_config

    limit = {"auto": args.memory_limit, "memory": "1TB", "sharded": "1MB"}[mode]
    settings = RunConfig.of(data="synth", max_clips=n, epochs=1, sr=args.sr, duration=args.duration,
                             n_fft=args.n_fft, hop_length=args.hop_length, prior_model="none", n_samples=0,
                             out=os.path.join(folder, "run"), memory_limit=limit)
    dataset = resolve_config(settings).dataset  # listed, with the resolved recipe put in
    with quiet():
        t0 = time.perf_counter()
        features = build_features(dataset, cache_dir=os.path.join(folder, "cache"), memory_limit=limit)
        t_feat = time.perf_counter() - t0
        n_train = int((features.split == "train").sum())
        t0 = time.perf_counter()
        train(settings, features=features, verbose=0)
        t_train = time.perf_counter() - t0
    return {"n": n, "mode": mode, "layout": "shards" if isinstance(features.x, ShardedArray) else "memory",
            "data_mb": (features.x.nbytes + features.audio.nbytes) / 2**20, "featurize_s": t_feat,
            "featurize_clips_s": n / t_feat, "train_s": t_train, "train_clips_s": n_train / t_train,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--modes", nargs="+", default=["auto"], choices=["auto", "memory", "sharded"],
                        help="auto: the memory limit decides; memory / sharded: force one layout")
    parser.add_argument("--memory-limit", default="1GB", help="the limit of the auto rows (default 1GB)")
    parser.add_argument("--sr", type=int, default=8000)
    parser.add_argument("--duration", type=float, default=0.25)
    parser.add_argument("--n-fft", type=int, default=256)
    parser.add_argument("--hop-length", type=int, default=64)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: "n,mode,folder" runs one row
    args = parser.parse_args()
    if args.one:
        n, mode, folder = args.one.split(",", 2)
        print(json.dumps(run_one(int(n), mode, args, folder)))
        return
    rows = []
    for mode in args.modes:
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                cmd = [sys.executable, __file__, "--one", f"{n},{mode},{folder}", "--memory-limit", args.memory_limit,
                       "--sr", str(args.sr), "--duration", str(args.duration), "--n-fft", str(args.n_fft),
                       "--hop-length", str(args.hop_length)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    base = rows[0]["peak_rss_mb"]
    print(f"clips of {args.duration} s at {args.sr} Hz (n_fft {args.n_fft}, hop {args.hop_length}); "
          f"auto rows: memory limit {args.memory_limit}\n")
    print("| clips | layout | data (MB) | featurize (clips/s) | train 1 epoch (clips/s) | peak RSS (MB) "
          "| RSS / first row |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['layout']} | {r['data_mb']:.0f} | {r['featurize_clips_s']:.0f} | "
              f"{r['train_clips_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / base:.2f} |")


if __name__ == "__main__":
    main()
