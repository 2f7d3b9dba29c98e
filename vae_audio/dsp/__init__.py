"""Signal processing: audio I/O, spectrograms and the preprocessing recipe, phase reconstruction, spectral metrics."""
