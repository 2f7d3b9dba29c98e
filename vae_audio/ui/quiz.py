"""The listening quiz as self-contained HTML: "which of A and B is the real clip?", scored by the page.

:class:`Quiz` holds the questions (pairs of clips already matched in length and loudness, see
:func:`vae_audio.evaluation.quiz.make_quiz`, which makes them from a model); this module only
draws and scores them. :func:`quiz_html` is one fragment (players, buttons, a score box, inline
CSS and JavaScript) used alike by ``vae-audio quiz`` (:func:`quiz_page`), ``report.html`` and the
notebooks (:func:`show_quiz`). The contract the tests click through: the quiz is the element
``#quiz`` (or the ``element_id`` given), each question an element with ``data-quiz-question``
(its index) holding two ``<audio>`` players and the buttons ``[data-choice="a"]`` and
``[data-choice="b"]``, and the score appears in ``#quiz-score`` (``#<element_id>-score``).

The key is not in the page as text, attribute or literal: each question's bit (1 when B is
the real clip) is XOR-ed with the next number of a mulberry32 stream (:func:`mulberry32`, the
same generator in Python and in the page's script) whose seed is derived from the quiz id, and
only the masked 32-bit words and the seed are embedded. The page unmasks them when the last
question is answered. This keeps the answer out of sight (view-source, search, a scraper); it
is not cryptography: everything the page needs to score itself is in it.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["KINDS", "Z95", "KEY_FORMAT", "ANSWERS_FORMAT", "VERDICTS", "QuizQuestion", "Quiz", "wilson_interval",
           "verdict", "mulberry32", "quiz_html", "quiz_page", "show_quiz"]

#: What the model clip of a question is: its reconstruction of the real clip, or a sample of its prior.
KINDS = ("reconstruction", "sample")
#: z of a two-sided 95 % interval (the normal quantile of 0.975).
Z95 = 1.959963984540054
#: The ``format`` fields of the key and answers JSON files.
KEY_FORMAT = "vae_audio.quiz.key"
ANSWERS_FORMAT = "vae_audio.quiz.answers"
_PLURAL = {"reconstruction": "reconstructions", "sample": "samples"}
_OTHER = {"reconstruction": "reconstruction of it", "sample": "sample from its prior"}


@dataclass(frozen=True)
class QuizQuestion:
    """One question: clips ``a`` and ``b`` (float32 ``(n_samples,)`` at the quiz's rate, equal lengths), one real.

    ``real`` is ``"a"`` or ``"b"``; ``kind`` one of :data:`KINDS`; ``label`` the real clip's class
    name (``None`` when unlabelled); ``source`` an id of the real clip (dataset and file or index).
    """

    a: np.ndarray
    b: np.ndarray
    real: str
    kind: str
    label: str | None
    source: str

    def __post_init__(self):
        if self.real not in ("a", "b"):
            raise ParameterError(f"real={self.real!r}: expected 'a' or 'b'")
        if self.kind not in KINDS:
            raise ParameterError(f"kind={self.kind!r}: expected one of {', '.join(map(repr, KINDS))}")
        if np.ndim(self.a) != 1 or np.shape(self.a) != np.shape(self.b) or len(self.a) == 0:
            raise ParameterError(f"a, b: expected two mono clips of one length, got shapes {np.shape(self.a)} "
                                 f"and {np.shape(self.b)}")


@dataclass(frozen=True)
class Quiz:
    """The questions of one quiz, at ``sr`` Hz, identified by ``quiz_id`` (12 hex digits).

    ``seed`` is the seed it was made with; ``meta`` what the key file records about where the
    clips came from (model, data). :meth:`key` is the answer sheet (``FILE.key.json``).
    """

    questions: tuple[QuizQuestion, ...]
    sr: int
    quiz_id: str
    seed: int = 0
    meta: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if not self.questions:
            raise ParameterError("questions: a quiz needs at least one question")

    def __len__(self) -> int:
        return len(self.questions)

    def key(self, quiz_file: str | None = None) -> dict[str, Any]:
        """The key as a JSON-ready dict: quiz id, and per question which side is real, kind, label, source."""
        return {"format": KEY_FORMAT, "version": 1, "quiz_id": self.quiz_id, "quiz_file": quiz_file,
                "seed": self.seed, "sr": self.sr, **dict(self.meta),
                "questions": [{"question": i, "real": q.real, "kind": q.kind, "label": q.label, "source": q.source,
                               "seconds": round(len(q.a) / self.sr, 4)} for i, q in enumerate(self.questions)]}


# ----------------------------------------------------------------------------- scoring
def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: ``k`` right out of ``n`` -> ``(low, high)`` in [0, 1].

    The default ``z`` gives the 95 % interval. The page's script computes the same formula in the
    same order, so both print the same digits.
    """
    if isinstance(k, bool) or isinstance(n, bool) or not isinstance(k, (int, np.integer)) \
            or not isinstance(n, (int, np.integer)) or n < 1 or not 0 <= k <= n:
        raise ParameterError(f"k={k!r}, n={n!r}: expected whole numbers with 0 <= k <= n and n >= 1")
    p, z2 = k / n, z * z
    d = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


#: The verdicts against chance (a listener who guesses is right half the time); ``{who}`` is who answered.
VERDICTS = {
    "better": "better than chance: the whole interval is above 0.5, so {who} told them apart",
    "chance": "no better than chance: the interval includes 0.5, so guessing could give this score "
              "(it does not show that the clips cannot be told apart; more questions narrow the interval)",
    "worse": "worse than chance: the whole interval is below 0.5, so {who} took the model's clip for the "
             "real one more often than guessing would",
}


def verdict(low: float, high: float, who: str = "you") -> str:
    """The plain verdict against chance (0.5) of a 95 % interval ``(low, high)``: one of :data:`VERDICTS`."""
    return VERDICTS["better" if low > 0.5 else "worse" if high < 0.5 else "chance"].format(who=who)


def mulberry32(seed: int, n: int) -> list[int]:
    """The first ``n`` outputs (unsigned 32-bit) of mulberry32 from ``seed``, exactly as the page's script."""
    mask = 0xFFFFFFFF
    a, out = int(seed) & mask, []
    for _ in range(int(n)):
        a = (a + 0x6D2B79F5) & mask
        t = ((a ^ (a >> 15)) * (1 | a)) & mask
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & mask)) & mask) ^ t
        out.append((t ^ (t >> 14)) & mask)
    return out


