"""One JSON schema for rate-distortion results of tfnq models and classical codecs.

A result file (`save_results` / `load_results`) holds::

    {
      "format": "tfnq-rd-results",
      "version": 1,
      "dataset": "valid",                    # name shown in tables and plot titles
      "eval_dir": "../shared/data/valid",    # what the images were listed from (or null)
      "entries": [ENTRY, ...]                # names are unique
    }

An ENTRY is one point of a rate-distortion curve: one tfnq model, or one
classical codec at one quality::

    {
      "name": "linear-0.016-un-q" | "JPEG quality=50",
      "kind": "tfnq" | "classical",
      "curve": "linear UN+Q" | "JPEG",       # the RD curve the point belongs to
      "settings": {...},                     # see below
      "mean": MEAN,
      "images": [ROW, ...]
    }

`settings` of a tfnq entry: ``architecture``, ``mode``, ``lmbda``,
``training_steps``, ``fingerprint`` and ``path`` (from the model's metadata), and
``precision`` where the decoder's synthesis was not float32 (``bfloat16``);
of a classical entry: ``codec``, ``quality``, ``quality_meaning``, the fixed
encoder parameters and ``library`` (library versions), see
`tfnq.evaluation.classical`.

A ROW is one image::

    image           str    path relative to the evaluated folder(s)
    height, width   int
    bytes           int    length of the compressed file
    bpp             float  8 * bytes / (height * width): the real file size
    psnr            float  RGB PSNR in dB (null if infinite, i.e. lossless)
    ms_ssim         float  MS-SSIM (null if not computable, see metrics)
    ms_ssim_scales  int    MS-SSIM scales used (5 unless the image is small)
    encode_seconds, decode_seconds  float
    sha256          str    of the image file (optional; used to reuse results)
    estimated_bpp   float  tfnq only: information content of the latents
    bit_exact       bool   tfnq only: decoded == encoder-side reconstruction

MEAN holds the means over the rows of ``bpp``, ``psnr`` (the mean of per-image
PSNRs, as in Kodak-style tables), ``ms_ssim``, ``encode_seconds``,
``decode_seconds`` (and for tfnq ``estimated_bpp``, and ``bit_exact``: all
rows bit-exact), ``ms_ssim_db`` = -10 log10(1 - mean MS-SSIM), and
``images``, the number of rows. A mean is null if any row's value is null.
Non-finite numbers are written as null (strict JSON).

**Curves.** `build_curves` groups entries by their ``curve`` label: all
qualities of one classical codec (label = the codec's label, e.g. "JPEG"), or
the tfnq models of one architecture and mode across lambdas (label
"<architecture> <mode>", e.g. "linear UN+UQ+SR"; a ``curve`` key in a model's
metadata overrides it).

`load_results` also reads the earlier format written by `scripts/evaluate.py`
(a ``"models"`` dict of tfnq models, without MS-SSIM).
"""

import dataclasses
import hashlib
import json
import math
import os

import numpy as np

from tfnq import atomic_write

__all__ = [
    "FORMAT",
    "KINDS",
    "VERSION",
    "Curve",
    "Point",
    "build_curves",
    "file_sha256",
    "image_ids",
    "load_results",
    "make_entry",
    "merge_results",
    "new_results",
    "row_key",
    "same_settings",
    "save_results",
    "summarize",
    "tfnq_curve_label",
    "tfnq_settings",
    "validate",
]

FORMAT = "tfnq-rd-results"
VERSION = 1
KINDS = ("tfnq", "classical")

_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
# Field -> accepted types, for every row, and in addition for tfnq rows.
_ROW_FIELDS = {
    "image": (str,),
    "height": (int,),
    "width": (int,),
    "bytes": (int,),
    "bpp": _NUMBER,
    "psnr": _OPTIONAL_NUMBER,
    "ms_ssim": _OPTIONAL_NUMBER,
    "encode_seconds": _NUMBER,
    "decode_seconds": _NUMBER,
}
_TFNQ_ROW_FIELDS = {"estimated_bpp": _NUMBER, "bit_exact": (bool,)}
_OPTIONAL_ROW_FIELDS = {"ms_ssim_scales": (int,), "sha256": (str,)}
_MEAN_KEYS = ("bpp", "psnr", "ms_ssim", "encode_seconds", "decode_seconds")
_TFNQ_MEAN_KEYS = ("estimated_bpp",)
# Settings that may differ between runs without changing the results.
_VOLATILE_SETTINGS = ("path",)


