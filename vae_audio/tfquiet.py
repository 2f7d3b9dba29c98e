"""Import TensorFlow without its C++ start-up chatter (absl, oneDNN, CUDA probing lines).

Used by the command line (so an error is the only line on stderr) and by the notebooks (so
cells do not fill with start-up noise). ``TF_CPP_MIN_LOG_LEVEL`` cannot silence these lines,
because some are printed before absl's logging is initialised.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["TF_NOISE", "import_tensorflow_quietly"]

#: substrings of the start-up lines that are dropped; anything else is passed on
TF_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
            "Could not find cuda drivers", "failed call to cuInit", "Unable to register cu",
            "cpu_feature_guard", "rebuild TensorFlow with the appropriate compiler flags")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras (and look for devices) without their C++ start-up chatter.

    stderr is captured at the file-descriptor level meanwhile (in a notebook kernel these lines
    would otherwise land in the cell's output); every captured line except :data:`TF_NOISE` is
    passed on. Does nothing if TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded use): nothing to capture
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if line.strip() and not any(noise in line for noise in TF_NOISE)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
