"""The identity of an exported model, carried by every file it makes.

A file's header holds its model's fingerprint, and `decompress` refuses a file of
another model: the same bits decoded by other weights, tables or arithmetic give a
wrong image, not an error.
"""

import hashlib
import json

import numpy as np

from tfnq import coding_config

__all__ = ["fingerprint"]


def fingerprint(model, config, variables):
    """A 32-bit identity of a model: class, numerics, configuration, coding configuration
    (a preset by its name), coding parameters, weights and tables.

    `model.numerics` (default 1) versions what the exported graph computes from the
    weights; a version above 1 is hashed too, so files made by an export with other
    arithmetic (which may decode differently) are refused as another model's, while
    fingerprints of version-1 models stay what they were.

    Args:
      model: A tfnq model.
      config: Its `CodingConfig` (or a preset name).
      variables: Weights and coding tables (any order: they are sorted by name).

    Returns:
      An int in [0, 2^32).
    """
    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    numerics = getattr(model, "numerics", 1)
    if numerics != 1:
        h.update(f"numerics {numerics}".encode())
    h.update(json.dumps(model.get_config(), sort_keys=True).encode())
    h.update(coding_config.get_coding_config(config).canonical().encode())
    coding = getattr(model, "coding_parameters", None)
    if coding:  # E.g. the rate a variable-rate model codes at.
        h.update(json.dumps(coding, sort_keys=True).encode())
    for v in sorted(variables, key=lambda v: v.name):
        h.update(v.name.encode())
        h.update(np.ascontiguousarray(v.numpy()).tobytes())
    return int.from_bytes(h.digest()[:4], "big")
