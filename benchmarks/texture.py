"""The noise texture measured: one bundle's test reconstructions without and with it, beside the ceiling.

For a trained bundle, its noise texture (or, when it has none, one fitted now the way training fits
it: ``vae_audio.training.fit_training_texture``) is switched off and on, and the test split's
reconstructions are scored through the default phase step with the definitions of ``vae-audio
evaluate``: the roughness (frame-to-frame plus bin-to-bin change of the dB spectrogram, per band and
overall) against the phase ceiling's, the machine listener (paired, with its top cues), PESQ (narrow
band) and STOI. The real clips through the phase step (the ceiling) are the calibration row. Every row
draws the grain with the same seed.

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/texture.py --model outputs/runs/fsdd-grid-cond/model [--data D] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a trained bundle")
    p.add_argument("--data", default=None, help="its data (default: the data it was trained on)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.dsp.texture import audio_roughness
    from vae_audio.evaluation.evaluate import _listening, _resolved_phase_kwargs, load_features
    from vae_audio.evaluation.listener import listener_features, paired_test
    from vae_audio.modeling.bundle import load_model
    from vae_audio.training import fit_training_texture

    model = load_model(args.model)
    features, _, _ = load_features(model, args.data)
    cfg, pk = model.config, _resolved_phase_kwargs({})
    texture, source = model.texture, "the bundle's"
    if texture is None:
        t0 = time.perf_counter()
        texture = fit_training_texture(model, features, getattr(model.run_config, "postfilter", None), seed=args.seed)
        source = f"fitted now in {time.perf_counter() - t0:.1f} s"
    print(f"{args.model}: {texture.describe()} ({source})")
    test = features.subset("test")
    test = test.select(np.any(test.audio != 0, axis=1))
    labels = test.labels.astype(np.int32) if model.label_names else None
    recon_db = model.to_db(model.reconstruct(test.x, labels))
    truth_db = model.to_db(test.x)
    real = listener_features(test.audio, cfg.sr)
    rows, ceiling_rough = {}, None
    for name, db in (("ceiling", truth_db), ("without", recon_db), ("with", texture(recon_db, seed=args.seed))):
        audio = db_to_audio(db, cfg, **pk)
        rough = audio_roughness(audio, cfg).sum(axis=1)
        ceiling_rough = rough if ceiling_rough is None else ceiling_rough
        heard = paired_test(real, audio, cfg.sr, seed=args.seed)
        quality = _listening(test.audio, audio, cfg.sr)
        rows[name] = {"roughness_ratio": float(np.nansum(rough) / np.nansum(ceiling_rough)),
                      "per_band": [round(float(v), 3) for v in rough / ceiling_rough],
                      "listener": heard["accuracy"], "cues": dict(list(heard["cues"].items())[:3]),
                      "pesq_nb": quality["pesq_nb"]["median"], "stoi": quality["stoi"]}
    print(f"{len(test)} test clips; roughness through the phase step as a share of the ceiling's")
    print(f"{'row':10s} {'roughness':>9s} {'listener':>8s} {'PESQ':>5s} {'STOI':>6s}  per band / top cues")
    for name, r in rows.items():
        print(f"{name:10s} {r['roughness_ratio']:9.3f} {r['listener']:8.3f} {r['pesq_nb'] or 0:5.2f} "
              f"{r['stoi'] or 0:6.3f}  {r['per_band']}  {r['cues']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "texture": texture.to_dict(), "rows": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
