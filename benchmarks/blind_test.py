"""Can the listening judges say "bad"? Calibrate PESQ, STOI and the blind two-sample test.

Every judge of reconstructions is run on inputs whose answer is known, on the FSDD test split
(300 clips, 8 kHz):

- real vs real: the test split cut in two halves, paired at random (the null: a blind test
  must give about 0.5 here);
- ceiling: each clip's true magnitude through the package's phase method (what any
  spectrogram model can reach at best);
- envelope: the true dB spectrogram smoothed along frequency over 9 bins (the formant envelope
  with the harmonics smoothed away, what a blurry model makes), through the phase method;
- envelope + noise: the same with white noise 20 dB below the clip's RMS added;
- white noise at each clip's RMS;
- and, for every ``--model DIR`` given, that bundle's reconstructions (the same recipe).

A second table calibrates the two *generation* judges (the CNN of :mod:`vae_audio.evaluation.classifier`
and the cepstral judge of :mod:`vae_audio.evaluation.cepstral_judge`, both trained on the real training
split) on the same rows plus every model's conditional samples from its prior (300, digits
balanced): how often the judge hears the intended digit, the inception score and the Fréchet
distance to the real test clips (each in its own judge's units).

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/blind_test.py [--model outputs/runs/fsdd-conv-cond/model ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=[], help="a bundle trained on FSDD (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from scipy.ndimage import uniform_filter1d

    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.evaluation.listening import pesq_nb, stoi_concat, two_sample_accuracy
    from vae_audio.modeling.bundle import load_model
    from vae_audio.modeling.generate import reconstruct_audio

    features = build_features(datasets.load_dataset("fsdd"))
    test, cfg = features.subset("test"), features.config
    real = test.audio
    rng = np.random.default_rng(args.seed)
    db = features.normalizer.unnormalize(test.x)
    envelope_db = uniform_filter1d(db, size=9, axis=1)
    envelope_db[db <= cfg.db_floor + 1e-3] = cfg.db_floor  # keep the digital silence silent
    envelope = db_to_audio(envelope_db, cfg)
    rms = np.sqrt(np.mean(real ** 2, axis=1, keepdims=True))
    rows: list[tuple[str, np.ndarray, np.ndarray]] = []
    half = len(real) // 2
    order = rng.permutation(len(real))
    rows.append(("real vs real (two halves of the test split)", real[order[:half]], real[order[half:2 * half]]))
    rows.append(("ceiling: true magnitude + phase method", real, db_to_audio(db, cfg)))
    rows.append(("envelope: harmonics smoothed away (9 bins) + phase", real, envelope))
    noise = rng.standard_normal(real.shape).astype(np.float32)
    rows.append(("envelope + white noise at -20 dB", real, envelope + 0.1 * rms * noise))
    rows.append(("white noise at the clip's RMS", real, (rms * noise).astype(np.float32)))
    models = {model_dir: load_model(model_dir) for model_dir in args.model}
    for model_dir, model in models.items():
        labels = test.labels if model.label_names else None
        rec = reconstruct_audio(model, real, labels=labels)["reconstruction"]
        arch = model.info.get("model", {}).get("architecture")
        rows.append((f"model {arch}: {model_dir}", real, rec))

    print(f"FSDD test split, {len(real)} clips at {cfg.sr} Hz; blind test = logistic regression on "
          f"level-invariant features, 5 folds, pairs kept in one fold\n")
    print("| row | blind two-sample accuracy | PESQ nb (median, clips) | STOI (end to end) |")
    print("|---|--:|--:|--:|")
    for name, a, b in rows:
        blind = two_sample_accuracy(a, b, cfg.sr, seed=args.seed)
        pesq = pesq_nb(a, b, cfg.sr)
        stoi = stoi_concat(a, b, cfg.sr)
        print(f"| {name} | {blind['accuracy']:.3f} ± {blind['std']:.3f} | {np.nanmedian(pesq):.2f} "
              f"({int(np.isfinite(pesq).sum())}) | {stoi:.3f} |", flush=True)

    from vae_audio.evaluation.cepstral_judge import CepstralJudge
    from vae_audio.evaluation.classifier import get_or_train_classifier
    from vae_audio.evaluation.scores import frechet_distance, inception_score

    train = features.subset("train")
    judges = {
        "CNN": get_or_train_classifier(train.audio, train.labels, sr=cfg.sr, label_names=list(features.label_names),
                                       cache_dir=REPO / "data" / "cache" / "classifiers",
                                       key_extra={"data": features.name}, seed=0),
        "cepstral": CepstralJudge().fit(train.audio, train.labels, sr=cfg.sr, label_names=list(features.label_names)),
    }
    pick = np.sort(rng.choice(len(train), size=len(real), replace=False))
    judged = [("real train clips (another real set)", train.audio[pick], train.labels[pick])]
    judged += [(name, b, test.labels) for name, _, b in rows[1:]]
    n = len(real)
    cond = np.random.default_rng([0, 2]).permutation(np.arange(n) % 10).astype(np.int32)
    for model_dir, model in models.items():
        if model.label_names:
            audio = model.to_audio(model.generate(n, labels=cond, seed=1))
            judged.append((f"samples of {model.info.get('model', {}).get('architecture')}: {model_dir} "
                           f"({model.prior.describe() if model.prior else 'N(0, I)'})", audio, cond))
    print("\nGeneration judges on the same rows (accuracy: the intended digit heard; IS: inception score; "
          "FD: Fréchet distance to the real test clips in the judge's own units)\n")
    print("| row | CNN accuracy | CNN IS | CNN FD | cepstral accuracy | cepstral IS | cepstral FD |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    reference = {name: judge.analyze(real, sr=cfg.sr) for name, judge in judges.items()}
    print("| real test clips | " + " | ".join(
        f"{np.mean(np.argmax(p_, 1) == test.labels):.3f} | {inception_score(p_):.2f} | 0"
        for _, p_ in reference.values())
        + " |")
    for name, audio, labels in judged:
        cells = []
        for jname, judge in judges.items():
            emb, probs = judge.analyze(audio, sr=cfg.sr)
            cells.append(f"{np.mean(np.argmax(probs, 1) == labels):.3f} | {inception_score(probs):.2f} | "
                         f"{frechet_distance(emb, reference[jname][0]):.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
