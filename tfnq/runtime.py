"""TensorFlow's process settings for tfnq's programs, applied before TensorFlow loads.

TensorFlow reads these environment variables once, when it is imported, so a program
(the `tfnq` command, the scripts, the test session) calls `configure()` before its
first `import tensorflow`; importing this module does not import TensorFlow. Each
setting is a default: a value already in the environment wins.

* `TF_ENABLE_ONEDNN_OPTS=1`: oneDNN's CPU kernels for convolutions, matrix products
  and their fusions. TensorFlow 2.14 turns them on by itself only on x86 CPUs with
  AVX-512 VNNI, BF16 or AMX; elsewhere (AVX2 CPUs such as AMD Zen 3) it runs Eigen's,
  and a 768x512 `decompress` of a hyperprior takes 1.8x as long (258 ms against 143
  ms; `docs/decode_speed.md`). The only price is the last bits of float results,
  which tfnq's decoding does not depend on: every value that selects a coding table
  is computed in exact integer arithmetic (`tfnq.layers.IntegerTransform`), so files
  decode to the same symbols either way and to the same image up to the synthesis'
  float rounding.
* `TF_CPP_MIN_LOG_LEVEL`: TensorFlow's C++ log level (3: errors only; 2 keeps
  warnings), for command-line output users can read.

A program serving tfnq SavedModels (TensorFlow Serving, a user's own process) sets
the same variable in its environment: `docs/decode_speed.md`.
"""

import os
import sys

__all__ = ["DEFAULTS", "configure"]

DEFAULTS = {
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def configure(log_level="3"):
    """Sets TensorFlow's process defaults (each only where the environment has none).

    Args:
      log_level: The default `TF_CPP_MIN_LOG_LEVEL` ("3": errors only, "2": warnings
        too), or None to leave TensorFlow's logging as it is.

    Returns:
      Whether TensorFlow was still unloaded, i.e. whether the settings take effect.
    """
    settings = dict(DEFAULTS, TF_CPP_MIN_LOG_LEVEL=log_level)
    for name, value in settings.items():
        if value is not None:
            os.environ.setdefault(name, str(value))
    return "tensorflow" not in sys.modules
