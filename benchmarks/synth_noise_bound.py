"""How low can a reconstruction's LSD go on the built-in synth? A bound set by the notes' own noise.

Every synthetic note has a random part (flute breath, bow and organ key noise, the plucked
string's excitation, the mallet's strike): its spectrogram bins between the partials are noise,
whose exact values no model can know from a code of a few thousand numbers. This script replays
each test note with every parameter kept and only the noise drawn again
(``generate_synth(noise_seed=k)``) and scores, against the real test clips, with the definitions
of ``vae-audio evaluate`` (audio LSD with ``eps`` at the dB floor, SC; judge 1 = the CNN, judge
2 = the cepstral judge, both trained on the training split; the package's blind test):

* the real clips through the default phase method (the ceiling),
* **another noise draw** of the same notes (audio, no phase step): what a perfect synthesizer of
  the note that samples its own noise would score,
* **the mean (and the median) dB spectrogram over ``--draws`` noise draws**, through the default
  phase method: the best a deterministic decoder that knows every parameter of the note but not
  the noise draw can output for the squared-dB error LSD is made of (a parameter-perfect oracle),
* with ``--model``, that bundle's reconstructions (its own recipe),

and the LSD per family. Usage (from the repository root)::

    python benchmarks/synth_noise_bound.py [--model outputs/runs/synth-grid-cond/model] [--draws 16]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a bundle trained on synth: add its reconstructions as a row")
    p.add_argument("--draws", type=int, default=16, help="noise draws averaged by the oracle (default 16)")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    if args.draws < 2:
        p.error("--draws: expected at least 2")

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.data.synth import FAMILIES, generate_synth
    from vae_audio.dsp.features import stft_magnitude
    from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.evaluation.cepstral_judge import CepstralJudge
    from vae_audio.evaluation.classifier import get_or_train_classifier
    from vae_audio.evaluation.listener import paired_test
    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model) if args.model else None
    cache = REPO / "data" / "cache"
    dataset = datasets.load_dataset("synth", **({"config": model.config} if model else {}))
    features = build_features(dataset, recipe=model.recipe if model else None, cache_dir=cache)
    recipe, cfg = features.recipe, features.config
    train, test = features.subset("train"), features.subset("test")
    clips = [c for c in dataset.clips if c.split == "test"]
    index = [c.metadata["index"] for c in clips]
    family = np.array([c.metadata["family"] for c in clips])
    replay = {"sr": cfg.sr, "n_samples": cfg.n_samples, "seed": dataset.seed, "indices": index}
    own, _ = generate_synth(**replay)
    if not np.array_equal(own, test.audio):
        raise SystemExit("the replayed test notes differ from the dataset's: is the data the built-in synth?")
    draws = [generate_synth(**replay, noise_seed=k)[0] for k in range(args.draws)]
    draws_db = np.stack([recipe.spectrogram_db(recipe.prepare(d)) for d in draws])
    eps = float(10.0 ** (cfg.db_floor / 20.0))
    reference = stft_magnitude(test.audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length).astype(np.float64)

    rows = {
        "real clips through the phase method (ceiling)":
            db_to_audio(recipe.spectrogram_db(recipe.prepare(test.audio)), cfg),
        "another noise draw (audio, no phase step)": draws[0],
        f"mean dB over {args.draws} noise draws, phase method (oracle)": db_to_audio(draws_db.mean(axis=0), cfg),
        f"median dB over {args.draws} noise draws, phase method": db_to_audio(np.median(draws_db, axis=0), cfg),
    }
    if model is not None:
        reconstructions = model.reconstruct(test.x, test.labels.astype(np.int32))
        rows[f"model reconstructions ({args.model})"] = model.to_audio(reconstructions)

    judge1 = get_or_train_classifier(train.audio, train.labels, sr=cfg.sr, label_names=list(features.label_names),
                                     cache_dir=cache / "classifiers", key_extra={"data": features.name}, seed=0)
    judge2 = CepstralJudge().fit(train.audio, train.labels, sr=cfg.sr, label_names=list(features.label_names))
    real1 = float(np.mean(judge1.predict(test.audio, sr=cfg.sr) == test.labels))
    real2 = float(np.mean(judge2.predict(test.audio, sr=cfg.sr) == test.labels))
    out = []
    for name, audio in rows.items():
        lsd = log_spectral_distance_db(reference, audio, config=cfg, eps=eps)
        sc = spectral_convergence_db(reference, audio, config=cfg)
        row = {"row": name, "lsd_db": round(float(np.mean(lsd)), 2), "sc_db": round(float(np.mean(sc)), 2),
               "judge1_ratio": round(float(np.mean(judge1.predict(audio, sr=cfg.sr) == test.labels)) / real1, 3),
               "judge2_ratio": round(float(np.mean(judge2.predict(audio, sr=cfg.sr) == test.labels)) / real2, 3),
               "listener": round(paired_test(test.audio, audio, cfg.sr)["accuracy"], 3),
               "lsd_by_family": {f: round(float(np.mean(lsd[family == f])), 2) for f in FAMILIES}}
        print(json.dumps(row), flush=True)
        out.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"\n{len(test)} test notes | audio LSD (dB) | SC (dB) | judge 1 ratio | judge 2 ratio | blind | "
          + " | ".join(FAMILIES))
    for r in out:
        print(f"| {r['row']} | {r['lsd_db']:.2f} | {r['sc_db']:.1f} | {r['judge1_ratio']:.3f} | "
              f"{r['judge2_ratio']:.3f} | {r['blind']:.3f} | "
              + " | ".join(f"{r['lsd_by_family'][f]:.2f}" for f in FAMILIES) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
