"""``report.html``: one self-contained page per run to listen to and review what a model does.

A run folder (``outputs/runs/<name>/``, holding the bundle ``model/``) gets ``report.html``,
written by ``vae-audio train`` and rebuilt by ``vae-audio evaluate`` (which first saves its
scores as ``evaluation.json`` beside it) and by ``vae-audio report --model DIR``. The page holds:

- the model, its recipe and prior, in a few lines;
- for ``n_clips`` test clips, one row of original / phase ceiling / reconstruction, each with
  its spectrogram and a player (:func:`vae_audio.ui.display.comparison_html`, the same rows the
  notebooks draw);
- samples of the learned prior, per label for a conditional model;
- an interpolation (in the prior's own latent for a grid model with a learned prior, between two
  test clips' codes otherwise);
- the loss curves (``history.json``);
- the evaluation tables with their ceiling and real-data rows (``evaluation.json``), the same
  sections ``vae-audio evaluate`` prints (:func:`vae_audio.evaluation.evaluate.table_sections`);
- a listening quiz (:mod:`vae_audio.evaluation.quiz`): up to :data:`~vae_audio.evaluation.quiz.REPORT_PAIRS`
  questions, each a test clip and a model clip (its reconstruction or a prior sample) matched in
  length and loudness, "which is real?", scored by the page after the last answer; its key is
  written beside the page as ``report.key.json`` (for ``vae-audio quiz-score``).

Everything is embedded (16-bit WAV and PNG data URIs, inline CSS and the quiz's inline
JavaScript): the page opens from ``file://`` with no network, and it is one file, replaced
atomically (together with its key). Measured sizes are in ``docs/design.md`` (a few MB for the
default runs). What is missing (no evaluation yet, no history, a dataset that cannot be loaded) is said
on the page instead of failing.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..errors import BundleError, ParameterError, VaeAudioError

__all__ = ["REPORT_FILE", "EVALUATION_FILE", "locate_run", "write_report", "render_report"]

#: The page, in the run folder.
REPORT_FILE = "report.html"
#: ``vae-audio evaluate``'s results, saved in the run folder for the page.
EVALUATION_FILE = "evaluation.json"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h4 { margin: 0.8em 0 0.3em; }
figure.clip { margin: 0; display: flex; flex-direction: column; gap: 0.2em; }
figure.clip figcaption { font-weight: 600; font-size: 0.9em; }
figure.clip audio { width: 16em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.missing { color: #8a5a00; background: #fff6e0; padding: 0.5em 0.8em; border-radius: 4px; }
.note { color: #555; font-size: 0.9em; }
dl.model { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.model dt { font-weight: 600; } dl.model dd { margin: 0; }
button { font-size: 1em; padding: 0.3em 1em; margin-top: 0.6em; }
"""

def locate_run(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(bundle folder, run folder)`` of a bundle folder or of a run folder holding ``model/``.

    The run folder is the bundle's parent when the bundle folder is called ``model`` (what
    ``vae-audio train`` writes), else the bundle folder itself. Raises :class:`BundleError`
    when neither ``path`` nor ``path/model`` holds a bundle (``config.json``).
    """
    from ..modeling.bundle import CONFIG_FILE

    p = Path(path)
    if not p.exists():
        raise BundleError(f"{p}: no such folder")
    if (p / "model" / CONFIG_FILE).is_file():  # a run folder (its own config.json is the run's configuration)
        bundle = p / "model"
    elif (p / CONFIG_FILE).is_file():
        bundle = p
    else:
        raise BundleError(f"{p}: no model bundle here (expected {CONFIG_FILE} in it or in {p / 'model'}); "
                          "train one with vae-audio train")
    return bundle, (bundle.parent if bundle.name == "model" else bundle)


def _missing(text: str) -> str:
    return f"<p class='missing'>{html.escape(text)}</p>"


def _read_json(path: Path) -> tuple[Any, str | None]:
    """``(data, None)``, or ``(None, why not)`` for a missing or unreadable file."""
    from ..fileio import read_json

    if not path.is_file():
        return None, f"{path.name} not found"
    try:
        return read_json(path), None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} cannot be read ({exc})"


# ----------------------------------------------------------------------------- sections
def _model_section(info: Mapping[str, Any], model) -> str:
    training = info.get("training") if isinstance(info.get("training"), Mapping) else {}
    run = model.run_config
    arch = (info.get("model") or {}).get("architecture") if isinstance(info.get("model"), Mapping) else None
    vae = info.get("vae") if isinstance(info.get("vae"), Mapping) else {}
    latent = model.latent_shape()
    rows = [
        ("data", run.data.source if run is not None else "?"),
        ("architecture", f"{arch or '?'}, latent {' x '.join(map(str, latent))} ({int(np.prod(latent))} numbers)"),
        ("conditional", f"on {len(model.label_names)} labels: {', '.join(model.label_names)}"
         if model.label_names else "no"),
        ("likelihood", vae.get("likelihood", "?")),
        ("epochs", training.get("epochs_run", "?")),
        ("prior", model.prior.describe() if model.prior is not None else "none (samples from N(0, I))"),
        ("postfilter", model.postfilter.describe() if model.postfilter is not None else "none"),
        ("texture", model.texture.describe() if model.texture is not None else "none"),
        ("recipe", model.recipe.describe()),
    ]
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    return f"<dl class='model'>{body}</dl>"


def _pick_test_clips(features, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the test split of up to ``n`` audible clips (distinct labels first), and the split."""
    test = features.subset("test") if np.any(features.split == "test") else features.subset("train")
    audible = np.flatnonzero(np.any(test.audio != 0, axis=1))
    rng = np.random.default_rng([seed, 11])
    order = audible[rng.permutation(len(audible))]
    first = np.zeros(len(order), dtype=bool)  # one clip per label first, then any
    first[np.unique(test.labels[order], return_index=True)[1]] = True
    return np.concatenate([order[first], order[~first]])[:n].astype(int), test


