"""tfnq.op_scan: the ops a SavedModel needs, loop bodies and branches included."""

import os

import pytest
import tensorflow as tf
from conftest import UNQ

from tfnq import op_scan, registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFC_CODING_OPS = ["CreateRangeDecoder", "CreateRangeEncoder", "EntropyDecodeFinalize",
                  "EntropyDecodeIndex", "EntropyEncodeFinalize", "EntropyEncodeIndex"]


def test_scan_sees_inside_loops_and_branches_and_flags_python(tmp_path):
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def f(self, x):
            def body(i, v):
                v = tf.cond(v > 10.0, lambda: tf.math.sqrt(v), lambda: tf.math.cosh(v))
                return i + 1, v
            _, y = tf.while_loop(lambda i, v: i < 3, body, [0, x])
            return tf.py_function(lambda t: t * 2, [y], tf.float32)

    tf.saved_model.save(Module(), str(tmp_path))
    ops = op_scan.scan(str(tmp_path))
    assert ops["While"] == 1 or ops["StatelessWhile"] == 1
    assert ops["Sqrt"] == 1 and ops["Cosh"] == 1  # In the loop body's branches.
    assert op_scan.non_core_ops(str(tmp_path)) == ["EagerPyFunc"]


def test_a_range_coded_export_needs_tfc_coding_ops(exported):
    """tfc's range coder: custom ops that stock TensorFlow cannot load."""
    assert op_scan.non_core_ops(exported.paths[UNQ]) == TFC_CODING_OPS


@pytest.mark.parametrize("info", registry.list_models(os.path.join(REPO, "saved_models")),
                         ids=lambda m: m["name"])
def test_shipped_models_need_core_ops_only(info):
    """Coded with rANS in core TF ops: stock TensorFlow (and TF Serving) loads them."""
    assert op_scan.non_core_ops(info["path"]) == []


@pytest.mark.skipif(not tf.test.is_built_with_cuda(),
                    reason="this TensorFlow build registers no GPU kernels")
@pytest.mark.parametrize("info", registry.list_models(os.path.join(REPO, "saved_models")),
                         ids=lambda m: m["name"])
def test_shipped_models_numeric_path_has_gpu_kernels(info):
    """Every op without a GPU kernel is a string, container or checkpoint op."""
    host = op_scan.host_only_ops(info["path"])
    assert set(host) <= op_scan.HOST_BY_DESIGN, sorted(set(host) - op_scan.HOST_BY_DESIGN)
    assert "DecodeRaw" in host  # the coder's bytes, read on the host
