"""Phase reconstruction: from a magnitude spectrogram (what a model generates) back to audio.

A generated spectrogram has no phase, and the phase we invent for it bounds how good the audio
can sound. This module provides

* :func:`griffin_lim` -- Fast Griffin-Lim (FGLA, Perraudin, Balazs & Sondergaard 2013) with
  momentum, batched inside one compiled TensorFlow function (CPU or GPU), started from a
  Phase Gradient Heap Integration estimate (PGHI, Prusa, Balazs & Sondergaard 2017) by default;
* :func:`pghi_phase` -- the PGHI phase estimate on its own (NumPy/SciPy, no iterations);
* :func:`mel_to_stft_magnitude` -- non-negative least-squares inversion of a mel magnitude;
* :func:`magnitude_to_audio` and :func:`db_to_audio` -- what the rest of the package calls to
  turn a model's output (linear or mel, magnitude or dB) into a waveform.

Conventions are librosa's (see :mod:`vae_audio.dsp.features`): a magnitude is
``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))`` -- periodic Hann window of
``n_fft`` samples, ``center=True`` (``n_fft // 2`` zeros padded on both sides) -- shaped
``(freq, frames)`` or ``(batch, freq, frames)`` with ``freq = 1 + n_fft // 2``. The STFT and
inverse STFT inside the iterations reproduce ``librosa.stft`` / ``librosa.istft(length=...)``
exactly (same padding, window and window-sum-square normalization), so
``griffin_lim(np.abs(librosa.stft(y)), length=len(y))`` lines up with ``y`` sample for sample
(up to the sign of the waveform, which a magnitude cannot determine).

TensorFlow is imported only when :func:`griffin_lim` first runs.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .. import checks, progress
from ..errors import ParameterError
from .audio import MIN_SR
from .features import SpectrogramConfig, db_to_magnitude, mel_filterbank

__all__ = [
    "DEFAULT_N_ITER",
    "INITS",
    "PHASE_SETTINGS",
    "griffin_lim",
    "pghi_phase",
    "mel_to_stft_magnitude",
    "magnitude_to_audio",
    "db_to_audio",
]

#: Default number of FGLA iterations after the PGHI start (see ``benchmarks/phase.py``).
DEFAULT_N_ITER = 100

#: Named settings of :func:`griffin_lim` for model outputs (``--phase`` of ``vae-audio generate`` and
#: ``evaluate``). ``"quality"`` is the default everywhere; ``"fast"`` (the peak-locked start and 10
#: iterations, about 6x less work) is for bulk generation (docs/experiments/phase.md and speed.md).
PHASE_SETTINGS = {"quality": {"init": "pghi", "n_iter": DEFAULT_N_ITER}, "fast": {"init": "locked", "n_iter": 10}}

#: Accepted values of ``init``.
INITS = ("pghi", "locked", "random", "zeros")

#: PGHI: coefficients below ``PGHI_TOL`` times the clip's largest magnitude (-100 dB) get zero
#: phase and are not integrated (Prusa et al. use 1e-5 too).
PGHI_TOL = 1e-5

#: Time-frequency ratio of the Gaussian that best approximates a Hann window of length ``n``:
#: ``lambda = HANN_LAMBDA * n ** 2`` (Prusa et al. 2017, Table 1).
HANN_LAMBDA = 0.25645

#: Largest accepted ``n_iter`` (far beyond any benefit: quality saturates after ~1000).
MAX_N_ITER = 100_000

#: Clips per compiled call (bounds memory: ~64 x 2 complex spectrograms + frames).
DEFAULT_BATCH_SIZE = 64


# ----------------------------------------------------------------------------- validation


def _stft_params(n_fft: Any, hop_length: Any, config: SpectrogramConfig | None) -> tuple[int, int]:
    """Resolve ``n_fft``/``hop_length`` from keywords or a config; they must agree if both given."""
    if config is not None:
        if not isinstance(config, SpectrogramConfig):
            raise ParameterError(f"config: expected a SpectrogramConfig, got {type(config).__name__}")
        for name, value, from_config in (("n_fft", n_fft, config.n_fft), ("hop_length", hop_length, config.hop_length)):
            if value is not None and value != from_config:
                raise ParameterError(f"{name}={value!r} disagrees with config.{name}={from_config}; "
                                     "pass one or the other")
        n_fft, hop_length = config.n_fft, config.hop_length
    if n_fft is None or hop_length is None:
        missing = " and ".join(n for n, v in (("n_fft", n_fft), ("hop_length", hop_length)) if v is None)
        raise ParameterError(f"{missing}: required (pass n_fft= and hop_length=, or config=)")
    n_fft = checks.whole_number(n_fft, "n_fft", 4)
    hop_length = checks.whole_number(hop_length, "hop_length", 1)
    if hop_length > n_fft:
        raise ParameterError(f"hop_length={hop_length} exceeds n_fft={n_fft}: frames would leave gaps")
    return n_fft, hop_length


def _as_magnitude(x: Any, name: str, n_freq: int, freq_desc: str) -> tuple[np.ndarray, bool]:
    """Validate a magnitude ``(freq, frames)`` or ``(batch, freq, frames)``.

    Returns ``(float32 array (batch, freq, frames), was_single_clip)``.
    """
    expected = f"(freq, frames) or (batch, freq, frames) with freq = {freq_desc}"
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: cannot be read as an array ({exc}); expected {expected}") from None
    if np.iscomplexobj(arr):
        raise ParameterError(f"{name}: got complex values; expected a real magnitude (np.abs of an STFT), "
                             f"shape {expected}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)) or arr.dtype == bool:
        raise ParameterError(f"{name}: expected a numeric array shaped {expected}, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ParameterError(f"{name}: expected shape {expected}, got rank {arr.ndim} shape {arr.shape}")
    if arr.shape[-2] != n_freq:
        raise ParameterError(
            f"{name}: frequency axis (second to last) has {arr.shape[-2]} rows, expected {n_freq} "
            f"(freq = {freq_desc}); got shape {arr.shape}, expected (..., {n_freq}, frames)"
        )
    if arr.size == 0:
        raise ParameterError(f"{name}: empty array of shape {arr.shape}; expected {expected} with at least one frame")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name}: contains NaN or infinite values; expected finite magnitudes >= 0")
    low = arr.min()
    if low < 0:
        raise ParameterError(
            f"{name}: contains negative values (min {float(low):.4g}); expected a linear magnitude >= 0 "
            "(np.abs of an STFT, not dB: convert dB with features.db_to_magnitude or use db_to_audio)"
        )
    single = arr.ndim == 2
    arr = arr[None] if single else arr
    return np.ascontiguousarray(arr, dtype=np.float32), single


# ----------------------------------------------------------------------------- PGHI
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window, identical to ``scipy.signal.get_window("hann", n_fft)`` (librosa's)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float64)


def _phase_gradients(mag: np.ndarray, n_fft: int, hop: int, tol: float,
                     dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Phase derivatives of librosa's STFT estimated from the log-magnitude (Gaussian-window theory).

    ``mag`` is ``(batch, freq, frames)``. Returns ``(dphi_frame, dphi_bin)`` in radians, of
    ``dtype``: the phase advance from one frame to the next and from one bin to the next.

    For a Gaussian window ``exp(-pi t^2 / lam)`` the STFT with phase referenced to the window
    centre satisfies ``dphi/dt = 2 pi f + (1/lam) d(log|X|)/df`` and
    ``dphi/df = -lam d(log|X|)/dt`` (t in samples, f in cycles/sample). librosa references the
    phase to the frame start, half a window earlier, which adds ``pi`` per bin.
    """
    lam = HANN_LAMBDA * n_fft * n_fft
    n_freq, n_frames = mag.shape[-2:]
    peak = mag.max(axis=(-2, -1), keepdims=True).astype(dtype)
    logs = np.log(np.maximum(mag.astype(dtype, copy=False), np.maximum(peak * dtype(tol), np.finfo(np.float32).tiny)))
    d_bin = np.gradient(logs, axis=-2) if n_freq > 1 else np.zeros_like(logs)
    d_frame = np.gradient(logs, axis=-1) if n_frames > 1 else np.zeros_like(logs)
    k = np.arange(n_freq, dtype=dtype)[:, None]
    dphi_frame = hop * (2.0 * np.pi * k / n_fft + (n_fft / lam) * d_bin)
    dphi_bin = np.pi - (lam / (n_fft * hop)) * d_frame
    return dphi_frame, dphi_bin