def _reconstruction_section(model, test, picks: np.ndarray, names: Sequence[str]) -> tuple[str, dict]:
    from ..modeling.generate import reconstruct_audio
    from ..ui.display import comparison_html

    labels = test.labels[picks] if model.label_names else None
    rec = reconstruct_audio(model, test.audio[picks], labels=labels, prepared=True)
    rows = []
    for j, i in enumerate(picks):
        what = f"test clip {j + 1}" + (f" ({names[int(test.labels[i])]})" if names and test.labels[i] >= 0 else "")
        rows.append(comparison_html({"original": rec["original"][j], "phase ceiling": rec["ceiling"][j],
                                     "reconstruction": rec["reconstruction"][j]}, model.config, title=what))
    intro = ("<p class='note'>Each row: a test clip never seen in training, its true spectrogram through the "
             "same phase reconstruction (the ceiling: the best any model can sound), and the model's "
             "reconstruction. One colour scale per row.</p>")
    return intro + "".join(rows), rec


def _samples_section(model, seed: int, per_label: int = 2, unconditional: int = 4) -> str:
    from ..ui.display import comparison_html

    where = model.prior.describe() if model.prior is not None else "N(0, I)"
    intro = f"<p class='note'>Drawn from the {html.escape(where)}; seed {seed}.</p>"
    if model.label_names:
        k = len(model.label_names)
        labels = np.repeat(np.arange(k, dtype=np.int32), per_label)
        audio = model.to_audio(model.generate(len(labels), labels=labels, seed=seed))
        rows = [comparison_html({f"{name} #{j + 1}": audio[c * per_label + j] for j in range(per_label)},
                                model.config, title=name) for c, name in enumerate(model.label_names)]
        return intro + "<div style='display:flex;flex-wrap:wrap;gap:0 2em'>" + "".join(rows) + "</div>"
    audio = model.to_audio(model.generate(unconditional, seed=seed))
    return intro + comparison_html({f"sample {j + 1}": y for j, y in enumerate(audio)}, model.config)


def _interpolation_section(model, test, picks: np.ndarray, steps: int = 6) -> str:
    from ..modeling.generate import interpolate, interpolate_prior
    from ..ui.display import comparison_html

    label = model.label_names[0] if model.label_names else None
    if model.fully_convolutional and model.prior is not None:
        walk = interpolate_prior(model, steps=steps, label=label, seeds=(0, 1))
        what = (f"{steps} samples along a great circle in the learned prior's own noise space (seeds 0 -> 1"
                + (f", label {label}" if label else "") + "): every point is a typical sample, played one after "
                "the other")
    elif len(picks) >= 2:
        a, b = int(picks[0]), int(picks[1])
        walk = interpolate(model, test.audio[a], test.audio[b], steps=steps,
                           label=int(test.labels[a]) if model.label_names else None, prepared=True)
        what = f"{steps} decodes on the straight line between the latent means of test clips 1 and 2"
    else:
        return _missing("no interpolation: it needs a learned prior or two test clips")
    return (f"<p class='note'>{html.escape(what)}.</p>"
            + comparison_html({f"{steps} steps": walk.reshape(-1)}, model.config))


