"""Where an exported tfnq model keeps what, and the errors of finding one.

An export is a folder laid out for TensorFlow Serving, `<model>/<version>/`, holding
a SavedModel and its metadata in `assets.extra/tfnq.json` (architecture, coding
configuration, fingerprint, configuration, training and measured results). Nothing
here needs TensorFlow: the `tfnq` command and `tfnq.registry` find models without it.
"""

import json
import os

__all__ = [
    "CodecError",
    "METADATA_PATH",
    "read_metadata",
    "version_dir",
]

METADATA_PATH = os.path.join("assets.extra", "tfnq.json")


class CodecError(ValueError):
    """A model, file or image that a codec cannot process (one-line message)."""


def version_dir(path):
    """Accepts a version folder or a model folder (picks its highest version)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = [d for d in os.listdir(path) if d.isdigit()] if os.path.isdir(path) else []
    if not versions:
        raise CodecError(f"tfnq: no SavedModel found at {path}")
    return os.path.join(path, max(versions, key=int))


def read_metadata(path):
    """The metadata of an export (model or version folder), with its `path` added.

    Raises:
      CodecError: If there is no SavedModel or no tfnq metadata at `path`.
    """
    path = version_dir(path)
    try:
        with open(os.path.join(path, METADATA_PATH)) as f:
            metadata = json.load(f)
        if not isinstance(metadata, dict) or not isinstance(metadata.get("architecture"), str):
            raise ValueError("no architecture in its metadata")
    except (OSError, ValueError) as e:
        raise CodecError(f"tfnq: {path} is not a tfnq model ({e})") from None
    metadata["path"] = path
    return metadata
