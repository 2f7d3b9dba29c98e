"""The ``vae-audio`` command: argument parsing only; every command calls into the package.

Errors raised on purpose by the package (:class:`vae_audio.errors.VaeAudioError`) are printed
as one line, ``vae-audio: error: <message>``, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import VaeAudioError

__all__ = ["main", "build_parser"]


def _cmd_features(args: argparse.Namespace) -> int:
    from .audio import load_audio, pad_or_truncate
    from .features import Normalizer, SpectrogramConfig

    cfg = SpectrogramConfig(sr=args.sr, n_fft=args.n_fft, hop_length=args.hop_length,
                            n_samples=int(round(args.duration * args.sr)))
    print(cfg.describe())
    for path in args.files:
        y, sr = load_audio(path, sr=cfg.sr)
        s_db = cfg.spectrogram_db(pad_or_truncate(y, cfg.n_samples))
        norm = Normalizer(mode="per_clip")
        x, stats = norm.normalize(s_db, return_stats=True)
        print(f"{path}: {y.size / sr:.3f} s -> spectrogram {s_db.shape}, "
              f"{float(stats['low_db']):.1f}..{float(stats['high_db']):.1f} dB -> [0, 1]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vae-audio`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(prog="vae-audio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("features", help="print the spectrogram of audio files (a preprocessing check)")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--sr", type=int, default=8000, help="sample rate in Hz (default 8000)")
    p.add_argument("--n-fft", type=int, default=256, help="FFT size in samples (default 256)")
    p.add_argument("--hop-length", type=int, default=64, help="hop in samples (default 64)")
    p.add_argument("--duration", type=float, default=0.75, help="clip length in seconds (default 0.75)")
    p.set_defaults(func=_cmd_features)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vae-audio`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except VaeAudioError as exc:
        print(f"vae-audio: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vae-audio: interrupted", file=sys.stderr)
        return 130