def _history_section(history: Mapping[str, Sequence[float]] | None, why: str | None) -> str:
    from ..ui.display import figure_png, image_html, plot_history

    if not history:
        return _missing(f"no loss curves: {why or 'the history is empty'}")
    try:
        fig = plot_history(history)
    except ParameterError as exc:
        return _missing(f"no loss curves: {exc}")
    return image_html(figure_png(fig, dpi=72), "loss curves per epoch")


def _evaluation_section(evaluation: Mapping[str, Any] | None, why: str | None, bundle: Path) -> str:
    from .evaluate import table_sections

    if not evaluation:
        return _missing(f"No evaluation results yet ({why or 'none given'}): run "
                        f"vae-audio evaluate --model {bundle} to score the model; it refreshes this page.")
    try:
        sections = table_sections(evaluation)
    except (KeyError, TypeError) as exc:
        return _missing(f"the evaluation results cannot be shown (missing {exc}); run vae-audio evaluate again")
    out = []
    for section in sections:
        out.append(f"<h4>{html.escape(section.title)}</h4>")
        out.extend(f"<p class='note'>{html.escape(line)}</p>" for line in section.legend)
        if section.rows:
            head = "".join(f"<th>{html.escape(c)}</th>" for c in ("", *section.columns))
            def name_cell(name: str) -> str:  # "  ratio to ..." rows belong to the row above: indent them
                indent = " style='padding-left:2em'" if name.startswith(" ") else ""
                return f"<td{indent}>{html.escape(name.strip())}</td>"

            body = "".join("<tr>" + name_cell(name) + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                           + "</tr>" for name, cells in section.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        out.extend(f"<p class='note'>{html.escape(line)}</p>" for line in section.notes)
    return "".join(out)


def _report_quiz(model, features, problem: str | None, seed: int, n_clips: int):
    """``(quiz, None)``, or ``(None, why not)``: the report's quiz on the test split of ``features``,
    avoiding the test clips the page plays with their reconstructions when there are others."""
    from .quiz import REPORT_PAIRS, make_quiz, max_pairs

    if features is None:
        return None, problem or "no data"
    n = min(REPORT_PAIRS, max_pairs(features))
    if n < 1:
        return None, "the data has no audible clip in its test split"
    shown = np.flatnonzero(features.split == "test")[_pick_test_clips(features, n_clips, seed)[0]]
    try:
        return make_quiz(model, features, pairs=n, seed=seed, avoid=shown), None
    except VaeAudioError as exc:
        return None, str(exc)


def _quiz_section(quiz, problem: str | None) -> str:
    from ..ui.quiz import quiz_html

    if quiz is None:
        return _missing(f"no listening quiz: {problem}")
    return quiz_html(quiz, element_id="quiz", file_name=REPORT_FILE)


# ----------------------------------------------------------------------------- the page
def render_report(model, *, info: Mapping[str, Any], run_name: str, bundle: Path, features=None,
                  features_problem: str | None = None, history=None, history_problem: str | None = None,
                  evaluation=None, evaluation_problem: str | None = None, n_clips: int = 4, seed: int = 0,
                  quiz=None, quiz_problem: str | None = None) -> str:
    """The page as a string (see the module docstring); :func:`write_report` is the usual entry point.

    ``model`` is a :class:`~vae_audio.modeling.inference.TrainedModel`; ``features`` the model's data
    featurized with its recipe (its test split is played), or ``None`` with ``features_problem``
    saying why; likewise ``history`` (``history.json``) and ``evaluation`` (``evaluation.json``).
    ``quiz``: the listening quiz (:func:`vae_audio.evaluation.quiz.make_quiz`), or ``None`` with
    ``quiz_problem`` saying why; both ``None``: made here from ``features`` with ``seed``
    (:func:`write_report` makes it first, to write its key beside the page).
    """
    names = list(model.label_names)
    sections: list[tuple[str, str, str]] = [("model", "The model", _model_section(info, model))]
    picks, test = _pick_test_clips(features, n_clips, seed) if features is not None else (np.zeros(0, dtype=int), None)
    if test is not None and len(picks):
        body, _ = _reconstruction_section(model, test, picks, names or list(features.label_names))
    else:
        body = _missing(f"no test clips: {features_problem or 'the test split has no audible clip'}")
    sections.append(("reconstructions", "Test clips: original, ceiling, reconstruction", body))
    sections.append(("samples", "Generated samples" + (" per label" if names else ""), _samples_section(model, seed)))
    sections.append(("interpolation", "Interpolation",
                     _interpolation_section(model, test, picks) if test is not None or model.prior is not None
                     else _missing(f"no interpolation: {features_problem}")))
    sections.append(("losses", "Loss curves", _history_section(history, history_problem)))
    sections.append(("evaluation", "Evaluation", _evaluation_section(evaluation, evaluation_problem, bundle)))
    if quiz is None and quiz_problem is None:
        quiz, quiz_problem = _report_quiz(model, features, features_problem, seed, n_clips)
    sections.append(("listening-quiz", "Listening quiz: which is real?", _quiz_section(quiz, quiz_problem)))
    toc = " · ".join(f"<a href='#{key}'>{html.escape(title.split(':')[0])}</a>" for key, title, _ in sections)
    body = "".join(f"<section id='{key}'><h2>{html.escape(title)}</h2>{content}</section>"
                   for key, title, content in sections)
    stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(run_name)}: vae_audio report</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(run_name)}</h1><p class='note'>vae_audio report of <code>{html.escape(str(bundle))}"
            f"</code>, written {html.escape(stamp)}. Everything on this page is embedded; it needs no network.</p>"
            f"<nav>{toc}</nav>{body}</body></html>\n")


