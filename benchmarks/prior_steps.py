"""How the learned prior improves with optimizer steps: held-out NLL of the validation codes.

For a trained ``grid`` bundle, encodes the training and validation clips of its data, trains the
run's prior (its configuration's ``prior.*`` settings) for each number of steps given, one after the
other in this process, and prints per row: steps, passes over the training codes (steps x batch /
clips), fit seconds, the last training loss and the validation codes' negative log-likelihood under
the prior (teacher forcing, nats per number, as the training loss; lower is better). What the time
budget's prior cap was chosen from (docs/experiments/budget.md).

Usage (from the repository root; FSDD_DIR as for training)::

    python benchmarks/prior_steps.py --model outputs/runs/fsdd-grid-cond/model --steps 375 750 1500 3000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def validation_nll(prior, z_mean: np.ndarray, labels: np.ndarray | None) -> float:
    """The mean NLL (nats per number, without the constant) of posterior-mean codes ``(n, F', T', C)``
    under an autoregressive :class:`~vae_audio.modeling.grid_prior.GridPrior` (teacher forcing)."""
    from vae_audio.modeling.grid_prior import _gaussian_nll, codes_to_sequences

    x = (codes_to_sequences(z_mean) - prior.mean) / prior.std
    shifted = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    lab = np.zeros(len(x), np.int32) if labels is None else labels.astype(np.int32)
    inputs = {"z": shifted.astype(np.float32), "label": lab}
    if prior.summary is not None:
        inputs["summary"] = ((x.mean(axis=1) - prior.summary[0]) @ prior.summary[1]).astype(np.float32)
    pred = prior.network.predict(inputs, batch_size=256, verbose=0)
    return float(np.asarray(_gaussian_nll(x.astype(np.float32), pred)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a grid model's bundle folder (with its run configuration)")
    p.add_argument("--steps", type=int, nargs="+", required=True, help="prior steps to train, one row each")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)

    from vae_audio.data.featurize import build_features
    from vae_audio.modeling.bundle import load_model
    from vae_audio.modeling.grid_prior import GridPrior
    from vae_audio.resolve import resolve_config

    model = load_model(args.model)
    resolution = resolve_config(model.run_config)  # a bundle of an earlier version saved a partial one
    config = resolution.config
    features = build_features(resolution.dataset, verbose=False)
    conditional = bool(config.model.conditional)
    codes = {}
    for split in ("train", "val"):
        sub = features.subset(split)
        codes[split] = (*model.encode(sub.x, sub.labels if conditional else None),
                        sub.labels.astype(np.int32) if conditional else None)
    n = len(codes["train"][0])
    settings = config.prior.with_defaults()
    rows = []
    print(f"{args.model}: {n} training clips, {len(codes['val'][0])} validation clips; prior {settings}")
    print("| steps | passes | fit s | train loss | val NLL |\n|--:|--:|--:|--:|--:|")
    for steps in args.steps:
        t0 = time.perf_counter()
        prior = GridPrior.fit(*codes["train"], dataclasses.replace(settings, steps=steps),
                              num_classes=len(features.label_names) if conditional else None, seed=config.seed)
        seconds = time.perf_counter() - t0
        loss = float(prior.network.history.history["loss"][-1])
        nll = validation_nll(prior, codes["val"][0], codes["val"][2])
        row = {"steps": steps, "passes": steps * config.prior.batch_size / n, "seconds": seconds,
               "train_loss": loss, "val_nll": nll}
        rows.append(row)
        print(f"| {steps} | {row['passes']:.0f} | {seconds:.0f} | {loss:.4f} | {nll:.4f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
