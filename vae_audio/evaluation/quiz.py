"""The listening quiz: which of two clips is real? Making the pairs, writing the page, pooling listeners.

:func:`make_quiz` draws ``pairs`` held-out test clips (one per question, seeded) and pairs each
with a model clip: about half are the model's reconstruction of that clip, the others a sample of
its prior (of the clip's label for a conditional model, any sample otherwise). Each pair is
matched by :func:`match_pair` so that neither length nor level gives the answer away: both are
cut to the real clip's span (its zero padding removed), get the same fades, and are scaled to
the same RMS over their active frames (:func:`active_rms`), never past a peak of 0.99; the page
embeds both as 16-bit PCM WAV at the model's rate. Which side is real is drawn per question.

:func:`write_quiz` is ``vae-audio quiz``: the page (:func:`vae_audio.ui.quiz.quiz_page`, which
scores itself from a masked key) and ``FILE.key.json`` beside it, written together atomically.
:func:`score_answers` is ``vae-audio quiz-score``: the answers files the page downloads, scored
against the key and pooled. ``docs/quiz.md`` has the details.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..errors import DatasetError, ParameterError
from ..ui.quiz import ANSWERS_FORMAT, KEY_FORMAT, KINDS, Quiz, QuizQuestion, show_quiz, verdict, wilson_interval

__all__ = ["DEFAULT_PAIRS", "REPORT_PAIRS", "active_rms", "match_pair", "max_pairs", "make_quiz", "key_path",
           "quiz_files", "write_quiz", "read_key", "read_answers", "Tally", "ListenerScore", "QuizScores",
           "score_answers", "format_scores", "show_quiz", "wilson_interval", "verdict"]

#: Questions of ``vae-audio quiz`` by default, and of the quiz in ``report.html`` (fewer for a smaller test split).
DEFAULT_PAIRS = 20
REPORT_PAIRS = 10
#: Loudness is measured on frames of this length (s); a frame is active when its power is within
#: ``SILENCE_GATE_DB`` of the clip's loudest frame and within ``RELATIVE_GATE_DB`` of the mean power of
#: those frames (the two gates of ITU-R BS.1770 loudness, made relative so the measure scales with the clip).
FRAME_SECONDS = 0.02
SILENCE_GATE_DB = 60.0
RELATIVE_GATE_DB = 20.0
#: Neither clip of a pair peaks above this after matching (16-bit full scale is 1).
PEAK_LIMIT = 0.99
#: A run of exact zeros at least this long at either end of a real clip is padding, cut from both clips.
PAD_SECONDS = 0.01
#: Both clips fade out (and in, when cut after leading padding) over this long (half-cosine), so no cut clicks.
FADE_SECONDS = 0.01


# ----------------------------------------------------------------------------- matching a pair
def active_rms(y: np.ndarray, sr: int) -> float:
    """RMS of a mono clip ``(n_samples,)`` at ``sr`` Hz over its active frames (linear, full scale 1).

    The clip is cut into frames of :data:`FRAME_SECONDS` (the last one may be shorter); silent
    frames (more than :data:`SILENCE_GATE_DB` below the loudest) are dropped, then frames more than
    :data:`RELATIVE_GATE_DB` below the mean power of the rest. Scaling a clip scales this by the
    same factor, so two clips can be matched exactly. 0 for an all-zero clip.
    """
    y = np.asarray(y, dtype=np.float64)
    frame = max(1, int(round(FRAME_SECONDS * int(sr))))
    starts = np.arange(0, len(y), frame)
    energy = np.add.reduceat(y * y, starts) if len(y) else np.zeros(0)
    sizes = np.diff(np.append(starts, len(y)))
    power = energy / np.maximum(sizes, 1)
    if not np.any(power > 0):
        return 0.0
    loud = power >= power.max() * 10.0 ** (-SILENCE_GATE_DB / 10.0)
    active = loud & (power >= power[loud].mean() * 10.0 ** (-RELATIVE_GATE_DB / 10.0))
    return float(np.sqrt(energy[active].sum() / sizes[active].sum()))


def _content_span(y: np.ndarray, sr: int) -> tuple[int, int]:
    """``(start, end)`` of a clip without the zero padding at its ends (runs of >= :data:`PAD_SECONDS` zeros)."""
    nonzero = np.flatnonzero(y)
    if len(nonzero) == 0:
        return 0, 0
    pad = max(1, int(round(PAD_SECONDS * sr)))
    start, end = int(nonzero[0]), int(nonzero[-1]) + 1
    return (start if start >= pad else 0), (end if len(y) - end >= pad else len(y))


def match_pair(real: np.ndarray, fake: np.ndarray, sr: int, *, what: str = "the pair") -> tuple[np.ndarray, np.ndarray]:
    """Make a real clip and a model clip ``(n_samples,)`` at ``sr`` Hz indistinguishable by length and level.

    Both are cut to the real clip's span without its zero padding (the model clip at the same
    samples; zeros added if it is shorter), both fade in (only when cut after leading padding)
    and out over :data:`FADE_SECONDS`, the model clip is scaled to the real clip's
    :func:`active_rms`, and if either then peaks above :data:`PEAK_LIMIT` both are scaled down by
    the same factor. Returns ``(real, fake)`` as float32 arrays of one length, equal in active RMS.
    Raises :class:`ParameterError` naming ``what`` when either clip is silent.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 1 or fake.ndim != 1:
        raise ParameterError(f"{what}: expected two mono clips (n_samples,), got shapes {real.shape} and {fake.shape}")
    for name, y in (("real", real), ("model", fake)):
        if not np.all(np.isfinite(y)):
            raise ParameterError(f"{what}: the {name} clip has NaN or infinite samples")
    start, end = _content_span(real, sr)
    if end <= start:
        raise ParameterError(f"{what}: the real clip is silent (all zeros)")
    fake = np.pad(fake, (0, max(0, end - len(fake))))
    real, fake = real[start:end].copy(), fake[start:end].copy()
    fade = min(int(round(FADE_SECONDS * sr)), len(real) // 2)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        for y in (real, fake):
            y[-fade:] *= ramp[::-1]
            if start:
                y[:fade] *= ramp
    level_real, level_fake = active_rms(real, sr), active_rms(fake, sr)
    if level_fake == 0.0:
        raise ParameterError(f"{what}: the model's clip is silent over the real clip's span; nothing to compare")
    fake *= level_real / level_fake
    peak = max(float(np.max(np.abs(real))), float(np.max(np.abs(fake))))
    if peak > PEAK_LIMIT:
        real *= PEAK_LIMIT / peak
        fake *= PEAK_LIMIT / peak
    return real.astype(np.float32), fake.astype(np.float32)


# ----------------------------------------------------------------------------- making a quiz
def _audible_test_clips(features) -> np.ndarray:
    """Rows of ``features`` in the test split whose audio is not all zeros."""
    return np.flatnonzero((np.asarray(features.split) == "test") & np.any(features.audio != 0, axis=1))


def max_pairs(features) -> int:
    """How many questions a quiz on ``features`` can have: its audible test clips (one per question)."""
    return int(len(_audible_test_clips(features)))


def _source_id(features, row: int) -> str:
    meta = features.metadata[row] if row < len(features.metadata) else {}
    if meta.get("file"):
        return f"{features.name}:{Path(str(meta['file'])).name}"
    if meta.get("index") is not None:
        return f"{features.name}:#{meta['index']}"
    return f"{features.name}:row {row}"


def make_quiz(model, features, *, pairs: int = DEFAULT_PAIRS, seed: int = 0, avoid: Sequence[int] = (),
              phase_kwargs: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> Quiz:
    """A quiz of ``pairs`` questions on the test split of ``features`` (see the module docstring).

    ``model`` is a :class:`~vae_audio.modeling.inference.TrainedModel`; ``features`` its data
    featurized with its recipe (:func:`vae_audio.evaluation.evaluate.load_features`), whose
    test split holds at least ``pairs`` audible clips. ``seed`` decides the clips, the kinds (half
    reconstructions, half samples; an odd one either way), the sides and the samples: the same
    seed gives the same quiz. ``avoid``: rows of ``features`` the listener has already heard named
    (a page or notebook that shows those test clips with their reconstructions); they are used only
    when the other test clips are too few. The prior is sampled with a seed drawn from ``seed``, so
    its samples are not those that ``model.generate(seed=seed)`` shows elsewhere. ``phase_kwargs``
    go to the phase reconstruction; ``meta`` is recorded in the key. Returns a
    :class:`~vae_audio.ui.quiz.Quiz` whose clips are float32 ``(n_samples,)`` at ``model.config.sr``.
    Raises :class:`DatasetError` when the test split has no audible clip and
    :class:`ParameterError` when it has fewer than ``pairs``.
    """
    from ..modeling.generate import reconstruct_audio
    from ..modeling.inference import check_compatible
    from ..ui.display import wav_bytes

    pairs = checks.whole_number(pairs, "pairs", 1)
    seed = checks.seed(seed)
    check_compatible(model.config, features.config, data_name=f"the data {features.name!r}")
    rows = _audible_test_clips(features)
    if len(rows) == 0:
        raise DatasetError(f"{features.name}: no audible clip in the test split; a quiz plays held-out clips")
    if pairs > len(rows):
        raise ParameterError(f"pairs={pairs}: the test split of {features.name} has only {len(rows)} audible "
                             f"clips (one per question); ask for at most {len(rows)}")
    rng = np.random.default_rng([seed, 23])
    order = rng.permutation(rows)
    heard = np.isin(order, np.asarray(avoid, dtype=np.int64))
    picks = np.concatenate([order[~heard], order[heard]])[:pairs]
    n_samples = pairs // 2 + (int(rng.integers(2)) if pairs % 2 else 0)
    kinds = rng.permutation(np.repeat([0, 1], [pairs - n_samples, n_samples]))
    real_is_b = rng.integers(0, 2, size=pairs).astype(bool)
    sample_seed = int(rng.integers(2**31))
    phase_kwargs = dict(phase_kwargs or {})
    labels = np.asarray(features.labels)[picks]
    use_labels = bool(model.label_names)
    real = np.asarray(features.audio[picks], dtype=np.float32)
    made: list[np.ndarray] = [np.zeros(0, np.float32)] * pairs
    rec, gen = np.flatnonzero(kinds == 0), np.flatnonzero(kinds == 1)
    if len(rec):
        audio = reconstruct_audio(model, real[rec], labels=labels[rec] if use_labels else None, prepared=True,
                                  **phase_kwargs)
        for i, y in zip(rec, audio["reconstruction"]):
            made[i] = y
    if len(gen):
        spec = model.generate(len(gen), labels=labels[gen] if use_labels else None, seed=sample_seed)
        for i, y in zip(gen, model.to_audio(spec, **phase_kwargs)):
            made[i] = y
    names = list(features.label_names)
    questions, digest = [], hashlib.sha256(str(model.config.sr).encode())
    for i, row in enumerate(picks):
        what = f"quiz question {i + 1} ({_source_id(features, int(row))})"
        y_real, y_made = match_pair(real[i], made[i], model.config.sr, what=what)
        a, b = (y_made, y_real) if real_is_b[i] else (y_real, y_made)
        for y in (a, b):
            digest.update(wav_bytes(y, model.config.sr))
        questions.append(QuizQuestion(a=a, b=b, real="b" if real_is_b[i] else "a", kind=KINDS[int(kinds[i])],
                                      label=names[int(labels[i])] if names and labels[i] >= 0 else None,
                                      source=_source_id(features, int(row))))
    # the id names the clips in page order (not which is real), so answers can be matched to their quiz
    return Quiz(questions=tuple(questions), sr=int(model.config.sr), quiz_id=digest.hexdigest()[:12], seed=seed,
                meta=tuple({"data": features.name, "conditional": use_labels, **dict(meta or {})}.items()))


def key_path(quiz_path: str | os.PathLike) -> Path:
    """The key file of a quiz page: ``FILE.html`` -> ``FILE.key.json`` beside it."""
    path = Path(quiz_path)
    stem = path.name[:-5] if path.name.lower().endswith(".html") else path.name
    return path.with_name(f"{stem}.key.json")


def _key_bytes(quiz: Quiz, quiz_file: str | None) -> bytes:
    return (json.dumps(quiz.key(quiz_file), indent=2) + "\n").encode("utf-8")


def quiz_files(quiz: Quiz, page_path: str | os.PathLike, page: str) -> list[tuple[Path, bytes]]:
    """``[(page path, bytes), (key path, bytes)]``: what :func:`write_quiz` and the report write together."""
    path = Path(page_path)
    return [(path, page.encode("utf-8")), (key_path(path), _key_bytes(quiz, path.name))]


def write_quiz(model: str | os.PathLike, out: str | os.PathLike, *, data: str | os.PathLike | None = None,
               pairs: int = DEFAULT_PAIRS, seed: int = 0, cache_dir: str | os.PathLike | None = "data/cache",
               verbose: bool = False) -> tuple[Path, Path]:
    """``vae-audio quiz``: write the quiz page ``out`` and its key ``FILE.key.json`` (:func:`key_path`).

    ``model`` is a bundle folder or a run folder holding ``model/``; ``data`` the dataset whose test
    split is played (default: the model's training data, listed as in training so the test split
    is the held-out one, :func:`vae_audio.evaluation.evaluate.load_features`). ``out``'s folder is
    created if needed (checked first, made only when the files are written). Both files are
    written together atomically, or neither. Returns their paths. Bad input raises a
    :class:`~vae_audio.errors.VaeAudioError` naming it.
    """
    from ..fileio import atomic_write_files
    from ..modeling.bundle import load_model
    from ..ui.quiz import quiz_page
    from .evaluate import load_features
    from .report import locate_run

    pairs = checks.whole_number(pairs, "pairs", 1)
    seed = checks.seed(seed)
    target = Path(out)
    if target.is_dir():
        raise ParameterError(f"{target}: is a folder; --out takes the quiz page's file name, e.g. quiz.html")
    folder = next(p for p in (target.parent.absolute(), *target.parent.absolute().parents) if p.exists())
    if not folder.is_dir():  # checked before the work; the missing folders are made when the files are written
        raise ParameterError(f"{target}: cannot create its folder ({folder} is a file)")
    if not os.access(folder, os.W_OK):
        raise ParameterError(f"{target}: cannot write here ({folder} is not writable)")
    bundle, _ = locate_run(model)
    trained = load_model(bundle)
    features, data_spec, _ = load_features(trained, data, cache_dir=cache_dir, verbose=verbose)
    quiz = make_quiz(trained, features, pairs=pairs, seed=seed, meta={"model": str(bundle), "data": str(data_spec)})
    try:
        atomic_write_files(quiz_files(quiz, target, quiz_page(quiz, file_name=target.name)))
    except OSError as exc:
        raise ParameterError(f"{exc.filename or target}: cannot write the quiz ({exc.strerror or exc})") from None
    return target, key_path(target)


# ----------------------------------------------------------------------------- reading key and answers
def _read_json_file(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ParameterError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: not JSON (not UTF-8 text); expected {what}") from None
    except json.JSONDecodeError as err:
        raise ParameterError(f"{path}: not JSON ({err.msg} at line {err.lineno}); expected {what}") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected {what} (a JSON object), got a JSON {type(data).__name__}")
    return data


def _check_quiz_id(data: dict, path: Path) -> str:
    quiz_id = data.get("quiz_id")
    if not isinstance(quiz_id, str) or not quiz_id:
        raise ParameterError(f"{path}: no quiz_id in it")
    return quiz_id


def read_key(path: str | os.PathLike) -> dict:
    """A quiz key (``FILE.key.json``), checked: ``{"quiz_id", "questions": [{"real", "kind", ...}], ...}``."""
    path = Path(path)
    data = _read_json_file(path, "a quiz key (FILE.key.json)")
    if data.get("format") != KEY_FORMAT:
        raise ParameterError(f"{path}: not a vae_audio quiz key (expected \"format\": \"{KEY_FORMAT}\")")
    _check_quiz_id(data, path)
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise ParameterError(f"{path}: no questions in the key")
    for i, q in enumerate(questions):
        if not isinstance(q, dict) or q.get("real") not in ("a", "b") or q.get("kind") not in KINDS:
            raise ParameterError(f"{path}: question {i} of the key is not {{\"real\": \"a\"|\"b\", \"kind\": ...}}")
    return data


def read_answers(path: str | os.PathLike) -> dict:
    """One listener's answers (the JSON the quiz page downloads), checked.

    Returns the file's object with ``"choices"`` added: one entry per question, ``"a"``, ``"b"``
    or ``None`` (unanswered).
    """
    path = Path(path)
    data = _read_json_file(path, "quiz answers (the JSON the quiz page downloads)")
    if data.get("format") != ANSWERS_FORMAT:
        raise ParameterError(f"{path}: not vae_audio quiz answers (expected \"format\": \"{ANSWERS_FORMAT}\")")
    _check_quiz_id(data, path)
    n = data.get("questions")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"{path}: questions={n!r}, expected the quiz's number of questions")
    answers = data.get("answers")
    if not isinstance(answers, list):
        raise ParameterError(f"{path}: no list of answers in it")
    choices: list[str | None] = [None] * n
    for item in answers:
        q = item.get("question") if isinstance(item, dict) else None
        if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q < n \
                or item.get("choice") not in ("a", "b", None):
            raise ParameterError(f"{path}: answer {item!r} is not "
                                 f"{{\"question\": 0..{n - 1}, \"choice\": \"a\"|\"b\"}}")
        choices[q] = item.get("choice")
    return {**data, "choices": choices}


def _find_key(path: Path, answers: dict) -> Path:
    """The key beside the quiz file the answers name (absolute, or relative to the answers' folder or here)."""
    named = answers.get("quiz_file")
    if not isinstance(named, str) or not named:
        raise ParameterError(f"{path}: the answers name no quiz file (a notebook's quiz); pass its key with --key")
    quiz = Path(named)
    candidates = [quiz] if quiz.is_absolute() else [path.parent / quiz, quiz]
    for candidate in candidates:
        if key_path(candidate).is_file():
            return key_path(candidate)
    raise ParameterError(f"{path}: no key beside the quiz it names ({key_path(candidates[0])} not found); "
                         "pass it with --key FILE.key.json")


# ----------------------------------------------------------------------------- scores
@dataclass(frozen=True)
class Tally:
    """``k`` right out of ``n`` answered, with the 95 % Wilson interval (``None`` when ``n`` is 0)."""

    k: int
    n: int

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.k, self.n) if self.n else None


@dataclass(frozen=True)
class ListenerScore:
    """One answers file: who, how many right of those answered, by kind, and how many left unanswered."""

    file: Path
    listener: str | None
    total: Tally
    by_kind: dict[str, Tally]
    unanswered: int


@dataclass(frozen=True)
class QuizScores:
    """Every listener of one quiz, and all of them pooled (every answer counted as one trial)."""

    quiz_id: str
    key_file: Path
    n_questions: int
    listeners: list[ListenerScore]
    pooled: Tally
    by_kind: dict[str, Tally]

    def verdict(self) -> str:
        low, high = self.pooled.interval
        who = "the listeners" if len(self.listeners) > 1 else "the listener"
        return verdict(low, high, who=who)


def _tally(choices: Sequence[str | None], truth: Sequence[str], kinds: Sequence[str],
           only: str | None = None) -> Tally:
    pairs = [(c, t) for c, t, kind in zip(choices, truth, kinds) if c is not None and only in (None, kind)]
    return Tally(k=sum(c == t for c, t in pairs), n=len(pairs))


def score_answers(answer_files: Sequence[str | os.PathLike], *, key: str | os.PathLike | None = None) -> QuizScores:
    """``vae-audio quiz-score``: score answers files of one quiz against its key, per listener and pooled.

    ``key`` defaults to the key beside the quiz page the first answers name (``FILE.key.json``).
    Every file must answer the key's quiz (same quiz id): answers from different quizzes are
    refused, naming the file. Unanswered questions are left out of a listener's count.
    """
    if isinstance(answer_files, (str, os.PathLike)) or not answer_files:
        raise ParameterError("answers: give one or more answers files (the JSON the quiz page downloads)")
    paths = [Path(p) for p in answer_files]
    key_file = Path(key) if key is not None else _find_key(paths[0], read_answers(paths[0]))
    key_data = read_key(key_file)
    quiz_id = key_data["quiz_id"]
    truth = [q["real"] for q in key_data["questions"]]
    kinds = [q["kind"] for q in key_data["questions"]]
    listeners = []
    for path in paths:
        answers = read_answers(path)
        if answers["quiz_id"] != quiz_id:
            raise ParameterError(f"{path}: answers to quiz {answers['quiz_id']}, but {key_file} is the key of quiz "
                                 f"{quiz_id}; answers to different quizzes cannot be pooled")
        choices = answers["choices"]
        if len(choices) != len(truth):
            raise ParameterError(f"{path}: answers to {len(choices)} questions, but quiz {quiz_id} has {len(truth)}")
        name = answers.get("listener")
        listeners.append(ListenerScore(file=path, listener=name if isinstance(name, str) and name else None,
                                       total=_tally(choices, truth, kinds),
                                       by_kind={kind: _tally(choices, truth, kinds, kind) for kind in KINDS
                                                if kind in kinds},
                                       unanswered=sum(c is None for c in choices)))
    pooled = Tally(k=sum(s.total.k for s in listeners), n=sum(s.total.n for s in listeners))
    if not pooled.n:
        raise ParameterError(f"{paths[0]}: no question answered in any of the {len(paths)} answers files")
    by_kind = {kind: Tally(k=sum(s.by_kind[kind].k for s in listeners), n=sum(s.by_kind[kind].n for s in listeners))
               for kind in KINDS if kind in kinds}
    return QuizScores(quiz_id=quiz_id, key_file=key_file, n_questions=len(truth), listeners=listeners,
                      pooled=pooled, by_kind=by_kind)


def format_scores(scores: QuizScores) -> str:
    """The table ``vae-audio quiz-score`` prints: per listener and pooled right / answered, share, 95 % interval."""
    rows = []
    for i, s in enumerate(scores.listeners):
        note = f"({s.unanswered} unanswered)" if s.unanswered else ""
        rows.append((f"{s.listener or f'listener {i + 1}'} ({s.file.name})", s.total, note))
    many = len(scores.listeners) > 1
    rows.append((f"pooled, {len(scores.listeners)} listener{'s' if many else ''}", scores.pooled, ""))
    plural = {"reconstruction": "reconstructions", "sample": "samples"}
    rows += [(f"  {plural[kind]}", tally, "") for kind, tally in scores.by_kind.items()]
    cells = [(who, f"{t.k} / {t.n}", f"{t.k / t.n:.3f}" if t.n else "-",
              "{:.3f}-{:.3f}".format(*t.interval) if t.n else "no answers", note) for who, t, note in rows]
    header = ("listener", "right", "share", "95 % interval")
    widths = [max(len(c[j]) for c in [header, *cells]) for j in range(3)]
    lines = [f"quiz {scores.quiz_id} ({scores.n_questions} questions), key {scores.key_file}"]
    lines += ["  ".join([c[0].ljust(widths[0]), c[1].rjust(widths[1]), c[2].rjust(widths[2]), *c[3:]]).rstrip()
              for c in [(*header, ""), *cells]]
    lines.append(f"verdict, pooled (every answer counted as an independent trial):\n  {scores.verdict()}")
    return "\n".join(lines)
