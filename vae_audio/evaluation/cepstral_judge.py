"""A second, independent judge of generated audio: cepstral statistics and a linear classifier.

The project's judge (:class:`vae_audio.evaluation.classifier.AudioClassifier`) is a CNN on log-mel
spectrograms. A generator tuned while watching one judge can please it without sounding right,
so generation is also scored by a judge that shares neither its features nor its model family:

- features: MFCCs (20, librosa, on the peak-normalized clip) of the audible frames (within 40 dB
  of the clip's loudest frame), summarized per clip as the mean and standard deviation of each
  coefficient and of its frame-to-frame change (80 numbers), standardized with the training
  set's statistics;
- classifier: multinomial logistic regression (scikit-learn, L2, C = 1).

:meth:`CepstralJudge.analyze` returns the standardized features (the embedding for Fréchet
distances) and the class probabilities, the interface
:func:`vae_audio.evaluation.classifier.generation_scores` scores with, so every score of the first judge
(accuracy, inception score, Fréchet distance) exists for this one too.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ParameterError

__all__ = ["CepstralJudge", "cepstral_features"]

N_MFCC = 20
AUDIBLE_DB = 40.0


def cepstral_features(waveforms: Any, sr: int) -> np.ndarray:
    """Per-clip cepstral statistics ``(n, 4 * N_MFCC)`` float64 of waveforms ``(n, samples)`` at ``sr``.

    Level-invariant (each clip is peak-normalized first); a silent clip gives zeros.
    """
    import librosa

    x = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
    if x.ndim != 2 or x.shape[1] < 64 or not np.all(np.isfinite(x)):
        raise ParameterError(f"waveforms: expected finite clips (n, samples >= 64), got shape {np.shape(waveforms)}")
    n_fft = 1 << int(np.ceil(np.log2(0.032 * sr)))  # about 32 ms
    out = np.zeros((len(x), 4 * N_MFCC))
    for i, y in enumerate(x):
        peak = float(np.max(np.abs(y)))
        if peak == 0.0:
            continue
        mfcc = librosa.feature.mfcc(y=y / peak, sr=sr, n_mfcc=N_MFCC, n_fft=n_fft, hop_length=n_fft // 4,
                                    n_mels=40)
        energy = librosa.feature.rms(y=y / peak, frame_length=n_fft, hop_length=n_fft // 4)[0]
        db = 20.0 * np.log10(np.maximum(energy, 1e-10))
        keep = db >= db.max() - AUDIBLE_DB
        m = mfcc[:, keep[: mfcc.shape[1]]]
        d = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros((N_MFCC, 1))
        out[i] = np.concatenate([m.mean(1), m.std(1), d.mean(1), np.abs(d).mean(1)])
    return out


class CepstralJudge:
    """Names the class of a clip from its cepstral statistics (see the module docstring).

    ``CepstralJudge().fit(waveforms, labels, sr=..., label_names=...)``, then :meth:`analyze`,
    :meth:`predict_proba`, :meth:`predict`.
    """

    def __init__(self, *, C: float = 1.0):
        self.C = float(C)
        self.sr: int | None = None
        self.label_names: list[str] = []
        self._mean = self._std = None
        self._model = None

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def fit(self, waveforms: Any, labels: Any, *, sr: int, label_names: Sequence[str]) -> "CepstralJudge":
        """Train on real clips ``(n, samples)`` at ``sr`` Hz with class indices ``labels`` ``(n,)``."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels)
        feats = cepstral_features(waveforms, sr)
        if labels.shape != (len(feats),) or len(np.unique(labels)) < 2:
            raise ParameterError(f"labels: expected {len(feats)} class indices of at least 2 classes")
        self.sr, self.label_names = int(sr), [str(n) for n in label_names]
        self._mean, self._std = feats.mean(0), feats.std(0) + 1e-8
        self._model = LogisticRegression(C=self.C, max_iter=3000)
        self._model.fit((feats - self._mean) / self._std, labels)
        return self

    def _require_fitted(self) -> None:
        if self._model is None:
            raise ParameterError("CepstralJudge is not trained: call fit() first")

    def analyze(self, waveforms: Any, *, sr: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (n, 80), probabilities (n, n_classes))`` float64; ``sr`` must be the training rate."""
        self._require_fitted()
        if sr is not None and int(sr) != self.sr:
            raise ParameterError(f"sr={sr}: this judge was trained at {self.sr} Hz")
        emb = (cepstral_features(waveforms, self.sr) - self._mean) / self._std
        probs = np.zeros((len(emb), self.n_classes))
        probs[:, self._model.classes_] = self._model.predict_proba(emb)
        return emb, probs

    def predict_proba(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        return self.analyze(waveforms, sr=sr)[1]

    def predict(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        return np.argmax(self.predict_proba(waveforms, sr=sr), axis=1).astype(np.int64)