def _masked_key(quiz: Quiz) -> tuple[int, list[int]]:
    """``(seed, words)``: the key's bits (1 = B is real) XOR-ed into a mulberry32 stream seeded from the id."""
    seed = int.from_bytes(hashlib.sha256(f"vae_audio.quiz:{quiz.quiz_id}:{quiz.seed}".encode()).digest()[:4], "big")
    stream = mulberry32(seed, len(quiz))
    return seed, [r ^ (q.real == "b") for r, q in zip(stream, quiz.questions)]


# ----------------------------------------------------------------------------- HTML
_STYLE = """
.vae-quiz { font-family: system-ui, sans-serif; max-width: 60em; }
.vae-quiz ol { list-style: none; padding: 0; margin: 0.5em 0; }
.vae-quiz [data-quiz-question] { border: 2px solid #e2e2e2; border-radius: 6px; padding: 0.4em 0.9em 0.7em;
  margin: 0.6em 0; outline: none; }
.vae-quiz [data-quiz-question].vae-quiz-current { border-color: #2a6fdb; box-shadow: 0 0 0 3px #2a6fdb33; }
.vae-quiz [data-quiz-question].vae-quiz-right { border-color: #2e8b57; }
.vae-quiz [data-quiz-question].vae-quiz-wrong { border-color: #c0392b; }
.vae-quiz h4 { margin: 0.3em 0; font-size: 1em; }
.vae-quiz .vae-quiz-pair { display: flex; flex-wrap: wrap; gap: 1.5em; }
.vae-quiz figure { margin: 0; display: flex; flex-direction: column; gap: 0.3em; }
.vae-quiz figcaption { font-weight: 600; }
.vae-quiz audio { width: 16em; }
.vae-quiz button { font-size: 1em; padding: 0.25em 0.9em; cursor: pointer; }
.vae-quiz button[aria-pressed='true'] { background: #2a6fdb; color: #fff; border-color: #2a6fdb; }
.vae-quiz .vae-quiz-next { margin-top: 0.5em; }
.vae-quiz .vae-quiz-note { color: #555; font-size: 0.9em; }
.vae-quiz .vae-quiz-nojs { color: #8a5a00; background: #fff6e0; padding: 0.4em 0.8em; }
.vae-quiz .vae-quiz-score { border-left: 4px solid #2a6fdb; padding: 0.2em 0.9em; margin: 0.8em 0; }
.vae-quiz .vae-quiz-score p { margin: 0.3em 0; }
"""

