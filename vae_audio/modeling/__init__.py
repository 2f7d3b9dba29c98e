"""Models and priors: encoder/decoder builders and the VAE, latent priors, bundles, the inference API,
training, generation."""
