"""Finding exported tfnq models: by name, by path, or by the fingerprint in a file.

Models live in a folder laid out for TensorFlow Serving,
`<models_dir>/<name>/<version>/`, each with `assets.extra/tfnq.json` metadata.
The folder is `$TFNQ_MODELS` if set, else the `saved_models/` folder shipped beside
the package. `<models_dir>/DEFAULT` names the default model.

A model's *family* is the models of its architecture, size and mode at other rates;
`by_quality(k)` picks the k-th of the default model's family, lowest rate first, as
`tfnq compress --quality K` does.
"""

import json
import os

from tfnq import layout

__all__ = [
    "by_quality",
    "default_model",
    "family",
    "find_by_fingerprint",
    "list_models",
    "model_lambda",
    "models_dir",
    "resolve",
]


def models_dir():
    """The folder holding exported models."""
    env = os.environ.get("TFNQ_MODELS")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "saved_models")


def list_models(directory=None):
    """Metadata of every model in `directory`, each with its `path`, sorted by name."""
    directory = directory or models_dir()
    found = []
    if not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        folder = os.path.join(directory, name)
        if not os.path.isdir(folder):
            continue
        try:
            version = layout.version_dir(folder)
            with open(os.path.join(version, layout.METADATA_PATH)) as f:
                metadata = json.load(f)
        except (layout.CodecError, OSError, ValueError):
            continue
        metadata["name"] = name  # The folder name is what `resolve` looks up.
        metadata["path"] = version
        found.append(metadata)
    return found


def default_model(directory=None):
    """Name of the default model (from `<models_dir>/DEFAULT`)."""
    directory = directory or models_dir()
    try:
        with open(os.path.join(directory, "DEFAULT")) as f:
            return f.read().strip()
    except OSError:
        models = list_models(directory)
        if not models:
            raise layout.CodecError(
                f"tfnq: no models found in {directory} (set TFNQ_MODELS or use --model)"
            ) from None
        return models[0]["name"]


def resolve(name_or_path=None, directory=None):
    """Path of a model given by name (in the models folder) or by path; None -> default."""
    directory = directory or models_dir()
    if name_or_path is None:
        name_or_path = default_model(directory)
    if os.path.isdir(name_or_path):
        return layout.version_dir(name_or_path)
    candidate = os.path.join(directory, name_or_path)
    if os.path.isdir(candidate):
        return layout.version_dir(candidate)
    names = ", ".join(m["name"] for m in list_models(directory)) or "none"
    raise layout.CodecError(f"tfnq: unknown model {name_or_path!r} (available: {names})")


def find_by_fingerprint(fingerprint, directory=None):
    """Path of the model whose fingerprint (int) matches, or None."""
    for metadata in list_models(directory):
        if int(metadata.get("fingerprint", "0"), 16) == fingerprint:
            return metadata["path"]
    return None


def model_lambda(metadata):
    """The rate-distortion trade-off a model codes at (None if unknown)."""
    coding = metadata.get("coding") or {}
    return coding.get("lmbda", (metadata.get("training") or {}).get("lmbda"))


def _family_key(metadata):
    config = metadata.get("config") or {}
    return (metadata.get("architecture"), metadata.get("mode"), config.get("num_filters"),
            config.get("num_latents"))


def family(name_or_path=None, directory=None):
    """Metadata of the models of `name_or_path`'s family (default: the default model's).

    The family: every model of the same architecture, size (channels) and mode, at any
    rate, sorted from the smallest files to the largest (by the measured bpp in their
    metadata if every member has one, else by lambda).
    """
    path = resolve(name_or_path, directory)
    with open(os.path.join(path, layout.METADATA_PATH)) as f:
        key = _family_key(json.load(f))
    members = [m for m in list_models(directory) if _family_key(m) == key]
    if all((m.get("evaluation") or {}).get("bpp") is not None for m in members):
        return sorted(members, key=lambda m: m["evaluation"]["bpp"])
    return sorted(members, key=lambda m: (model_lambda(m) is None, model_lambda(m) or 0,
                                          m["name"]))


def by_quality(quality, name_or_path=None, directory=None):
    """Path of the `quality`-th member (1 = smallest files) of a model's family."""
    members = family(name_or_path, directory)
    if not 1 <= quality <= len(members):
        names = ", ".join(f"{k + 1}: {m['name']}" for k, m in enumerate(members))
        raise layout.CodecError(f"tfnq: --quality must be 1..{len(members)} ({names})")
    return members[quality - 1]["path"]