# ---------------------------------------------------------------------- building


def new_results(dataset, eval_dir=None, entries=()):
    """An empty (or pre-filled) result dict."""
    return dict(format=FORMAT, version=VERSION, dataset=str(dataset),
                eval_dir=None if eval_dir is None else str(eval_dir), entries=list(entries))


def image_ids(files):
    """Names that identify images in result rows: paths relative to their common folder.

    Args:
        files: List of image paths.

    Returns:
        A list of str, e.g. ["mcmaster/mcm01.png", "urban/img_001.png"]; the base
        name for a single file.
    """
    files = [os.path.abspath(f) for f in files]
    if not files:
        return []
    if len(files) == 1:
        return [os.path.basename(files[0])]
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in files]


def file_sha256(path):
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def row_key(row):
    """What identifies the image of a row: (image, height, width, sha256 or None)."""
    return (row["image"], row["height"], row["width"], row.get("sha256"))


def _mean(values):
    if any(v is None for v in values):
        return None
    value = float(np.mean(values))
    return value if math.isfinite(value) else None


def summarize(rows, kind):
    """Means over the rows of one entry (see the module docstring).

    Args:
        rows: List of row dicts.
        kind: "tfnq" or "classical".

    Returns:
        The MEAN dict.
    """
    from tfnq.evaluation import metrics
    keys = _MEAN_KEYS + (_TFNQ_MEAN_KEYS if kind == "tfnq" else ())
    mean = {k: _mean([r.get(k) for r in rows]) for k in keys}
    db = metrics.ms_ssim_db(mean["ms_ssim"])
    mean["ms_ssim_db"] = db if db is not None and math.isfinite(db) else None
    if kind == "tfnq":
        mean["bit_exact"] = all(r["bit_exact"] for r in rows)
    mean["images"] = len(rows)
    return mean


def make_entry(name, kind, curve, settings, rows):
    """An ENTRY dict with its means.

    Raises:
        ValueError: If `kind` is unknown or `rows` is empty.
    """
    if kind not in KINDS:
        raise ValueError(f"tfnq: kind must be one of {KINDS}, got {kind!r}")
    if not rows:
        raise ValueError(f"tfnq: no images evaluated for {name!r}")
    return dict(name=str(name), kind=kind, curve=str(curve), settings=dict(settings),
                mean=summarize(rows, kind), images=list(rows))


def tfnq_curve_label(metadata):
    """The curve of a tfnq model: metadata ``curve``, else "<architecture> <mode>"."""
    if metadata.get("curve"):
        return str(metadata["curve"])
    return f"{metadata.get('architecture') or 'tfnq'} {metadata.get('mode') or '?'}"


def tfnq_settings(metadata, path=None):
    """The settings of a tfnq entry, from the model's metadata."""
    training = metadata.get("training") or {}
    return dict(architecture=metadata.get("architecture"), mode=metadata.get("mode"),
                lmbda=training.get("lmbda"), training_steps=training.get("steps"),
                fingerprint=metadata.get("fingerprint"), path=path)


def same_settings(a, b):
    """Whether two settings dicts describe the same encoder (ignoring e.g. paths)."""
    strip = lambda s: {k: v for k, v in s.items() if k not in _VOLATILE_SETTINGS}
    return _json_roundtrip(strip(a)) == _json_roundtrip(strip(b))  # dicts: order-free


# ---------------------------------------------------------------------- validation


