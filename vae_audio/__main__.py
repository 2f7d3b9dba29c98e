"""``python -m vae_audio`` is the ``vae-audio`` command."""

from .cli import main

raise SystemExit(main())
