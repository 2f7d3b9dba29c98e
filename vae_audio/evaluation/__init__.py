"""Evaluation: the judges (a CNN and a cepstral classifier), generation scores, listening metrics,
`vae-audio evaluate`."""