def _check_type(value, types, where):
    # bool is an int subclass: only accept it where bool is asked for.
    if isinstance(value, bool) and bool not in types:
        raise ValueError(f"tfnq: {where} must be {_type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise ValueError(f"tfnq: {where} must be {_type_names(types)}, got {value!r}")


def _type_names(types):
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean",
             type(None): "null", dict: "an object", list: "a list"}
    if float in types:  # Integers are numbers too.
        types = tuple(t for t in types if t is not int)
    return " or ".join(dict.fromkeys(names[t] for t in types))


def validate(results):
    """Checks that a dict follows the result schema.

    Args:
        results: A result dict (as `load_results` returns or `save_results` takes).

    Returns:
        `results`, unchanged.

    Raises:
        ValueError: Naming the first field that does not follow the schema.
    """
    _check_type(results, (dict,), "the results")
    if results.get("format") != FORMAT:
        raise ValueError(f"tfnq: not a {FORMAT} file (format {results.get('format')!r})")
    if results.get("version") != VERSION:
        raise ValueError(f"tfnq: unsupported results version {results.get('version')!r}")
    _check_type(results.get("dataset"), (str,), "dataset")
    _check_type(results.get("eval_dir"), (str, type(None)), "eval_dir")
    _check_type(results.get("entries"), (list,), "entries")
    names = set()
    for i, entry in enumerate(results["entries"]):
        where = f"entries[{i}]"
        _check_type(entry, (dict,), where)
        for key in ("name", "curve"):
            _check_type(entry.get(key), (str,), f"{where}.{key}")
        where = f"entry {entry['name']!r}"
        if entry["name"] in names:
            raise ValueError(f"tfnq: two entries are named {entry['name']!r}")
        names.add(entry["name"])
        if entry.get("kind") not in KINDS:
            raise ValueError(f"tfnq: {where}: kind must be one of {KINDS}, "
                             f"got {entry.get('kind')!r}")
        _check_type(entry.get("settings"), (dict,), f"{where}: settings")
        if entry["kind"] == "classical":
            _check_type(entry["settings"].get("quality"), _NUMBER, f"{where}: settings.quality")
        else:
            _check_type(entry["settings"].get("mode"), (str,), f"{where}: settings.mode")
        _check_type(entry.get("images"), (list,), f"{where}: images")
        if not entry["images"]:
            raise ValueError(f"tfnq: {where} has no images")
        fields = dict(_ROW_FIELDS, **(_TFNQ_ROW_FIELDS if entry["kind"] == "tfnq" else {}))
        for j, row in enumerate(entry["images"]):
            _check_type(row, (dict,), f"{where}: images[{j}]")
            for key, types in fields.items():
                if key not in row:
                    raise ValueError(f"tfnq: {where}: images[{j}] has no {key!r}")
                _check_type(row[key], types, f"{where}: images[{j}].{key}")
            for key, types in _OPTIONAL_ROW_FIELDS.items():
                if key in row:
                    _check_type(row[key], types, f"{where}: images[{j}].{key}")
            if row["height"] < 1 or row["width"] < 1 or row["bytes"] < 0:
                raise ValueError(f"tfnq: {where}: images[{j}] has an invalid size or length")
            expected = 8 * row["bytes"] / (row["height"] * row["width"])
            if not math.isclose(row["bpp"], expected, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"tfnq: {where}: images[{j}].bpp is {row['bpp']}, but "
                                 f"8 * bytes / pixels is {expected}")
        mean = entry.get("mean")
        _check_type(mean, (dict,), f"{where}: mean")
        keys = _MEAN_KEYS + ("ms_ssim_db",) + (
            _TFNQ_MEAN_KEYS if entry["kind"] == "tfnq" else ())
        for key in keys:
            if key not in mean:
                raise ValueError(f"tfnq: {where}: mean has no {key!r}")
            _check_type(mean[key], _OPTIONAL_NUMBER, f"{where}: mean.{key}")
        if mean.get("images") != len(entry["images"]):
            raise ValueError(f"tfnq: {where}: mean.images is {mean.get('images')!r}, "
                             f"but there are {len(entry['images'])} rows")
    return results


