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
    "HOST_BY_DESIGN",
    "NOT_PORTABLE",
    "host_only_ops",
    "is_core_op",
    "non_core_ops",
    "scan",
]

# Core ops that still tie a graph to the Python process that made it.
NOT_PORTABLE = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

# Ops that run on the host by design: the container's string handling and the bytes
# of the entropy coder's strings (what crosses the host/device boundary is the uint8
# image, the file's bytes and small int tensors), and saving/restoring variables.
HOST_BY_DESIGN = frozenset({
    "DecodePaddedRaw", "DecodeRaw", "ReduceJoin", "SerializeTensor", "StringFormat",
    "StringJoin", "StringLength", "StringToHashBucketFast", "Substr",
    "MergeV2Checkpoints", "RestoreV2", "SaveV2", "ShardedFilename", "StaticRegexFullMatch",
})


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


def host_only_ops(path):
    """The ops of a SavedModel that no GPU kernel of this TensorFlow build implements.

    Reads the kernel registry (not only the op registry): an op can exist in core
    TensorFlow with CPU kernels only. Kernels registered for any device (`DEFAULT`)
    count as GPU kernels.

    Returns:
      Sorted op names; for a model whose numeric path runs on a GPU, a subset of
      `HOST_BY_DESIGN`.
    """
    from tensorflow.python.framework import kernels
    host = []
    for op in scan(path):
        devices = {k.device_type for k in kernels.get_registered_kernels_for_op(op).kernel}
        if not devices & {"GPU", "DEFAULT"}:
            host.append(op)
    return sorted(host)