# The page's script: answers, keys, the score once every question is answered, the answers as a
# JSON download. Finds its quiz from its own <script> element (or by id: Jupyter may run it
# detached), so a quiz shown twice on one page works twice.
_SCRIPT = r"""
(function () {
  'use strict';
  var me = document.currentScript;
  var root = (me && me.closest && me.closest('.vae-quiz')) || document.getElementById(__ROOT__);
  if (!root || root.getAttribute('data-ready')) { return; }
  root.setAttribute('data-ready', '1');
  var cfg = JSON.parse(root.querySelector('script.vae-quiz-data').textContent);
  var qs = [].slice.call(root.querySelectorAll('[data-quiz-question]'));
  var n = qs.length, cur = 0, done = false, started = null;
  var answers = qs.map(function () { return null; }), times = answers.slice();
  var progress = root.querySelector('.vae-quiz-progress'), box = root.querySelector('.vae-quiz-score');
  var nojs = root.querySelector('.vae-quiz-nojs');
  if (nojs) { nojs.parentNode.removeChild(nojs); }
  function stream(a) {  // mulberry32, as vae_audio.ui.quiz.mulberry32
    return function () {
      a = (a + 0x6D2B79F5) | 0;
      var t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (t ^ (t >>> 14)) >>> 0;
    };
  }
  function stamp() { return new Date().toISOString(); }
  function index(q) { return +q.getAttribute('data-quiz-question'); }
  function select(i, focus) {
    cur = i;
    qs.forEach(function (q, j) {
      q.classList.toggle('vae-quiz-current', j === i);
      if (j !== i) { [].forEach.call(q.querySelectorAll('audio'), function (a) { a.pause(); }); }
    });
    if (focus) { qs[i].focus(); }
  }
  function answer(i, choice) {
    if (done) { return; }
    started = started || stamp();
    answers[i] = choice;
    times[i] = stamp();
    [].forEach.call(qs[i].querySelectorAll('[data-choice]'), function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-choice') === choice));
    });
    var left = answers.filter(function (c) { return c === null; }).length;
    progress.textContent = (n - left) + ' of ' + n + ' answered';
    if (!left) { finish(); }
  }
  function advance() {
    if (done) { return; }
    var j = cur + 1 < n ? cur + 1 : answers.indexOf(null);
    select(j < 0 ? cur : j, true);
  }
  function wilson(k, m) {  // as vae_audio.ui.quiz.wilson_interval
    var z = cfg.z, z2 = z * z, p = k / m, d = 1 + z2 / m;
    var c = (p + z2 / (2 * m)) / d, h = z * Math.sqrt(p * (1 - p) / m + z2 / (4 * m * m)) / d;
    return [Math.max(0, c - h), Math.min(1, c + h)];
  }
  function finish() {
    done = true;
    var mask = stream(cfg.s), k = 0, by = {};
    qs.forEach(function (q, i) {
      var real = ((cfg.w[i] ^ mask()) & 1) ? 'b' : 'a', ok = answers[i] === real, kind = cfg.kinds[i];
      k += ok ? 1 : 0;
      by[kind] = by[kind] || [0, 0];
      by[kind][0] += ok ? 1 : 0;
      by[kind][1] += 1;
      q.classList.add(ok ? 'vae-quiz-right' : 'vae-quiz-wrong');
      [].forEach.call(q.querySelectorAll('button'), function (b) { b.disabled = true; });
      var out = q.querySelector('.vae-quiz-result');
      out.textContent = (ok ? 'Right: ' : 'Wrong: ') + real.toUpperCase() + ' was the real clip'
        + (cfg.labels[i] ? ' (' + cfg.labels[i] + ')' : '') + ', the other the model\u2019s ' + cfg.other[kind] + '.';
      out.hidden = false;
    });
    var ci = wilson(k, n);
    var say = ci[0] > 0.5 ? cfg.verdicts.better : (ci[1] < 0.5 ? cfg.verdicts.worse : cfg.verdicts.chance);
    var kinds = cfg.order.filter(function (c) { return by[c]; }).map(function (c) {
      return cfg.plural[c] + ' ' + by[c][0] + ' / ' + by[c][1];
    });
    box.querySelector('.vae-quiz-total').textContent = k + ' / ' + n + ' right (' + Math.round(100 * k / n)
      + ' %); 95 % interval (Wilson) ' + ci[0].toFixed(3) + ' \u2013 ' + ci[1].toFixed(3);
    box.querySelector('.vae-quiz-verdict').textContent = say.charAt(0).toUpperCase() + say.slice(1) + '.';
    box.querySelector('.vae-quiz-kinds').textContent = 'By kind: ' + kinds.join(', ') + '.';
    box.setAttribute('data-k', k);
    box.setAttribute('data-n', n);
    box.setAttribute('data-low', ci[0]);
    box.setAttribute('data-high', ci[1]);
    box.hidden = false;
    box.focus();
  }
  function where() {  // the quiz file, for quiz-score to find the key beside it
    if (cfg.file === null || location.protocol !== 'file:') { return cfg.file; }
    var p = decodeURIComponent(location.pathname);
    return /^\/[A-Za-z]:\//.test(p) ? p.slice(1) : p;
  }
  function download() {
    var name = root.querySelector('.vae-quiz-name').value.trim();
    var data = {format: cfg.format, version: 1, quiz_id: cfg.id, quiz_file: where(), listener: name || null,
      questions: n, started: started, saved: stamp(),
      answers: answers.map(function (c, i) { return {question: i, choice: c, time: times[i]}; })};
    var url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], {type: 'application/json'}));
    var a = document.createElement('a');
    a.href = url;
    a.download = 'answers-' + cfg.id + (name ? '-' + name.replace(/[^A-Za-z0-9_-]+/g, '_') : '') + '.json';
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.parentNode.removeChild(a); }, 0);
  }
  root.addEventListener('click', function (e) {
    if (e.target.closest('.vae-quiz-download')) { download(); return; }
    var q = e.target.closest('[data-quiz-question]');
    if (!q) { return; }
    var choice = e.target.closest('[data-choice]');
    if (index(q) !== cur) { select(index(q), false); }
    if (choice) {
      answer(index(q), choice.getAttribute('data-choice'));
      if (!done) { q.focus(); }
    } else if (e.target.closest('.vae-quiz-next')) {
      advance();
    }
  });
  root.addEventListener('play', function (e) {  // one clip at a time; playing one makes its question current
    [].forEach.call(root.querySelectorAll('audio'), function (a) { if (a !== e.target) { a.pause(); } });
    var q = e.target.closest('[data-quiz-question]');
    if (q && index(q) !== cur) { select(index(q), false); }
  }, true);
  root.addEventListener('keydown', function (e) {
    var t = e.target, tag = t.tagName, key = e.key;
    if (e.ctrlKey || e.metaKey || e.altKey || tag === 'INPUT' || tag === 'TEXTAREA' || t.isContentEditable) {
      return;
    }
    if (key === 'a' || key === 'A' || key === 'b' || key === 'B') {
      answer(cur, key.toLowerCase());
    } else if (key === 'n' || key === 'N' || (key === 'ArrowRight' && tag !== 'AUDIO')
               || (key === 'Enter' && tag !== 'BUTTON' && tag !== 'AUDIO')) {
      advance();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();  // keep the keys from a notebook's own shortcuts
  });
  select(0, cfg.autofocus);
})();
"""


