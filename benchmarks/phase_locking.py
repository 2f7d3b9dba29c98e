"""What the phase step costs on a model's spectrograms: the default phase method against Fast
Griffin-Lim with identity phase locking around each spectral peak.

The package's phase method (PGHI start + 100 FGLA iterations) turns real magnitudes back into
audio almost perfectly, but a decoder's magnitudes are not the STFT of any signal, and FGLA fits
them with partials whose level and frequency flicker from one short frame to the next (the
cepstral judge's frame-to-frame MFCC change grows by one standard deviation of real notes).
The variant here re-imposes, after every FGLA projection, the phase a steady sinusoid would have
on the ``--lock-bins`` bins either side of each local maximum of the magnitude (that peak's phase
plus pi per bin, Laroche & Dolson's identity phase locking), so each peak stays one partial.

For the test split of the model's data the table scores, from audio: real magnitudes and the
model's reconstructions through both methods (and the reconstructions with the true phase), the
prior's continuations of each test clip (a prior that draws its onset: it starts from the clip's
own first columns and summary, exactly, and continues as it does when sampling, which separates
what the prior's continuation costs from what its onset noise costs), and the model's conditional
samples (seed 1, labels as ``vae-audio evaluate --seed 0`` draws them) through both. Columns:
judge 1 (the CNN) and judge 2 (cepstral statistics) accuracy, audio SC and LSD against the real
clips' magnitudes (median, dB; LSD floored at the model's dB floor as in ``vae-audio evaluate``),
PESQ (median), STOI, blind two-sample accuracy (0.5 = indistinguishable).

Usage (from the repository root)::

    python benchmarks/phase_locking.py --model outputs/runs/synth-grid-cond/model [--lock-bins 2] [--n-iter 100]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def locked_griffin_lim(mag: np.ndarray, config, *, lock_bins: int = 2, n_iter: int = 100,
                       momentum: float = 0.99) -> np.ndarray:
    """FGLA from a PGHI start on magnitudes ``(n, freq, frames)``, identity-locking ``lock_bins`` bins
    either side of every peak after each projection; waveforms ``(n, config.n_samples)``."""
    import librosa

    from vae_audio.dsp.phase import _region_peaks, griffin_lim

    stft = {"n_fft": config.n_fft, "hop_length": config.hop_length}
    n, n_freq, n_frames = mag.shape  # each bin's peak bin, (n, freq, frames)
    rows = np.ascontiguousarray(mag.transpose(0, 2, 1)).reshape(-1, n_freq)
    peak = (_region_peaks(rows) % n_freq).reshape(n, n_frames, n_freq).transpose(0, 2, 1)
    offset = np.arange(n_freq)[None, :, None] - peak
    near, steady = np.abs(offset) <= lock_bins, np.pi * offset

    def locked(angle: np.ndarray) -> np.ndarray:
        """``mag`` with ``angle``, the bins near each peak re-locked to that peak's phase."""
        return mag * np.exp(1j * np.where(near, np.take_along_axis(angle, peak, axis=1) + steady, angle))

    angle = np.angle(librosa.stft(griffin_lim(mag, n_iter=0, config=config), **stft))
    alpha, previous = momentum / (1 + momentum), 0.0
    for _ in range(n_iter):
        rebuilt = librosa.stft(librosa.istft(locked(angle), length=config.n_samples, **stft), **stft)
        angle, previous = np.angle(rebuilt - alpha * previous), rebuilt
    return librosa.istft(locked(angle), length=config.n_samples, **stft).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a trained model's bundle folder (labelled data)")
    p.add_argument("--lock-bins", type=int, default=2, help="bins locked either side of a peak (default 2)")
    p.add_argument("--n-iter", type=int, default=100, help="FGLA iterations of the locked variant (default 100)")
    args = p.parse_args()

    import librosa

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio.dsp.features import db_to_magnitude
    from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.evaluation.cepstral_judge import CepstralJudge
    from vae_audio.evaluation.classifier import get_or_train_classifier
    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.evaluation.listener import paired_test
    from vae_audio.evaluation.listening import pesq_nb, stoi_concat
    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model)
    cfg = model.config
    features = load_features(model)[0]
    test, train = features.subset("test"), features.subset("train")
    sr, names = cfg.sr, list(features.label_names)
    judge1 = get_or_train_classifier(train.audio, train.labels, sr=sr, label_names=names,
                                     cache_dir="data/cache/classifiers", key_extra={"data": features.name}, seed=0)
    judge2 = CepstralJudge().fit(train.audio, train.labels, sr=sr, label_names=names)
    stft = {"n_fft": cfg.n_fft, "hop_length": cfg.hop_length}
    real_mag = np.abs(librosa.stft(test.audio, **stft))
    eps = 10.0 ** (cfg.db_floor / 20.0)  # as vae-audio evaluate: the model's dB floor
    n, k = len(test), len(names)
    sample_labels = np.random.default_rng([0, 2]).permutation(np.arange(n) % k).astype(np.int32)

    rows = []

    def score(name: str, audio: np.ndarray, labels: np.ndarray, paired: bool) -> None:
        row = [name] + [f"{np.mean(np.argmax(j.predict_proba(audio, sr=sr), axis=1) == labels):.3f}"
                        for j in (judge1, judge2)]
        if paired:
            pesq = pesq_nb(test.audio, audio, sr)
            row += [f"{np.median(spectral_convergence_db(real_mag, audio, config=cfg)):.2f}",
                    f"{np.median(log_spectral_distance_db(real_mag, audio, config=cfg, eps=eps)):.2f}",
                    f"{np.median(pesq[np.isfinite(pesq)]):.2f}", f"{stoi_concat(test.audio, audio, sr):.3f}",
                    f"{paired_test(test.audio, audio, sr)['accuracy']:.3f}"]
        else:
            row += ["–"] * 5
        rows.append(row)
        print(" | ".join(row), flush=True)

    recon = model.to_db(model.reconstruct(test.x, test.labels.astype(np.int32)))
    samples = model.to_db(model.generate(n, labels=sample_labels, seed=1))
    groups = [("real magnitudes", model.to_db(test.x), test.labels, True),
              ("reconstructions", recon, test.labels, True)]
    prior = model.prior
    if getattr(prior, "onset_columns", 0) and prior.onset is None:  # a kernel onset: start from the clip's own
        from vae_audio.modeling.grid_prior import codes_to_sequences

        labels = test.labels.astype(np.int32)
        z_mean = model.encode(test.x, labels)[0]
        seq = (codes_to_sequences(z_mean) - prior.mean) / prior.std
        own = [seq[:, :prior.onset_columns].reshape(n, -1)]
        if prior.summary is not None:
            own.append((seq.mean(axis=1) - prior.summary[0]) @ prior.summary[1])
        z = prior.sample(n, labels, frames=z_mean.shape[2], seed=1, summaries=np.concatenate(own, 1).astype(np.float32))
        groups.append(("prior's continuations of the clips' own onsets", model.to_db(model.decode(z, labels)),
                       test.labels, True))
    groups.append(("conditional samples", samples, sample_labels, False))
    locked = f"identity-locked FGLA (±{args.lock_bins} bins, {args.n_iter} iterations)"
    for what, s_db, labels, paired in groups:
        mag = db_to_magnitude(s_db, cfg).astype(np.float32)
        score(f"{what}: default phase method", db_to_audio(s_db, cfg), labels, paired)
        if what == "reconstructions":
            true_phase = np.exp(1j * np.angle(librosa.stft(test.audio, **stft)))
            score(f"{what}: true phase", librosa.istft(mag * true_phase, length=cfg.n_samples, **stft), labels, paired)
        score(f"{what}: {locked}", locked_griffin_lim(mag, cfg, lock_bins=args.lock_bins, n_iter=args.n_iter),
              labels, paired)

    print(f"\n{features.name}, {n} test clips, `python benchmarks/phase_locking.py --model {args.model}`\n")
    print("| audio | judge 1 acc. | judge 2 acc. | SC dB | LSD dB | PESQ | STOI | blind |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
