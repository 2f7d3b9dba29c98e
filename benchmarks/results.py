"""One results table per dataset for docs/results.md, from a run trained with CLI defaults.

    vae-audio train [--data D] --out RUN            # /usr/bin/time -v for the wall time and memory
    vae-audio evaluate --model RUN/model --json EVAL.json
    python benchmarks/results.py --name D --run RUN --eval EVAL.json [--train-log LOG] \
        [--command "vae-audio train --data D"] [--note TEXT] [--write docs/results.md]

Prints the markdown section (what the run resolved, how long it took, and the numbers the issues ask for:
reconstructions against the phase ceiling, samples against real clips, the machine listener's rows with
its real-vs-real and known-bad calibration, diversity and copying). With ``--write`` it replaces the
section between ``<!-- results:NAME:begin -->`` and ``<!-- results:NAME:end -->`` of that file (appended
when missing). Reads only files: it trains and scores nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _wall_time(log: Path | None) -> tuple[str, str]:
    """(wall clock, peak RSS) from a ``/usr/bin/time -v`` log, or dashes."""
    if log is None or not log.is_file():
        return "–", "–"
    text = log.read_text(errors="replace")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return (wall.group(1) if wall else "–", f"{int(rss.group(1)) / 2**20:.1f} GiB" if rss else "–")


def _f(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _share(evaluation: dict, row: str) -> float | None:
    """A row of the evaluation's noise texture as a share of the ceiling's roughness (None before it existed)."""
    tex = evaluation.get("texture") or {}
    return tex[row] / tex["ceiling"] if tex.get(row) is not None and tex.get("ceiling") else None


def _level_rows(evaluation: dict) -> list[str]:
    """The levels-per-label row (none before the evaluation measured levels)."""
    levels = evaluation.get("levels")
    if not levels or not levels.get("samples"):
        return []
    tol = levels["tolerance_db"]
    rows = []
    for level, what in (("peak", "median peak"), ("rms", "median active RMS")):
        rec, smp, ceil = (levels[row][level] for row in ("reconstruction", "samples", "ceiling"))
        rows.append(f"| levels: labels whose {what} is within {tol:g} dB of the real clips' (reconstructions / "
                    f"samples) | {rec['labels_within']} / {smp['labels_within']} of {smp['labels']} | phase ceiling "
                    f"{ceil['labels_within']} of {ceil['labels']}; median gap {_f(rec['median_abs_gap_db'], 1)} / "
                    f"{_f(smp['median_abs_gap_db'], 1)} dB, ceiling {_f(ceil['median_abs_gap_db'], 1)} dB |")
    return rows


def section(name: str, run: Path, evaluation: dict, *, train_log: Path | None, command: str, commit: str,
            note: str = "") -> str:
    """The markdown of one dataset's results."""
    bundle = json.loads((run / "model" / "config.json").read_text())
    cfg, training = bundle["config"], bundle["training"]
    s, gen = evaluation["summary"], evaluation["generation"]
    wall, rss = _wall_time(train_log)
    recipe = cfg["recipe"]
    judge2 = gen.get("second_judge") or {}
    lines = [
        f"## {name}",
        "",
        "```bash",
        command,
        f"vae-audio evaluate --model {run.name}/model --json EVAL.json",
        f"python benchmarks/results.py --name {name} --run RUN --eval EVAL.json --train-log LOG",
        "```",
        "",
        f"Commit {commit}; CLI defaults only. The run resolved: {recipe['sr']} Hz, a {recipe['duration']:g} s window, "
        f"STFT {recipe['n_fft']} / {recipe['hop_length']}, level {recipe['level']}, "
        f"{training['epochs_run']} epochs (ceiling {cfg['training']['epochs']}, stopped: {training['stopped']}), "
        f"{cfg['prior']['steps']} prior steps, temperature {cfg['prior']['temperature']:g}, onset noise "
        f"{cfg['prior']['onset_noise']:g}, postfilter {'on' if cfg['postfilter']['enabled'] else 'off'}, "
        f"noise texture {'on' if cfg['postfilter'].get('texture') else 'off'}; "
        f"`vae-audio train` took {wall} (budget {cfg['training']['minutes']:g} min), peak RSS {rss}; "
        f"{evaluation['n_test']} test clips.",
        "",
        "| | value | beside it |",
        "|---|--:|---|",
        f"| reconstructions: audio SC / LSD (dB) | {_f(s['audio_sc_db'], 2)} / {_f(s['audio_lsd_db'], 2)} | "
        f"ceiling SC {_f(s['ceiling_sc_db'], 2)} |",
        f"| reconstructions: PESQ / STOI | {_f(s['pesq_nb'], 2)} / {_f(s['stoi'])} | |",
        f"| noise texture: roughness of reconstructions / samples, share of the phase ceiling's | "
        f"{_f(s.get('reconstruction_texture_ratio'), 2)} / "
        f"{_f(s.get('conditional_texture_ratio') or s.get('prior_texture_ratio'), 2)} | real test clips "
        f"{_f(_share(evaluation, 'real_test'), 2)} |",
        f"| listener: reconstructions told from originals | {_f(s['listener_reconstruction'])} | "
        f"phase ceiling {_f(s['listener_ceiling'])}, real vs real {_f(s['listener_real_vs_real'])} |",
        f"| listener: conditional samples told from real clips | {_f(s['listener_conditional'])} | "
        f"real vs real {_f(s['listener_real_vs_real'])}, known bad N(0, I) {_f(s['listener_known_bad'])} |",
        f"| judge 1 (CNN): conditional samples heard as their label | {_f(gen.get('conditional_accuracy'))} | "
        f"real test clips {_f(gen.get('real_test_accuracy'))} (ratio {_f(s['conditional_accuracy_ratio'])}) |",
        f"| judge 2 (cepstral): conditional samples heard as their label | {_f(judge2.get('conditional_accuracy'))} | "
        f"real test clips {_f(judge2.get('real_test_accuracy'))} |",
        f"| same-label similarity of samples | {_f(s['samples_within_label_similarity'])} | "
        f"real test clips {_f(s['real_within_label_similarity'])}, one sample repeated "
        f"{_f(s['repeated_within_label_similarity'])} |",
        f"| samples' similarity to their nearest training clip | {_f(s['samples_nearest_train_similarity'])} | "
        f"real test clips {_f(s['real_nearest_train_similarity'])}, training clips replayed "
        f"{_f(s['replayed_nearest_train_similarity'])} |",
        *_level_rows(evaluation),
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write(path: Path, name: str, text: str) -> None:
    """Replace (or append) the ``results:name`` section of ``path``."""
    begin, end = f"<!-- results:{name}:begin -->", f"<!-- results:{name}:end -->"
    doc = path.read_text()
    block = f"{begin}\n{text}{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the dataset's section name")
    parser.add_argument("--run", required=True, type=Path, help="the run folder (holding model/)")
    parser.add_argument("--eval", required=True, type=Path, help="vae-audio evaluate --json output")
    parser.add_argument("--train-log", type=Path, help="/usr/bin/time -v log of vae-audio train")
    parser.add_argument("--command", default=None, help="the train command (default: vae-audio train --data NAME)")
    parser.add_argument("--commit", default=None, help="default: the repository's HEAD")
    parser.add_argument("--note", default="", help="a paragraph under the table (e.g. the previous default's numbers)")
    parser.add_argument("--write", type=Path, help="replace the section in this markdown file")
    args = parser.parse_args()
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                           text=True).stdout.strip()
    text = section(args.name, args.run, json.loads(args.eval.read_text()), train_log=args.train_log,
                   command=args.command or f"vae-audio train --data {args.name}", commit=commit, note=args.note)
    print(text)
    if args.write:
        write(args.write, args.name, text)


if __name__ == "__main__":
    main()
