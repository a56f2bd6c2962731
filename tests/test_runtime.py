"""tfnq.runtime: TensorFlow's process settings, applied before it loads."""

import os
import subprocess
import sys

from tfnq import runtime

_PROBE = """
from tfnq import runtime
before = runtime.configure()
from tensorflow.python.util import _pywrap_util_port
import os
print(before, _pywrap_util_port.IsMklEnabled(), os.environ["TF_CPP_MIN_LOG_LEVEL"])
"""


def _probe(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            env=dict(clean, **env), timeout=300, check=True)
    return result.stdout.split()


def test_configure_sets_defaults_and_keeps_what_is_set(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    runtime.configure()
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # The environment's value wins.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    runtime.configure(log_level=None)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    runtime.configure(log_level=2)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


def test_tensorflow_loaded_after_configure_runs_onednn_on_any_cpu():
    # TensorFlow 2.14 turns oneDNN on by itself only on CPUs with AVX-512 VNNI/BF16 or
    # AMX; after configure() it is on everywhere, and the user can still turn it off.
    assert _probe() == ["True", "True", "3"]
    assert _probe(TF_ENABLE_ONEDNN_OPTS="0") == ["True", "False", "3"]
