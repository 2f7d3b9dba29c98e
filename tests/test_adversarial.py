"""The optional patch discriminator: off before its start step, on after, resumable, not in the bundle."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio.errors import ConfigError

SMALL = dict(sr=8000, n_fft=256, hop_length=128, duration=0.5)


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def test_the_discriminator_is_off_before_its_start_and_on_after():
    import keras
    import tensorflow as tf

    from vae_audio import models
    from vae_audio.modeling.adversarial import AdversarialVAE, build_patch_discriminator

    shape = (33, 16)
    kw = dict(architecture="grid", latent_dim=4, filters=[8, 8])
    disc = build_patch_discriminator(shape[0], filters=(8, 8))
    vae = AdversarialVAE(models.build_encoder(shape, **kw), models.build_decoder(shape, **kw), discriminator=disc,
                         adversarial_start_step=2, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).random((8, *shape, 1), dtype=np.float32)
    data = tf.data.Dataset.from_tensors({"spectrogram": x}).repeat()
    before = _weights(disc)
    logs = vae.fit(data, epochs=1, steps_per_epoch=2, verbose=0).history
    assert logs["adversarial_weight"][-1] == 0.0  # steps 0 and 1: off
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(disc)))  # the critic did not move
    logs = vae.fit(data, epochs=1, steps_per_epoch=3, verbose=0).history
    assert logs["adversarial_weight"][-1] > 0 and np.isfinite(logs["discriminator_loss"][-1])
    assert not all(np.array_equal(a, b) for a, b in zip(before, _weights(disc)))
    assert np.isfinite(logs["loss"][-1]) and logs["feature_matching"][-1] > 0
    assert {id(v) for v in vae.generator_variables}.isdisjoint({id(v) for v in disc.trainable_variables})
    assert len(vae.generator_variables) == len(vae.encoder.trainable_variables) + len(vae.decoder.trainable_variables)


def test_training_with_it_resumes_and_the_bundle_holds_no_discriminator(tmp_path):
    from vae_audio.modeling.bundle import load_model
    from vae_audio.training import TrainSettings, train

    settings = TrainSettings(data="synth", max_clips=40, batch_size=16, epochs=2, adversarial_from=2,
                             prior_model="none", n_samples_out=0, out=str(tmp_path / "run"), verbose=0, **SMALL)
    first = train(settings)
    assert first.history["adversarial_weight"][0] == 0.0 and first.history["adversarial_weight"][1] > 0
    import dataclasses

    again = train(dataclasses.replace(settings, epochs=3), resume=True)  # both optimizers restored
    assert again.epochs_run == 3 and len(again.history["discriminator_loss"]) == 3
    model = load_model(again.model_dir)
    assert sorted(p.name for p in again.model_dir.iterdir()) == ["config.json", "decoder.keras", "encoder.keras"]
    vae = model.info["vae"]
    assert vae["adversarial_start_step"] == vae["steps_trained"] // 3 > 0  # on from the 2nd of 3 epochs
    with pytest.raises(ConfigError, match="different \\['adversarial_from'\\]"):
        train(dataclasses.replace(settings, epochs=4, adversarial_from=3), resume=True)


def test_bad_settings_are_refused_in_one_line(capsys, tmp_path):
    from vae_audio import cli
    from vae_audio.training import TrainSettings

    with pytest.raises(ConfigError, match="adversarial_from=0"):
        TrainSettings(adversarial_from=0)
    with pytest.raises(ConfigError, match="default strategy only, not 'mirrored'"):
        TrainSettings(adversarial_from=2, strategy="mirrored")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--adversarial-from", "0", "--out", str(tmp_path / "x")])
    code, err = exit_info.value.code, capsys.readouterr().err
    assert code == 2 and "--adversarial-from" in err and err.count("\n") == 1