def _integrate_one(mag: np.ndarray, dphi_frame: np.ndarray, dphi_bin: np.ndarray, tol: float) -> np.ndarray:
    """Integrate the phase gradients of one clip ``(freq, frames)`` along a maximum spanning tree.

    PGHI's heap integration spreads the phase outward from the strongest coefficient, so every
    coefficient's phase is integrated along a path of strong (reliable) coefficients. A *maximum
    spanning tree* of the time-frequency grid, each edge weighted by its weaker end (ties broken
    towards the stronger end), gives every coefficient the path whose weakest link is strongest:
    the same idea, computed by SciPy's compiled Kruskal algorithm instead of a Python heap loop.
    Disconnected regions (separated by coefficients below ``tol``) start from their strongest
    coefficient with phase 0; the coefficients below ``tol`` get phase 0.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

    n_freq, n_frames = mag.shape
    n = n_freq * n_frames
    peak = float(mag.max())
    if peak <= 0.0:
        return np.zeros((n_freq, n_frames), dtype=np.float64)
    active = mag > tol * peak
    idx = np.arange(n).reshape(n_freq, n_frames)
    # cost >= 1, smallest for the loudest coefficient (scipy drops zero weights, so keep it positive)
    cost = (np.log(peak) - np.log(np.maximum(mag, tol * peak))).ravel() + 1.0
    along_t = active[:, :-1] & active[:, 1:]
    along_f = active[:-1, :] & active[1:, :]
    src = np.concatenate([idx[:, :-1][along_t], idx[:-1, :][along_f]])
    dst = np.concatenate([idx[:, 1:][along_t], idx[1:, :][along_f]])
    c_src, c_dst = cost[src], cost[dst]
    weight = np.maximum(c_src, c_dst) + 1e-3 * np.minimum(c_src, c_dst)
    root = n  # a virtual node joined to the loudest coefficient of every connected region
    tree = minimum_spanning_tree(csr_matrix((weight, (src, dst)), shape=(n + 1, n + 1)), overwrite=True)
    _, labels = connected_components(tree, directed=False)
    nodes = np.flatnonzero(active.ravel())
    by_region = np.lexsort((cost[nodes], labels[nodes]))
    lab = labels[nodes][by_region]
    starts = nodes[by_region[np.r_[True, lab[1:] != lab[:-1]]]]
    tree = tree.tocoo()
    rows = np.concatenate([tree.row, np.full(starts.size, root)])
    cols = np.concatenate([tree.col, starts])
    forest = csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1))
    order, parent = breadth_first_order(forest, root, directed=False, return_predecessors=True)
    child = order[1:]
    par = parent[child]
    from_root = par == root
    par_safe = np.where(from_root, child, par)
    step = child - par_safe  # +-1: next/previous frame, +-n_frames: next/previous bin
    along_time = np.abs(step) == 1
    # trapezoidal rule along the edge
    g = np.where(along_time, dphi_frame.ravel()[child] + dphi_frame.ravel()[par_safe],
                 dphi_bin.ravel()[child] + dphi_bin.ravel()[par_safe])
    inc = 0.5 * np.sign(step) * g
    inc[from_root] = 0.0
    # phase = sum of increments along the path to the root: pointer jumping, O(n log depth)
    acc = np.zeros(n + 1, dtype=np.float64)
    acc[child] = inc
    anc = np.full(n + 1, root, dtype=np.int64)
    anc[child] = par
    pending = np.flatnonzero(anc != root)
    while pending.size:
        up = anc[pending]
        acc[pending] += acc[up]
        anc[pending] = anc[up]
        pending = pending[anc[pending] != root]
    return acc[:n].reshape(n_freq, n_frames)


def pghi_phase(magnitude: np.ndarray, *, n_fft: int | None = None, hop_length: int | None = None,
               tol: float = PGHI_TOL, config: SpectrogramConfig | None = None) -> np.ndarray:
    """Phase Gradient Heap Integration: a phase for a linear STFT magnitude, without iterations.

    Estimates the phase derivatives from the log-magnitude with the Gaussian approximation of
    the Hann window (``lambda = 0.25645 * n_fft**2``) and integrates them from the strongest
    coefficients outward (Prusa, Balazs & Sondergaard 2017), along a maximum spanning tree of
    the time-frequency grid. NumPy/SciPy only, a few ms per clip.

    Parameters
    ----------
    magnitude : ``(freq, frames)`` or ``(batch, freq, frames)`` linear STFT magnitude, >= 0,
        ``freq = 1 + n_fft // 2``.
    n_fft, hop_length : STFT sizes in samples (or ``config=``).
    tol : relative magnitude below which coefficients get phase 0 (default 1e-5, -100 dB).

    Returns
    -------
    float64 phase in radians (not wrapped), same shape as ``magnitude``.
    """
    n_fft, hop = _stft_params(n_fft, hop_length, config)
    mag, single = _as_magnitude(magnitude, "magnitude", n_fft // 2 + 1, f"1 + n_fft // 2 = {n_fft // 2 + 1}")
    tol = checks.number(tol, "tol", 0, 1, lo_open=True, hi_open=True, what="a relative magnitude")
    phase = _pghi_batch(mag, n_fft, hop, tol)
    return phase[0] if single else phase


def _pghi_batch(mag: np.ndarray, n_fft: int, hop: int, tol: float = PGHI_TOL) -> np.ndarray:
    dphi_frame, dphi_bin = _phase_gradients(mag, n_fft, hop, tol)
    return np.stack([_integrate_one(mag[i], dphi_frame[i], dphi_bin[i], tol) for i in range(mag.shape[0])])


def _region_peaks(rows: np.ndarray) -> np.ndarray:
    """For magnitude spectra ``rows`` ``(m, freq)``: the flat index into ``rows.ravel()`` of the peak
    of each bin's region, int32 ``(m * freq,)``. A region opens at bin 0 and at every local minimum
    along frequency, so each holds one spectral peak (its loudest bin, the lowest on a tie)."""
    opens = np.zeros(rows.shape, dtype=bool)
    opens[:, 0] = True
    opens[:, 1:-1] = (rows[:, 1:-1] < rows[:, :-2]) & (rows[:, 1:-1] <= rows[:, 2:])
    flat, starts = rows.ravel(), np.flatnonzero(opens.ravel())
    region = np.cumsum(opens.ravel(), dtype=np.int32) - 1
    loudest = np.maximum.reduceat(flat, starts)[region]
    position = np.arange(flat.size, dtype=np.int32)
    return np.minimum.reduceat(np.where(flat == loudest, position, flat.size), starts)[region]


def _locked_batch(mag: np.ndarray, n_fft: int, hop: int, tol: float = PGHI_TOL) -> np.ndarray:
    """A phase from the same gradients as PGHI, integrated frame by frame with peak locking.

    ``mag`` is ``(batch, freq, frames)``; returns the phase ``(batch, frames, freq)`` (the
    engine's layout), float32 radians. In each frame the bins are split into regions at the local
    minima of the magnitude along frequency (each region holds one spectral peak). A peak's phase
    continues its bin's phase from the previous frame by the time derivative (trapezoidal rule);
    every other bin takes its peak's phase plus the frequency derivative integrated from the
    peak: the "identity phase locking" of phase vocoders (Laroche & Dolson 1999) with PGHI's
    gradients. A loop over frames, vectorized over clips and bins: about 4x faster than
    :func:`pghi_phase` and 1-2 dB behind it in spectral convergence. Each clip's result depends
    on that clip only.
    """
    b, n_freq, n_frames = mag.shape
    d_frame, d_bin = (g.transpose(0, 2, 1) for g in _phase_gradients(mag, n_fft, hop, tol, np.float32))
    along_freq = np.zeros((b, n_frames, n_freq), np.float32)  # each bin's phase relative to the frame's bin 0
    np.cumsum(0.5 * (d_bin[..., :-1] + d_bin[..., 1:]), axis=-1, out=along_freq[..., 1:])
    peak = _region_peaks(np.ascontiguousarray(mag.transpose(0, 2, 1)).reshape(-1, n_freq))
    relative = along_freq.ravel()
    relative = (relative - relative[peak]).reshape(b, n_frames, n_freq)
    # the flat index, within one frame of all clips (b * freq), of each bin's peak
    source = (peak % n_freq).reshape(b, n_frames, n_freq) + (np.arange(b, dtype=np.int32) * n_freq)[:, None, None]
    source = np.ascontiguousarray(source.transpose(1, 0, 2))  # (frames, batch, freq)
    advance = 0.5 * (d_frame[:, :-1] + d_frame[:, 1:])  # (batch, frames - 1, freq)
    phase = np.empty((b, n_frames, n_freq), np.float32)  # float32: ~1e-3 rad after 100 frames, plenty for a start
    phase[:, 0] = relative[:, 0]
    for t in range(1, n_frames):
        carried = (phase[:, t - 1] + advance[:, t - 1]).ravel()
        phase[:, t] = carried[source[t]] + relative[:, t]
    return phase


# ----------------------------------------------------------------------------- TensorFlow engine
_ENGINES: dict[tuple[int, int, bool], Any] = {}
_ENGINES_LOCK = threading.Lock()


def _synthesis_mask(n_fft: int, hop: int, n_frames: int, length: int) -> np.ndarray:
    """``1 / window_sum_square`` on the samples ``istft(length=length)`` keeps, 0 elsewhere.

    Multiplying the overlap-added signal (``n_fft + hop * (n_frames - 1)`` samples, still
    centre-padded) by this mask is librosa's istft normalization, crop to ``length`` and the
    zero re-padding of the next ``stft(center=True)`` in one step.
    """
    padded = n_fft + hop * (n_frames - 1)
    wss = np.zeros(padded, dtype=np.float64)
    w2 = _hann(n_fft) ** 2
    for t in range(n_frames):
        wss[t * hop:t * hop + n_fft] += w2
    tiny = np.finfo(np.float32).tiny
    inv = np.where(wss > tiny, 1.0 / np.maximum(wss, tiny), 1.0)
    mask = np.zeros(padded, dtype=np.float32)
    start, stop = n_fft // 2, min(padded, n_fft // 2 + length)
    mask[start:stop] = inv[start:stop]
    return mask


def _engine(n_fft: int, hop: int, jit_compile: bool = False):
    """The compiled FGLA function for one ``(n_fft, hop_length)``; traced once per process.

    The loop is one TensorFlow graph (``tf.function`` with ``None`` batch/frame dimensions,
    so any batch shape reuses the same trace). With ``jit_compile=True`` the element-wise parts
    (overlap-add + framing, and the momentum/normalization update) become XLA clusters while
    the FFTs stay on TensorFlow's kernels: faster per iteration on CPU, but compiled again for
    every new chunk shape (see ``benchmarks/phase.py``).
    """
    key = (n_fft, hop, bool(jit_compile))
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = _build_engine(n_fft, hop, bool(jit_compile))
        return _ENGINES[key]


def _build_engine(n_fft: int, hop: int, xla: bool):
    import tensorflow as tf

    n_freq = n_fft // 2 + 1
    window = tf.constant(_hann(n_fft).astype(np.float32))
    ratio = n_fft // hop if n_fft % hop == 0 else 0

    def reframe(frames, mask):
        """frames (B, T, n_fft) from irfft -> windowed overlap-add * mask (B, L) -> windowed frames."""
        if ratio and xla:
            # n_fft = ratio * hop: the signal is (B, T + ratio - 1, hop) blocks; overlap-add and
            # framing become ratio shifted adds/slices that XLA fuses into one pass
            b, t = tf.shape(frames)[0], tf.shape(frames)[1]
            parts = tf.reshape(frames * window, [b, t, ratio, hop])
            blocks = tf.add_n([tf.pad(parts[:, :, j, :], [[0, 0], [j, ratio - 1 - j], [0, 0]])
                               for j in range(ratio)])
            blocks = blocks * tf.reshape(mask, [b, -1, hop])
            return tf.concat([blocks[:, j:j + t, :] for j in range(ratio)], axis=-1) * window
        y = tf.signal.overlap_and_add(frames * window, hop) * mask
        return tf.signal.frame(y, n_fft, hop) * window

    def update(rebuilt, previous, mag, alpha):
        """FGLA step: momentum extrapolation, then unit-modulus phase times the target magnitude."""
        re = tf.math.real(rebuilt) - alpha * tf.math.real(previous)
        im = tf.math.imag(rebuilt) - alpha * tf.math.imag(previous)
        scale = mag * tf.math.rsqrt(re * re + im * im + 1e-30)
        return tf.complex(re * scale, im * scale)

    if xla:
        reframe = tf.function(reframe, jit_compile=True, autograph=False)
        update = tf.function(update, jit_compile=True, autograph=False)

    signature = [
        tf.TensorSpec([None, None, n_freq], tf.float32),    # magnitude (B, T, F)
        tf.TensorSpec([None, None, n_freq], tf.complex64),  # magnitude * initial phase
        tf.TensorSpec([None, None], tf.float32),            # synthesis masks (B, n_fft + hop (T-1))
        tf.TensorSpec([], tf.int32),                        # iterations
        tf.TensorSpec([], tf.float32),                      # momentum / (1 + momentum)
    ]

    @tf.function(input_signature=signature, autograph=False)  # plain graph code, no AutoGraph rewriting
    def run(mag, x0, mask, n_iter, alpha):
        def body(i, x, previous):
            frames = tf.signal.irfft(x, fft_length=[n_fft])
            rebuilt = tf.signal.rfft(reframe(frames, mask), fft_length=[n_fft])
            return i + 1, update(rebuilt, previous, mag, alpha), rebuilt

        _, x, _ = tf.while_loop(lambda i, x, p: i < n_iter, body, (tf.constant(0), x0, tf.zeros_like(x0)))
        frames = tf.signal.irfft(x, fft_length=[n_fft]) * window
        return tf.signal.overlap_and_add(frames, hop) * mask

    return run


# ----------------------------------------------------------------------------- Griffin-Lim
def griffin_lim(
    magnitude: np.ndarray,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    n_iter: int = DEFAULT_N_ITER,
    momentum: float = 0.99,
    init: str = "pghi",
    length: int | None = None,
    seed: int | None = 0,
    config: SpectrogramConfig | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    jit_compile: bool = False,
) -> np.ndarray:
    """Waveform(s) whose STFT magnitude matches ``magnitude``: PGHI start + Fast Griffin-Lim.

    Each iteration is exactly librosa's ``griffinlim`` step (istft with window-sum-square
    normalization, stft, ``angles = rebuilt - momentum / (1 + momentum) * previous``,
    normalize to unit modulus), run for a chunk of clips at once in a compiled TensorFlow graph
    (uses a GPU when TensorFlow has one). Leading and trailing frames that are exactly zero are
    skipped: they cannot change the result.

    Parameters
    ----------
    magnitude : linear STFT magnitude ``(freq, frames)`` or ``(batch, freq, frames)``, shaped like
        ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))``: ``freq = 1 + n_fft // 2``,
        values finite and >= 0. With ``config.n_mels`` set it is a *mel* magnitude
        ``(..., n_mels, frames)`` instead, inverted with :func:`mel_to_stft_magnitude` first.
    n_fft, hop_length : STFT sizes in samples; or pass ``config=`` (a
        :class:`~vae_audio.dsp.features.SpectrogramConfig`) which supplies them.
    n_iter : Fast Griffin-Lim iterations after the initial phase (>= 0; 0 returns the initial
        phase's inverse STFT, e.g. PGHI alone). Default :data:`DEFAULT_N_ITER`.
    momentum : FGLA momentum in [0, 1]; 0.99 as in librosa, 0 is plain Griffin-Lim.
    init : starting phase: ``"pghi"`` (default, Phase Gradient Heap Integration for the Hann
        window, see :func:`pghi_phase`), ``"locked"`` (PGHI's gradients integrated frame by
        frame with peak locking: about 4x faster to compute, a little worse), ``"random"``
        (uniform, from ``seed``; every clip of a batch gets
        the same seeded phase field, so results do not depend on batching) or ``"zeros"``.
    length : output length in samples; must give the same number of frames
        (``1 + length // hop_length == frames``). Default: ``config.n_samples`` when a config
        with matching ``n_frames`` is given, else ``hop_length * (frames - 1)`` (librosa's istft).
    seed : seed of the random start (``init="random"``); ``None`` draws fresh entropy.
    batch_size : most clips per compiled call (bounds memory; the result does not depend on it).
    jit_compile : XLA-compile the element-wise parts of the loop (faster per iteration on
        CPU, but compiles again for each new chunk shape).

    Returns
    -------
    float32 waveform ``(length,)`` for one clip or ``(batch, length)``, not clipped.

    Raises
    ------
    ParameterError
        Negative, NaN or infinite magnitudes, wrong rank, a frequency axis that does not match
        ``n_fft`` (or ``config.n_mels``), an inconsistent ``length``, or a bad ``n_iter``,
        ``momentum``, ``init``, ``seed`` or ``batch_size``.
    """
    n_fft, hop = _stft_params(n_fft, hop_length, config)
    n_iter = checks.whole_number(n_iter, "n_iter", 0, MAX_N_ITER)
    momentum = checks.number(momentum, "momentum", 0, 1, what="a number",
                             note=" (0 = plain Griffin-Lim; values above 1 make Fast Griffin-Lim unstable)")
    if not isinstance(init, str) or init not in INITS:
        raise ParameterError(f"init={init!r}: expected one of {', '.join(map(repr, INITS))}")
    seed = checks.seed(seed, allow_none=True)
    batch_size = checks.whole_number(batch_size, "batch_size", 1)
    if not isinstance(jit_compile, (bool, np.bool_)):
        raise ParameterError(f"jit_compile={jit_compile!r}: expected True or False")

    if config is not None and config.n_mels is not None:
        mel, single = _as_magnitude(magnitude, "magnitude", config.n_mels,
                                    f"config.n_mels = {config.n_mels} (a mel magnitude, since config.n_mels is set)")
        mag = _invert_mel(mel, mel_filterbank(sr=config.sr, n_fft=n_fft, n_mels=config.n_mels, fmin=config.fmin,
                                              fmax=config.fmax))
    else:
        mag, single = _as_magnitude(magnitude, "magnitude", n_fft // 2 + 1, f"1 + n_fft // 2 = {n_fft // 2 + 1}")
    n_clips, _, n_frames = mag.shape
    if length is None:  # the config's clip length, else librosa's istft default
        length = config.n_samples if config is not None and config.n_frames == n_frames else hop * (n_frames - 1)
    else:
        length = checks.whole_number(length, "length", 1)
        if 1 + length // hop != n_frames:
            raise ParameterError(
                f"length={length}: a waveform of {length} samples has 1 + length // hop_length = "
                f"{1 + length // hop} frames, but magnitude has {n_frames}; expected length in "
                f"{hop * (n_frames - 1)}..{hop * n_frames - 1}"
            )
    out = np.zeros((n_clips, length), dtype=np.float32)
    half = n_fft // 2

    # each clip's span of frames that are not exactly zero; silent clips stay silent
    active = mag.max(axis=1) > 0
    first = np.where(active.any(axis=1), active.argmax(axis=1), 0)
    last = np.where(active.any(axis=1), n_frames - active[:, ::-1].argmax(axis=1), 0)
    spans = last - first
    clips = [int(i) for i in np.argsort(-spans, kind="stable") if spans[i] > 0]
    if not clips or length == 0:
        return out[0] if single else out

    if init == "random":  # one seeded field for all clips, so results do not depend on batching
        field = np.exp(2j * np.pi * np.random.default_rng(seed).random((mag.shape[1], n_frames)))
    full_mask = _synthesis_mask(n_fft, hop, n_frames, length)
    padded = full_mask.size
    alpha = np.float32(momentum / (1.0 + momentum))
    n_chunks = -(-len(clips) // batch_size)
    size = -(-len(clips) // n_chunks)
    groups = [clips[i:i + size] for i in range(0, len(clips), size)]
    run = _engine(n_fft, hop, bool(jit_compile))

    def one(group: list[int]) -> int:
        """Run the loop on one chunk of clips (their active frames) and write the chunk into ``out``."""
        span = int(spans[group].max())
        width = n_fft + hop * (span - 1)
        mags = np.zeros((len(group), span, mag.shape[1]), dtype=np.float32)
        x0 = np.zeros(mags.shape, dtype=np.complex64)
        masks = np.zeros((len(group), width), dtype=np.float32)
        if init == "locked":  # computed on whole clips, so a clip's start does not depend on its batch
            angle = _locked_batch(mag[group], n_fft, hop)
            locked = np.empty(angle.shape, np.complex64)
            locked.real, locked.imag = np.cos(angle), np.sin(angle)
            locked *= mag[group].transpose(0, 2, 1)
        for j, i in enumerate(group):
            t0, t1 = int(first[i]), int(last[i])
            part = mag[i, :, t0:t1]
            mags[j, :t1 - t0] = part.T
            if init == "locked":
                x0[j, :t1 - t0] = locked[j, t0:t1]
            elif init == "random":
                x0[j, :t1 - t0] = (part * field[:, t0:t1]).T
            elif init == "pghi":
                x0[j, :t1 - t0] = (part * np.exp(1j * _pghi_batch(part[None], n_fft, hop)[0])).T
            else:  # "zeros": zero phase
                x0[j, :t1 - t0] = part.T
            seg = full_mask[t0 * hop:t0 * hop + width]
            masks[j, :seg.size] = seg
        y = run(mags, x0, masks, np.int32(n_iter), alpha).numpy()
        for j, i in enumerate(group):
            p0 = int(first[i]) * hop                     # padded-signal index of y[j, 0]
            lo, hi = max(p0, half), min(p0 + y.shape[1], half + length, padded)
            if hi > lo:
                out[i, lo - half:hi - half] = y[j, lo - p0:hi - p0]
        return len(group)

    # a bar only when there is more than one chunk of clips (and a person watching, see vae_audio.progress)
    with progress.bar(len(clips), "phase reconstruction", enabled=len(groups) > 1) as shown:
        if len(groups) > 1:
            # two chunks at a time: the start of one (NumPy/SciPy, one core) overlaps the compiled
            # loop of the other, and two loops of small FFTs keep both cores busier than one
            from concurrent.futures import ThreadPoolExecutor, as_completed

            with ThreadPoolExecutor(max_workers=2) as pool:
                for done in as_completed([pool.submit(one, group) for group in groups]):
                    shown.update(done.result())
        else:
            shown.update(one(groups[0]))
    return out[0] if single else out


# ----------------------------------------------------------------------------- mel inversion
def mel_to_stft_magnitude(
    mel_mag: np.ndarray,
    *,
    sr: int | None = None,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    n_iter: int = 50,
    config: SpectrogramConfig | None = None,
) -> np.ndarray:
    """Linear STFT magnitude ``x >= 0`` whose mel projection matches ``mel_mag``.

    Solves the non-negative least-squares problem ``min ||M x - mel_mag||^2`` subject to
    ``x >= 0`` for every frame at once, where ``M`` is the Slaney mel filterbank of
    :func:`vae_audio.dsp.features.mel_filterbank` (applied to magnitudes, as in
    :func:`~vae_audio.dsp.features.spectrogram_db`), with accelerated projected gradient (FISTA)
    started from the clipped pseudo-inverse. Batched NumPy; no TensorFlow.

    Parameters
    ----------
    mel_mag : mel magnitude ``(n_mels, frames)`` or ``(batch, n_mels, frames)``, finite, >= 0.
    sr, n_fft, fmin, fmax : filterbank parameters (Hz, samples); or ``config=`` which supplies them.
    n_iter : projected-gradient iterations (>= 0; 0 = clipped pseudo-inverse). 50 brings the
        relative mel residual ``||M x - mel|| / ||mel||`` below 1e-4 on speech.

    Returns
    -------
    float32 ``(..., 1 + n_fft // 2, frames)``, >= 0.
    """
    if config is not None:
        if not isinstance(config, SpectrogramConfig):
            raise ParameterError(f"config: expected a SpectrogramConfig, got {type(config).__name__}")
        if config.n_mels is None:
            raise ParameterError("config: has n_mels=None (a linear config); mel inversion needs a mel config")
        for name, value in (("sr", sr), ("n_fft", n_fft), ("fmax", fmax)):
            if value is not None and value != getattr(config, name):
                raise ParameterError(f"{name}={value!r} disagrees with config.{name}={getattr(config, name)!r}")
        sr, n_fft, fmin, fmax = config.sr, config.n_fft, config.fmin, config.fmax
    if sr is None or n_fft is None:
        raise ParameterError("sr and n_fft: required (pass sr= and n_fft=, or config=)")
    sr = checks.whole_number(sr, "sr", MIN_SR)
    n_fft = checks.whole_number(n_fft, "n_fft", 4)
    n_iter = checks.whole_number(n_iter, "n_iter", 0)
    arr = np.asarray(mel_mag)
    if arr.ndim not in (2, 3):
        raise ParameterError("mel_mag: expected shape (n_mels, frames) or (batch, n_mels, frames), "
                             f"got shape {arr.shape}")
    n_mels = arr.shape[-2]
    if config is not None and n_mels != config.n_mels:
        raise ParameterError(f"mel_mag: has {n_mels} mel bands but config.n_mels={config.n_mels}; "
                             f"expected shape (..., {config.n_mels}, frames)")
    if not 1 <= n_mels <= n_fft // 2 + 1:
        raise ParameterError(f"mel_mag: {n_mels} mel bands; expected 1..{n_fft // 2 + 1} for n_fft={n_fft}")
    mel, single = _as_magnitude(arr, "mel_mag", n_mels, f"n_mels = {n_mels}")
    try:
        fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=float(fmin), fmax=fmax)
    except Exception as exc:  # librosa rejects fmin/fmax
        raise ParameterError(f"mel filterbank (sr={sr}, n_fft={n_fft}, n_mels={n_mels}, fmin={fmin}, "
                             f"fmax={fmax}): {exc}") from None
    out = _invert_mel(mel, fb, n_iter)
    return out[0] if single else out


def _invert_mel(mel: np.ndarray, fb: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """FISTA for :func:`mel_to_stft_magnitude`: mel ``(batch, n_mels, frames)`` -> float32 ``(batch, freq, frames)``."""
    fb = fb.astype(np.float64)
    b, n_mels, t = mel.shape
    m = mel.transpose(1, 0, 2).reshape(n_mels, b * t).astype(np.float64)  # (n_mels, B*T)
    x = np.maximum(np.linalg.pinv(fb) @ m, 0.0)
    if n_iter:
        gram = fb.T @ fb
        rhs = fb.T @ m
        step = 1.0 / max(float(np.linalg.eigvalsh(gram)[-1]), 1e-12)
        z, t_k = x.copy(), 1.0
        for _ in range(n_iter):
            x_next = np.maximum(z - step * (gram @ z - rhs), 0.0)
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t_k * t_k))
            z = x_next + ((t_k - 1.0) / t_next) * (x_next - x)
            x, t_k = x_next, t_next
    return x.reshape(-1, b, t).transpose(1, 0, 2).astype(np.float32)


# ----------------------------------------------------------------------------- model output -> audio
def _squeeze_channel(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 4 and arr.shape[-1] == 1:  # Keras layout (batch, freq, frames, 1)
        arr = arr[..., 0]
    return arr


def magnitude_to_audio(magnitude: np.ndarray, config: SpectrogramConfig, **phase_kwargs: Any) -> np.ndarray:
    """Magnitude spectrogram(s) of ``config``'s shape -> waveform(s) of ``config.n_samples``.

    ``magnitude`` is ``(n_freq, n_frames)``, ``(batch, n_freq, n_frames)`` or the Keras layout
    ``(batch, n_freq, n_frames, 1)`` with ``(n_freq, n_frames) == config.shape``: a linear
    magnitude, or a mel magnitude when ``config.n_mels`` is set (inverted with
    :func:`mel_to_stft_magnitude`). ``phase_kwargs`` go to :func:`griffin_lim` (``n_iter``,
    ``init``, ``momentum``, ``seed``, ``batch_size``).

    Returns float32 ``(config.n_samples,)`` or ``(batch, config.n_samples)``.
    """
    if not isinstance(config, SpectrogramConfig):
        raise ParameterError(f"config: expected a SpectrogramConfig, got {type(config).__name__}")
    for key in ("n_fft", "hop_length", "length", "config"):
        if key in phase_kwargs:
            raise ParameterError(f"{key}=: set by config in magnitude_to_audio; do not pass it")
    arr = _squeeze_channel(magnitude)
    if arr.ndim in (2, 3) and arr.shape[-2:] != config.shape:
        raise ParameterError(f"magnitude: shape {arr.shape} does not match the config's spectrogram shape "
                             f"(n_freq, n_frames) = {config.shape}; expected (..., {config.n_freq}, {config.n_frames})")
    return griffin_lim(arr, config=config, length=config.n_samples, **phase_kwargs)


def db_to_audio(s_db: np.ndarray, config: SpectrogramConfig, **phase_kwargs: Any) -> np.ndarray:
    """dB spectrogram(s) (what models see) -> waveform(s): ``db_to_magnitude`` then :func:`magnitude_to_audio`.

    ``s_db`` is ``(n_freq, n_frames)``, ``(batch, n_freq, n_frames)`` or ``(batch, n_freq, n_frames, 1)``
    in dB re 1.0 as produced by :func:`vae_audio.dsp.features.spectrogram_db` (values at
    ``config.db_floor`` are silence). Un-normalize model outputs first
    (:meth:`vae_audio.dsp.features.Normalizer.unnormalize`).
    """
    if not isinstance(config, SpectrogramConfig):
        raise ParameterError(f"config: expected a SpectrogramConfig, got {type(config).__name__}")
    arr = _squeeze_channel(s_db)
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(f"s_db: expected a real dB array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or arr.shape[-2:] != config.shape:
        raise ParameterError(f"s_db: shape {arr.shape} does not match the config's spectrogram shape; expected "
                             f"({config.n_freq}, {config.n_frames}) or "
                             f"(batch, {config.n_freq}, {config.n_frames}[, 1])")
    return magnitude_to_audio(db_to_magnitude(arr, config), config, **phase_kwargs)  # db_to_magnitude refuses NaN/inf
