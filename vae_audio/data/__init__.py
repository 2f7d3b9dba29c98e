"""Datasets: the built-in synth, FSDD / NSynth / folders, downloads, featurizing with its cache and shards, tf.data."""
