"""Which learned prior over a grid latent: autoregressive or diffusion, side by side.

For a trained ``grid`` bundle, trains each prior family of :mod:`vae_audio.modeling.grid_prior` on the
codes of the training split for the same number of optimizer steps (one after the other in this
process, so the CPU times compare), then scores conditional samples with the project's judge
exactly as ``vae-audio evaluate`` does: accuracy relative to real test clips through the same
phase method, inception score relative to the real test set's, Fréchet distance against the
real train-vs-test distance. One row per family and sampling setting (temperature for
autoregressive, guidance for diffusion), plus ``N(0, I)`` as the known-bad row.

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/grid_prior.py --model outputs/runs/fsdd-grid-cond/model --steps 1500
    python benchmarks/grid_prior.py --model outputs/runs/synth-grid-cond/model --steps 1000 --n 200 \
        --families autoregressive:128:blocks=4 autoregressive:128:blocks=4:summary=16 --temperatures 0.7

Both judges score every row (judge 2: cepstral statistics + logistic regression).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
KEYS = ("conditional_accuracy_ratio", "prior_inception_score_ratio", "conditional_frechet_distance",
        "reference_frechet_distance")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a grid model's bundle folder")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps per family (default 1500)")
    p.add_argument("--n", type=int, default=300, help="conditional samples per row (default 300)")
    p.add_argument("--families", nargs="+", default=["autoregressive", "diffusion"],
                   help="families to train, each optionally with its network width and options: "
                        "autoregressive:128, autoregressive:128:blocks=4:summary=16, "
                        "autoregressive:128:blocks=4:summary=16:onset=6:noise=0.6")
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7, 0.5],
                   help="temperatures of the autoregressive rows (default 1.0 0.7 0.5)")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio import datasets
    from vae_audio.config import PriorConfig
    from vae_audio.data.featurize import build_features
    from vae_audio.evaluation.cepstral_judge import CepstralJudge
    from vae_audio.evaluation.classifier import generation_scores, get_or_train_classifier
    from vae_audio.evaluation.evaluate import default_data
    from vae_audio.modeling.bundle import load_model
    from vae_audio.modeling.grid_prior import GridPrior

    model = load_model(args.model)
    data = default_data(model)
    features = build_features(datasets.load_dataset(data, config=model.config), recipe=model.recipe,
                              cache_dir=REPO / "data" / "cache")
    train, test = features.subset("train"), features.subset("test")
    clf = get_or_train_classifier(train.audio, train.labels, sr=model.config.sr, label_names=list(features.label_names),
                                  cache_dir=REPO / "data" / "cache" / "classifiers", key_extra={"data": features.name},
                                  seed=0)
    judge2 = CepstralJudge().fit(train.audio, train.labels, sr=model.config.sr, label_names=list(features.label_names))
    # the same draws evaluate() uses: labels, a random training subset as the real reference
    k = len(model.label_names)
    labels = np.random.default_rng([0, 2]).permutation(np.arange(args.n) % k).astype(np.int32)
    pick = np.sort(np.random.default_rng([0, 3]).choice(len(train), size=min(len(train), len(test)), replace=False))
    truth_audio = model.to_audio(test.x)
    z_mean, z_log_var = model.encode(train.x, train.labels.astype(np.int32))

    def score(name: str, **sampling) -> dict:
        t0 = time.perf_counter()
        spec = model.generate(args.n, labels=labels, seed=1, **sampling)
        seconds = time.perf_counter() - t0
        audio = model.to_audio(spec)
        row = {**sampling, "prior": name, "sampling_s": round(seconds, 1)}
        for prefix, judge in (("", clf), ("judge2_", judge2)):
            sc = generation_scores(judge, real_test=test.audio, real_test_labels=test.labels,
                                   real_test_phase=truth_audio, sr=model.config.sr, conditional_samples=audio,
                                   conditional_labels=labels, prior_samples=audio, real_reference=train.audio[pick])
            row.update({prefix + k_: round(float(sc[k_]), 3) for k_ in KEYS})
        print(json.dumps(row), flush=True)
        return row

    rows = [score("N(0, I)", prior="standard")]
    for spec in args.families:
        family, *parts = spec.split(":")
        extra = {}
        for part in parts:
            key, _, value = part.partition("=")
            if not value:
                extra["width"] = int(key)
            elif key == "blocks":
                extra["dilations"] = (1, 2, 4, 8) * (int(value) // 4) + (1, 2, 4, 8)[: int(value) % 4]
            elif key == "summary":
                extra["summary_dim"] = int(value)
            elif key == "onset":
                extra["onset_columns"] = int(value)
            elif key == "noise":
                extra["onset_noise"] = float(value)
            else:
                p.error(f"--families {spec!r}: unknown option {key!r} "
                        "(width, blocks=N, summary=K, onset=K, noise=H)")
        c0, w0 = time.process_time(), time.perf_counter()
        model.prior = GridPrior.fit(z_mean, z_log_var, train.labels.astype(np.int32),
                                    PriorConfig(kind=family, steps=args.steps, **extra), num_classes=k, seed=0)
        fit = {"fit_cpu_s": round(time.process_time() - c0), "fit_wall_s": round(time.perf_counter() - w0)}
        print(json.dumps({"family": spec, "steps": args.steps, **fit}), flush=True)
        if family == "diffusion":
            settings = [{"guidance": g} for g in (1.0, 2.0, 4.0)]
        else:
            settings = [{"temperature": t} for t in args.temperatures]
        for s in settings:
            rows.append({**score(f"{family} ({spec})", **s), **fit})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print("\n| prior | setting | fit CPU s | judge 1 accuracy ratio | IS ratio | FD (real train vs test) "
          "| judge 2 accuracy ratio | IS ratio | FD (real train vs test) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        setting = ", ".join(f"{k_} {r[k_]}" for k_ in ("temperature", "guidance") if k_ in r) or "–"
        cells = [f"{r[pre + 'conditional_accuracy_ratio']:.3f} | {r[pre + 'prior_inception_score_ratio']:.3f} | "
                 f"{r[pre + 'conditional_frechet_distance']:.1f} ({r[pre + 'reference_frechet_distance']:.1f})"
                 for pre in ("", "judge2_")]
        print(f"| {r['prior']} | {setting} | {r.get('fit_cpu_s', '–')} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
