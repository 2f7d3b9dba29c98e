"""The rules that derive a run's recipe from the data (vae_audio/data/rules.py): one rule for every dataset,
reading measured properties only, never a dataset's name."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vae_audio.data import rules
from vae_audio.data.inspection import ClipFacts, DataSummary
from vae_audio.resolve import resolve_config

from helpers import save_wav, sine


def _summary(peaks_by_label: dict[str, list[float]], duration: float = 0.5) -> DataSummary:
    clips = [ClipFacts(source=f"/x/{label}/{i}.wav", label=label, split="train", sr=8000, channels=1,
                       format="WAV PCM_16", duration_s=duration, peak_db=peak, rms_db=peak - 10.0)
             for label, peaks in peaks_by_label.items() for i, peak in enumerate(peaks)]
    return DataSummary.build("folder", "/x", list(peaks_by_label), clips)


def test_the_rate_is_the_files_own_capped_and_the_highest_of_mixed_rates():
    assert rules.rate_of([8000, 8000]) == (8000, "the files' own rate")
    sr, why = rules.rate_of([16000, 44100, 8000])
    assert sr == rules.SR_CAP == 22050 and "44100 Hz (of 8000, 16000, 44100 Hz), capped at 22050" in why
    assert rules.rate_of([22050, 11025])[0] == 22050


def test_the_window_covers_most_clips_rounded_and_bounded():
    lengths = [0.31] * 95 + [0.62] * 5  # 97.5th percentile: 0.62 s
    value, why = rules.window_of(lengths)
    assert value == 0.6 and "97.5 % of the clips last up to 0.62 s" in why and "95% fit in 0.6 s" in why
    assert rules.window_of([0.01, 0.02])[0] == rules.WINDOW_MIN_S
    value, why = rules.window_of([4.0, 6.0, 8.0])
    assert value == rules.WINDOW_CAP_S and "capped; longer clips are cropped at random offsets" in why


def test_levels_are_kept_relative_unless_takes_vary_within_a_label():
    # a quiet label and a loud label, each take at its label's level: one gain for the folder
    steady = _summary({"kick": [-1.0, -2.0, -1.5, -1.0], "hat": [-20.0, -21.0, -19.5, -20.5]})
    level, why = rules.level(steady)
    assert level == "folder" and "labels explain 100%" in why
    # takes recorded at levels 20 dB apart within each label, unrelated to the label: each clip to a peak
    varied = _summary({"zero": [-1.0, -25.0, -5.0, -20.0], "one": [-2.0, -24.0, -6.0, -21.0]})
    level, why = rules.level(varied)
    assert level == "peak" and "the recording level varies" in why
    # no labels: nothing tells a sound's level from a take's, the recorded levels are kept
    level, why = rules.level(_summary({"": [-1.0, -25.0, -5.0, -20.0]}))
    assert level == "folder" and "no labels" in why
    # nothing measured: each clip to a peak
    bare = DataSummary.build("folder", "/x", [], [ClipFacts("/x/a.wav", None, "train", 8000, 1, "WAV", 0.5)] * 3)
    assert rules.level(bare)[0] == "peak"


def test_stft_candidates_and_grid_layers_follow_the_rate_and_the_bins():
    assert rules.stft_candidates(16000) == [(256, 64), (512, 128), (1024, 256), (2048, 512)]
    assert rules.stft_candidates(8000) == [(128, 32), (256, 64), (512, 128), (1024, 256)]
    assert rules.default_stft(8000) == (256, 64) and rules.default_stft(22050) == (512, 128)
    options, why = rules.grid_options(513)
    assert options["strides"] == [[2, 2], [2, 2], [2, 1]] and options["filters"] == [16, 32, 64]
    assert "a code of 65 rows" in why
    options, _ = rules.grid_options(129)
    assert options["strides"] == [[2, 2], [2, 2]] and options["filters"] == [32, 64]
    for n_freq in (65, 257, 1025, 2049):  # every code within LATENT_ROWS_MAX rows
        options, _ = rules.grid_options(n_freq)
        rows = n_freq
        for s in options["strides"]:
            rows = -(-rows // s[0])
        assert rows <= rules.LATENT_ROWS_MAX and max(options["filters"]) == 64


def test_a_renamed_copy_of_a_folder_gets_the_same_settings(tmp_path):
    rng = np.random.default_rng(0)
    for label, freq, amp in (("low", 220.0, 0.8), ("high", 880.0, 0.1)):
        for i in range(12):
            y = sine(freq * (1 + 0.01 * i), 16000, 0.4 + 0.01 * i, amplitude=amp)
            save_wav(tmp_path / "drums" / label / f"{i}.wav", y + 0.001 * rng.standard_normal(len(y)), 16000)
    shutil.copytree(tmp_path / "drums", tmp_path / "fsdd_copy")
    a = resolve_config(data=str(tmp_path / "drums")).config.to_dict()
    b = resolve_config(data=str(tmp_path / "fsdd_copy")).config.to_dict()
    for config in (a, b):
        config.pop("outputs"), config["data"].pop("source")
    assert a == b
    assert a["recipe"]["sr"] == 16000 and a["recipe"]["duration"] == 0.5 and a["recipe"]["level"] == "folder"


@pytest.mark.parametrize("value", ["x", "-1"])
def test_a_bad_stft_clip_count_is_refused_in_one_line(value, monkeypatch):
    from vae_audio.errors import ConfigError
    from vae_audio.tuning import stft_clips

    monkeypatch.setenv("VAE_AUDIO_STFT_CLIPS", value)
    with pytest.raises(ConfigError, match=r"\$VAE_AUDIO_STFT_CLIPS=.*expected a whole number of clips"):
        stft_clips()