def write_report(path: str | os.PathLike, *, model=None, features=None,
                 history: Mapping[str, Sequence[float]] | None = None,
                 evaluation: Mapping[str, Any] | None = None, data: str | os.PathLike | None = None,
                 n_clips: int = 4, seed: int = 0, cache_dir: str | os.PathLike | None = "data/cache",
                 verbose: bool = False) -> Path:
    """Write (or replace, atomically) ``report.html`` in the run folder of the bundle at ``path``.

    Parameters
    ----------
    path : a bundle folder or a run folder holding ``model/`` (see :func:`locate_run`).
    model : the :class:`~vae_audio.modeling.inference.TrainedModel` already in memory (training passes it);
        default: loaded from the bundle.
    features : the data featurized with the model's recipe (training and evaluation pass theirs);
        default: loaded like ``vae-audio evaluate`` does (``data``, default the training data).
        A dataset that cannot be loaded is reported on the page.
    history, evaluation : default: ``history.json`` and ``evaluation.json`` of the run folder.
    n_clips : test clips shown with their ceilings and reconstructions (1..32).
    seed : seed of the clip choice, the samples and the quiz.

    Returns the path of the page; the quiz's key is written beside it (``report.key.json``,
    :func:`vae_audio.evaluation.quiz.key_path`), or removed when the page has no quiz. Raises
    :class:`BundleError` when ``path`` holds no bundle and :class:`ParameterError` when the run
    folder cannot be written (nothing is then written).
    """
    from ..fileio import atomic_write_files
    from .quiz import key_path, quiz_files

    bundle, run = locate_run(path)
    n_clips = checks.whole_number(n_clips, "n_clips", 1, 32)
    seed = checks.seed(seed)
    if not os.access(run, os.W_OK):
        raise ParameterError(f"{run}: cannot write {REPORT_FILE} here (the folder is not writable)")
    info, _ = _read_json(bundle / "config.json")
    if model is None:
        from ..modeling.bundle import load_model

        model = load_model(bundle)
    info = info or model.info
    features_problem = None
    if features is None:
        from .evaluate import load_features

        try:
            features, _, _ = load_features(model, data, cache_dir=cache_dir, verbose=verbose)
        except VaeAudioError as exc:
            features_problem = f"the data could not be loaded ({exc})"
    history_problem = evaluation_problem = None
    if history is None:
        history, history_problem = _read_json(run / "history.json")
    if evaluation is None:
        evaluation, evaluation_problem = _read_json(run / EVALUATION_FILE)
    quiz, quiz_problem = _report_quiz(model, features, features_problem, seed, n_clips)
    page = render_report(model, info=info, run_name=run.resolve().name, bundle=bundle, features=features,
                         features_problem=features_problem, history=history, history_problem=history_problem,
                         evaluation=evaluation, evaluation_problem=evaluation_problem, n_clips=n_clips, seed=seed,
                         quiz=quiz, quiz_problem=quiz_problem)
    target = run / REPORT_FILE
    files = quiz_files(quiz, target, page) if quiz is not None else [(target, page.encode("utf-8"))]
    try:
        atomic_write_files(files)
    except OSError as exc:
        raise ParameterError(f"{target}: cannot write the report ({exc.strerror or exc})") from None
    if quiz is None:
        key_path(target).unlink(missing_ok=True)  # a key of an earlier page's quiz would not fit this one
    return target