# ---------------------------------------------------------------------- files


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _finite_or_none(value.item())
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def _json_roundtrip(value):
    """`value` as it reads back from a result file (plain types, non-finite -> None)."""
    return json.loads(json.dumps(_finite_or_none(value)))


def save_results(results, path):
    """Validates and writes a result file atomically (non-finite numbers as null).

    Raises:
        ValueError: If `results` does not follow the schema.
        tfnq.atomic_write.WriteError: If the file cannot be written.
    """
    results = validate(_json_roundtrip(results))
    text = json.dumps(results, indent=1, allow_nan=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    atomic_write.write_bytes_atomic(path, text.encode("utf-8"), force=True)


def _from_legacy(data):
    """Converts the earlier `{"models": {...}}` format of scripts/evaluate.py."""
    entries = []
    for name, model in data["models"].items():
        metadata = dict(architecture=model.get("architecture"), mode=model.get("mode"),
                        training=dict(lmbda=model.get("lmbda"),
                                      steps=model.get("training_steps")))
        rows = []
        for row in model["images"]:
            row = dict(row)
            row.setdefault("ms_ssim", None)
            rows.append(row)
        settings = tfnq_settings(metadata, model.get("path"))
        del settings["fingerprint"]
        entries.append(make_entry(name, "tfnq", tfnq_curve_label(metadata), settings, rows))
    return new_results(data.get("dataset", "?"), data.get("eval_dir"), entries)


def load_results(path):
    """Reads and validates a result file (the earlier "models" format is converted).

    Raises:
        ValueError: If the file is not JSON or does not follow the schema.
        OSError: If it cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"tfnq: {path} is not JSON ({e})") from None
    if isinstance(data, dict) and "models" in data and "format" not in data:
        data = _json_roundtrip(_from_legacy(data))
    try:
        return validate(data)
    except ValueError as e:
        raise ValueError(f"tfnq: {path}: {str(e).removeprefix('tfnq: ')}") from None


def merge_results(*results, dataset=None):
    """Merges result dicts; an entry of a later one replaces a same-named earlier one.

    Args:
        *results: Result dicts.
        dataset: Name of the merged set (default: that of the first).

    Returns:
        A new result dict with the entries in first-seen order.
    """
    if not results:
        raise ValueError("tfnq: nothing to merge")
    entries = {}
    for result in results:
        for entry in result["entries"]:
            entries[entry["name"]] = entry
    first = results[0]
    return new_results(dataset or first["dataset"], first.get("eval_dir"),
                       list(entries.values()))


# ---------------------------------------------------------------------- curves


@dataclasses.dataclass(frozen=True)
class Point:
    """One rate-distortion point (the means of one entry)."""

    name: str
    bpp: float
    psnr: float | None
    ms_ssim: float | None
    ms_ssim_db: float | None
    settings: dict
    mean: dict


@dataclasses.dataclass(frozen=True)
class Curve:
    """A family of points: one classical codec at all qualities, or one tfnq model family."""

    label: str
    kind: str
    points: tuple  # of `Point`, by increasing bpp

    def pairs(self, metric="psnr"):
        """(bpp, value) pairs of the points where `metric` is known."""
        return [(p.bpp, getattr(p, metric)) for p in self.points
                if getattr(p, metric) is not None]


def build_curves(results):
    """Groups the entries of a result dict into RD curves.

    Args:
        results: A result dict.

    Returns:
        A list of `Curve`s in order of first appearance, each with its points
        sorted by rate.
    """
    groups = {}
    for entry in results["entries"]:
        group = groups.setdefault(entry["curve"], dict(kind=entry["kind"], points=[]))
        mean = entry["mean"]
        group["points"].append(Point(
            name=entry["name"], bpp=mean["bpp"], psnr=mean["psnr"], ms_ssim=mean["ms_ssim"],
            ms_ssim_db=mean["ms_ssim_db"], settings=entry["settings"], mean=mean))
    return [Curve(label=label, kind=g["kind"],
                  points=tuple(sorted(g["points"], key=lambda p: p.bpp)))
            for label, g in groups.items()]
