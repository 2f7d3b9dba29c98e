"""Settings for the example notebooks, read from environment variables.

The notebooks in ``notebooks/`` call :func:`notebook_settings` first; it decides which data to
use, how long to train and where files go, and prints what it decided:

``VAE_AUDIO_DATA``
    ``synth`` (the built-in synthetic instruments), ``fsdd`` (the Free Spoken Digit Dataset)
    or a folder of audio. Unset: FSDD when :func:`vae_audio.data.datasets.find_fsdd` finds it
    (``data/fsdd`` or ``$FSDD_DIR``), otherwise the synthetic instruments.
``VAE_AUDIO_QUICK``
    ``1`` shrinks the data and the number of epochs so a notebook runs top to bottom in well
    under a minute (the tests do this). ``0`` or unset: the full run.
``VAE_AUDIO_OUTPUTS``
    Folder for the notebooks' outputs: ``.wav`` files go to ``<outputs>/samples`` and saved
    models to ``<outputs>/models``. Default: ``outputs/`` at the repository root.

Paths are resolved from the repository root (the nearest folder above the current one that
holds ``vae_audio/`` and ``notebooks/``), so a notebook run from ``notebooks/`` still writes to
the repository's ``outputs/`` and uses its ``data/cache``; outside a checkout the current
folder is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .. import checks
from ..choices import DEFAULT_BATCH_SIZES
from ..errors import ConfigError, DatasetError
from ..tfquiet import import_tensorflow_quietly  # re-exported

__all__ = ["NotebookSettings", "notebook_settings", "raw_clip", "import_tensorflow_quietly", "QUICK_CLIPS",
           "export_html"]

#: Clips used in quick mode, per dataset kind (synth: 8 notes per family).
QUICK_CLIPS: dict[str, int] = {"synth": 64, "fsdd": 200, "folder": 120}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class NotebookSettings:
    """What a notebook run uses (see :func:`notebook_settings`).

    Attributes
    ----------
    data : dataset spec for :func:`vae_audio.data.datasets.load_dataset` (``"synth"``, ``"fsdd"`` or a folder).
    description : one line saying which data and why.
    quick : quick mode (``VAE_AUDIO_QUICK=1``).
    max_clips : clips to load (``None``: all).
    epochs : training epochs.
    batch_size : clips per training step (the model's default, :data:`vae_audio.choices.DEFAULT_BATCH_SIZES`).
    prior_steps : optimizer steps of a learned prior (``None``: the package's default; a few in quick mode).
    root : repository root (or the current folder outside a checkout).
    outputs_dir : ``$VAE_AUDIO_OUTPUTS`` or ``<root>/outputs``.
    samples_dir : where the notebook writes ``.wav`` files (``<outputs_dir>/samples``).
    models_dir : where it saves model bundles (``<outputs_dir>/models``).
    cache_dir : feature cache (``<root>/data/cache``).
    """

    data: str
    description: str
    quick: bool
    max_clips: int | None
    epochs: int
    batch_size: int
    prior_steps: int | None
    root: Path
    outputs_dir: Path
    samples_dir: Path
    models_dir: Path
    cache_dir: Path

    def summary(self) -> str:
        mode = (f"quick mode (VAE_AUDIO_QUICK=1): {self.max_clips} clips, {self.epochs} epochs, "
                f"{self.prior_steps} prior steps" if self.quick
                else f"full run: {'all' if self.max_clips is None else self.max_clips} clips, {self.epochs} epochs")
        try:
            where = self.samples_dir.relative_to(self.root)  # short and machine-independent in a checkout
        except ValueError:
            where = self.samples_dir
        return "\n".join([f"Data: {self.description}", f"Mode: {mode}", f"Samples are written to {where}"])


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "vae_audio" / "__init__.py").is_file() and (folder / "notebooks").is_dir():
            return folder
    return start


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={env.get(name)!r}: expected 1 (on) or 0 (off)")


def _choose_data(env: Mapping[str, str], root: Path) -> tuple[str, str, str]:
    """(spec, kind, description) from ``VAE_AUDIO_DATA``."""
    from ..data.datasets import find_fsdd

    raw = env.get("VAE_AUDIO_DATA", "").strip()
    choice = raw.lower()
    if choice == "synth":
        return "synth", "synth", "built-in synthetic instruments (VAE_AUDIO_DATA=synth)"
    if choice == "fsdd":
        where = find_fsdd()  # raises DatasetError saying how to get it
        return "fsdd", "fsdd", f"FSDD, the Free Spoken Digit Dataset, from {where} (VAE_AUDIO_DATA=fsdd)"
    if choice:
        folder = Path(raw).expanduser()
        if not folder.is_absolute() and not folder.exists():
            folder = root / folder
        if not folder.is_dir():
            raise ConfigError(f"VAE_AUDIO_DATA={raw!r}: expected 'synth', 'fsdd' or an existing folder of audio")
        return str(folder), "folder", f"audio folder {folder} (VAE_AUDIO_DATA={raw})"
    try:
        where = find_fsdd()
    except DatasetError:
        return "synth", "synth", ("built-in synthetic instruments (VAE_AUDIO_DATA unset and FSDD not found; "
                                  "run 'vae-audio download fsdd' to use it)")
    return "fsdd", "fsdd", f"FSDD, the Free Spoken Digit Dataset, from {where} (VAE_AUDIO_DATA unset, FSDD found)"


#: epochs of a notebook's own training loop in a full run when the notebook does not say
NOTEBOOK_EPOCHS = 10


def notebook_settings(*, epochs: int | None = None, model: str = "grid", quick_epochs: int = 2,
                      quick_prior_steps: int = 20, max_clips: int | None = None,
                      env: Mapping[str, str] | None = None, verbose: bool = True,
                      quiet_tensorflow: bool = True) -> NotebookSettings:
    """Read ``VAE_AUDIO_DATA``, ``VAE_AUDIO_QUICK`` and ``VAE_AUDIO_OUTPUTS`` (see the module docstring).

    Parameters
    ----------
    epochs : epochs of a full run of the notebook's own training loop (``None``: :data:`NOTEBOOK_EPOCHS`;
        ``vae-audio train`` derives its budget from the data instead); ``quick_epochs`` in quick mode, where a
        learned prior trains for ``quick_prior_steps`` steps.
    max_clips : clips of a full run (``None``: all); quick mode uses :data:`QUICK_CLIPS`.
    env : where to read the three ``VAE_AUDIO_*`` variables (default ``os.environ``); FSDD is
        looked for by :func:`vae_audio.data.datasets.find_fsdd` (``$FSDD_DIR``, ``data/fsdd``).
    verbose : print which data, mode and output folder are used.
    quiet_tensorflow : import TensorFlow now, without its start-up chatter
        (:func:`import_tensorflow_quietly`); call this before importing Keras or ``vae_audio.modeling.models``.

    Raises :class:`ConfigError` for a bad variable and :class:`DatasetError` for
    ``VAE_AUDIO_DATA=fsdd`` when FSDD cannot be found.
    """
    for name, value in (("epochs", 1 if epochs is None else epochs), ("quick_epochs", quick_epochs),
                        ("quick_prior_steps", quick_prior_steps)):
        checks.whole_number(value, name, 1, error=ConfigError)
    env = os.environ if env is None else env
    root = _find_root(Path.cwd().resolve())
    spec, kind, description = _choose_data(env, root)
    quick = _flag(env, "VAE_AUDIO_QUICK")
    outputs = env.get("VAE_AUDIO_OUTPUTS", "").strip()
    outputs_dir = Path(outputs).expanduser().resolve() if outputs else root / "outputs"
    settings = NotebookSettings(
        data=spec, description=description, quick=quick,
        max_clips=QUICK_CLIPS[kind] if quick else max_clips,
        epochs=quick_epochs if quick else (epochs or NOTEBOOK_EPOCHS),
        batch_size=DEFAULT_BATCH_SIZES[model],
        prior_steps=quick_prior_steps if quick else None, root=root, outputs_dir=outputs_dir,
        samples_dir=outputs_dir / "samples", models_dir=outputs_dir / "models", cache_dir=root / "data" / "cache")
    if quiet_tensorflow:
        import_tensorflow_quietly()
    if verbose:
        print(settings.summary())
    return settings


def raw_clip(dataset, index: int, *, synth_seconds: float = 1.5):
    """Clip ``index`` of a dataset as it is before padding/truncation: ``(y, sr)``, float32 mono at ``config.sr``.

    File datasets: the whole file, resampled to the dataset's rate. The synthetic instruments:
    the same note rendered ``synth_seconds`` long (longer than the model's window, so that
    truncation has something to do).
    """
    from ..dsp.audio import load_audio

    cfg = dataset.config
    clip = dataset.clips[index]
    if clip.source.startswith("synth:"):
        from ..data.synth import generate_synth

        n = int(round(synth_seconds * cfg.sr))
        audio, _ = generate_synth(sr=cfg.sr, n_samples=n, seed=dataset.seed, indices=[int(clip.source.split(":")[1])])
        return audio[0], cfg.sr
    return load_audio(clip.source, sr=cfg.sr)


#: nbconvert's lab template without the two scripts it loads from a CDN (require.js, for widgets,
#: and MathJax): the notebooks use neither, and offline those requests fail with console errors.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


def export_html(notebook, path: str | os.PathLike) -> Path:
    """Write an executed notebook (a path to an ``.ipynb`` or an ``nbformat`` node) as one HTML page.

    The page is nbconvert's JupyterLab look with every output embedded (audio players, plots)
    and nothing loaded from the network, so it opens from ``file://`` offline. Written
    atomically; returns ``Path(path)``.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    from ..fileio import atomic_path

    if isinstance(notebook, (str, os.PathLike)):
        source = Path(notebook)
        try:
            notebook = nbformat.read(source, as_version=4)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{source}: cannot read the notebook ({exc})") from None
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
                            template_file="offline.html.j2")
    page, _ = exporter.from_notebook_node(notebook)
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
