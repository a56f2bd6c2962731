"""Which ops an exported SavedModel needs: every node of every function, scanned.

Stock TensorFlow Serving, TF Lite and TF.js can run only ops that core TensorFlow
registers; a SavedModel that uses one more (tfc's range-coding ops, a `py_func`) does
not load there ("Op type not registered"). `scan` reads the SavedModel proto itself,
without loading it: the nodes of the top-level graph and of every function in its
library, which includes the bodies and branches of `While`, `If` and `Case` ops and
every `tf.function` a signature calls.
"""

import collections
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

__all__ = [
    "NOT_PORTABLE",
    "is_core_op",
    "non_core_ops",
    "scan",
]

# Core ops that still tie a graph to the Python process that made it.
NOT_PORTABLE = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})


def scan(path):
    """Op type -> number of nodes, over the graph and all functions of a SavedModel.

    Args:
      path: A SavedModel folder (with `saved_model.pb`).

    Returns:
      A `collections.Counter`.
    """
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = collections.Counter()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def is_core_op(op):
    """Whether core TensorFlow registers `op` (`tf.raw_ops` lists exactly those)."""
    return hasattr(tf.raw_ops, op)


def non_core_ops(path):
    """The ops of a SavedModel that core TensorFlow lacks or that need Python.

    Returns:
      Sorted op names; empty for a model that stock TensorFlow Serving can load.
    """
    return sorted(op for op in scan(path) if not is_core_op(op) or op in NOT_PORTABLE)