def _json_for_script(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</``)."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def quiz_html(quiz: Quiz, *, element_id: str = "quiz", file_name: str | None = None,
              autofocus: bool = False) -> str:
    """The quiz as one self-contained HTML fragment (players, buttons, score box, CSS and script).

    ``element_id`` is the quiz element's id (the score box's is ``<element_id>-score``); give each
    quiz on a page its own. ``file_name`` is the quiz file the answers name, so ``vae-audio
    quiz-score`` finds the key beside it (opened from ``file://`` the page names its own path
    instead); ``None`` for a quiz with no key file (a notebook's). ``autofocus`` focuses the first
    question on load (a page that is only the quiz), so the keys work at once.
    """
    from .display import audio_html

    if not isinstance(quiz, Quiz):
        raise ParameterError(f"quiz: expected a Quiz, got {type(quiz).__name__}")
    if not isinstance(element_id, str) or not element_id.replace("-", "").replace("_", "").isalnum() \
            or not element_id[:1].isalpha():
        raise ParameterError(f"element_id={element_id!r}: expected a letter then letters, digits, '-' or '_'")
    seed, words = _masked_key(quiz)
    n = len(quiz)
    config = {"id": quiz.quiz_id, "format": ANSWERS_FORMAT, "file": file_name, "autofocus": bool(autofocus),
              "z": Z95, "s": seed, "w": words, "kinds": [q.kind for q in quiz.questions],
              "labels": [q.label for q in quiz.questions], "order": list(KINDS), "plural": _PLURAL,
              "other": _OTHER, "verdicts": {k: v.format(who="you") for k, v in VERDICTS.items()}}
    items = []
    for i, q in enumerate(quiz.questions):
        sides = "".join(f"<figure><figcaption>{side.upper()}</figcaption>{audio_html(y, quiz.sr)}"
                        f"<button type='button' data-choice='{side}' aria-pressed='false'>{side.upper()} is real"
                        "</button></figure>" for side, y in (("a", q.a), ("b", q.b)))
        items.append(f"<li data-quiz-question='{i}' tabindex='-1'><h4>Question {i + 1} of {n}</h4>"
                     f"<div class='vae-quiz-pair'>{sides}</div>"
                     "<button type='button' class='vae-quiz-next'>Next \u2192</button>"
                     "<p class='vae-quiz-result' hidden></p></li>")
    seconds = sorted({round(len(q.a) / quiz.sr, 2) for q in quiz.questions})
    length = f"{seconds[0]:g} s" if len(seconds) == 1 else f"{seconds[0]:g} to {seconds[-1]:g} s"
    same_label = " (of the same label)" if dict(quiz.meta).get("conditional") else ""
    intro = (f"{n} questions. In each, one of A and B is a real clip from the test set (never used in training); "
             "the other was made by the model: its reconstruction of that clip, or a sample from its prior"
             f"{same_label}. The two are cut to the same length ({length}) and play at the same loudness. Which "
             "one is real? Keys: A or B answers the highlighted question; N, Enter or \u2192 goes to the next. "
             "The score appears after the last answer.")
    root = html.escape(element_id, quote=True)
    return (f"<div class='vae-quiz' id='{root}' tabindex='-1' data-quiz-id='{quiz.quiz_id}' "
            "data-lm-suppress-shortcuts='true' data-p-suppress-shortcuts='true'>"
            f"<style>{_STYLE}</style>"
            f"<p class='vae-quiz-note'>{html.escape(intro)}</p>"
            "<p class='vae-quiz-nojs'>This quiz needs JavaScript to score itself. In Jupyter, trust the notebook "
            "(or run the cell again); on GitHub, open the notebook in Jupyter.</p>"
            "<p><label>Your name (optional, saved with your answers): <input type='text' class='vae-quiz-name' "
            "size='24'></label></p>"
            f"<ol>{''.join(items)}</ol>"
            f"<p class='vae-quiz-progress vae-quiz-note' aria-live='polite'>0 of {n} answered</p>"
            f"<div class='vae-quiz-score' id='{root}-score' tabindex='-1' aria-live='polite' hidden>"
            "<p class='vae-quiz-total'></p><p class='vae-quiz-verdict'></p><p class='vae-quiz-kinds'></p></div>"
            "<p><button type='button' class='vae-quiz-download'>Download answers (JSON)</button> "
            f"<span class='vae-quiz-note'>quiz {quiz.quiz_id}: pool listeners with vae-audio quiz-score</span></p>"
            f"<script type='application/json' class='vae-quiz-data'>{_json_for_script(config)}</script>"
            f"<script>{_SCRIPT.replace('__ROOT__', json.dumps(element_id))}</script></div>")


def quiz_page(quiz: Quiz, *, file_name: str | None = None, title: str = "Which is real? A listening quiz") -> str:
    """A whole HTML document holding only the quiz (what ``vae-audio quiz`` writes); opens from ``file://``."""
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>body {{ margin: 1.5em auto; max-width: 62em; "
            "padding: 0 1em; color: #222; }</style></head><body>"
            f"<h1 style='font-family: system-ui, sans-serif; font-size: 1.4em'>{html.escape(title)}</h1>"
            f"{quiz_html(quiz, file_name=file_name, autofocus=True)}</body></html>\n")


def show_quiz(quiz: Quiz) -> None:
    """Show the quiz in a notebook (an ``IPython.display.HTML`` of :func:`quiz_html`).

    Each display gets its own element id (``quiz-<quiz id>-<random>``), so showing a quiz twice
    gives two independent quizzes. Its script runs in Jupyter (classic and Lab) when the notebook
    is trusted; answers name no quiz file (score them with ``vae-audio quiz-score --key``).
    """
    import secrets

    from IPython.display import HTML, display

    display(HTML(quiz_html(quiz, element_id=f"quiz-{quiz.quiz_id}-{secrets.token_hex(4)}")))

