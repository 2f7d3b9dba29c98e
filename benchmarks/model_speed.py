"""Training speed of the VAE architectures on a 2-core CPU: seconds per epoch.

Times training steps of each model (batch 64, random inputs in [0, 1] of the right shape;
speed does not depend on the values) and reports the median step time and the epoch time
it implies for ``--clips`` clips (default 2700, the FSDD training set). Each model runs a few
warm-up steps first (tracing), then ``--steps`` timed steps; models are measured in
interleaved rounds so that machine noise hits them alike, and the median is reported.

    python benchmarks/model_speed.py                   # default conv model vs the blog recipe
    python benchmarks/model_speed.py --models conv simple blog --steps 10

Shapes: "conv" and "simple" on FSDD features (129 x 94: sr 8000, n_fft 256, hop 64,
0.75 s); "blog" on the recipe's 256 x 64 spectrograms (22.05 kHz, as in the blog series);
``--shape FxT`` overrides both. The blog model is slow (seconds per step), so it gets
fewer timed steps (``--blog-steps``) and its epoch time is extrapolated.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

SHAPES = {"conv": (129, 94), "simple": (129, 94), "blog": (256, 64)}
#: the blog recipe's training setup; the others use this package's defaults
LIKELIHOOD = {"conv": None, "simple": None, "blog": "mse_scaled"}


def step_times(architecture: str, shape: tuple[int, int], *, batch: int, steps: int, warmup: int,
               arch_kwargs: dict | None = None):
    """A generator: yields once after building/warm-up, then one step time (s) per ``next()``."""
    import keras
    import tensorflow as tf

    from vae_audio import models

    enc = models.build_encoder(shape, architecture=architecture, **(arch_kwargs or {}))
    dec = models.build_decoder(shape, architecture=architecture, **(arch_kwargs or {}))
    kw = {"likelihood": LIKELIHOOD[architecture]} if LIKELIHOOD.get(architecture) else {}
    vae = models.VAE(enc, dec, seed=0, **kw)
    vae.compile(optimizer=keras.optimizers.Adam(5e-4 if architecture == "blog" else 1e-3))
    x = np.random.default_rng(0).random((batch, *shape, 1), dtype=np.float32)
    data = tf.data.Dataset.from_tensors({"spectrogram": x}).repeat()
    it = iter(data)
    vae.fit(data, epochs=1, steps_per_epoch=warmup, verbose=0)  # builds and traces the train function
    train_fn = vae.train_function
    yield enc.count_params() + dec.count_params()
    for _ in range(steps):
        t0 = time.perf_counter()
        logs = train_fn(it)
        float(np.asarray(logs["loss"]))  # wait for the step to finish
        yield time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["conv", "blog"], choices=sorted(SHAPES))
    p.add_argument("--clips", type=int, default=2700, help="clips per epoch (default: 2700, FSDD train)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=12, help="timed steps per model")
    p.add_argument("--blog-steps", type=int, default=3, help="timed steps of the (slow) blog model")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--shape", help="FxT spectrogram shape for every model (default: per model)")
    args = p.parse_args(argv)

    import tensorflow as tf

    runs = {}
    for name in args.models:
        shape = tuple(int(v) for v in args.shape.split("x")) if args.shape else SHAPES[name]
        n = args.blog_steps if name == "blog" else args.steps
        gen = step_times(name, shape, batch=args.batch, steps=n, warmup=args.warmup)
        runs[name] = {"shape": shape, "gen": gen, "params": next(gen), "times": []}
    active = list(runs)
    while active:  # interleaved rounds
        for name in list(active):
            try:
                runs[name]["times"].append(next(runs[name]["gen"]))
            except StopIteration:
                active.remove(name)
    steps_per_epoch = -(-args.clips // args.batch)
    print(f"Training speed, batch {args.batch}, {args.clips} clips/epoch = {steps_per_epoch} steps; "
          f"TF {tf.__version__}, {os.cpu_count()} CPU cores\n")
    print("| model | input (freq x frames) | parameters | timed steps | median s/step | s/epoch |")
    print("|---|---|---:|---:|---:|---:|")
    for name, r in runs.items():
        med = float(np.median(r["times"]))
        print(f"| {name} | {r['shape'][0]} x {r['shape'][1]} | {r['params']:,} | {len(r['times'])} | "
              f"{med:.3f} | {med * steps_per_epoch:.1f} |")


if __name__ == "__main__":
    main()
