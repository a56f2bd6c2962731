"""Checks that tfnq's exported models load and decode in stock TensorFlow alone.

    # Once, in the project venv (TF 2.14 + tfc), after the golden files are written:
    .venv/bin/python scripts/check_newest_tf.py --write_reference=tests/golden/symbols.json

    # In a venv with only the newest TensorFlow from PyPI (`make newest-tf`):
    .venv-newest-tf/bin/python scripts/check_newest_tf.py \\
      --models_dir=saved_models --golden_dir=tests/golden \\
      --reference=tests/golden/symbols.json --output=docs/newest_tf.md

(`make check-newest-tf` runs the second, and `make test` runs it after the tests.)

Exports that code with rANS in core TF ops (coder "tf-rans") need nothing of tfnq or
tensorflow-compression to load. This script proves it: it imports only TensorFlow,
numpy and the standard library, and for every model folder in `--models_dir` (the
highest version of each `<name>/<version>/`) and its golden file
`--golden_dir/<name>.tfnq` (with `<name>.png`, the image the project's runtime decodes
it to):

* `--write_reference=<json>` (run in the project venv) records what the project's
  TensorFlow decodes the golden file to: the SHA-256 of the symbols and of the table
  rows of every section (`decompress_symbols`), of the image from `decompress`,
  `decompress_xla` and the bfloat16 forms, and of the files `compress` and
  `compress_xla` make of the golden PNG's pixels, with the TensorFlow version, each
  model's fingerprint and the SHA-256 of its golden file (so that a stale reference is
  noticed).
* By default (run in the newest-TF venv) it loads every model with
  `tf.saved_model.load`, decodes the golden file with `decompress_symbols`,
  `decompress` and `decompress_xla` (where the export has it), at every intra-op thread
  count of `--threads` (each in a subprocess of its own, since TensorFlow takes the
  setting only before it runs anything), and compares with the reference: the symbols
  and rows must be identical; for the image it reports the largest absolute pixel
  difference from the golden PNG (decoded with `tf.io.decode_png`) and whether it is
  bit-exact (the same SHA-256 as the reference's decode); the same for the bfloat16
  synthesis (`decompress_bf16`, `decompress_xla_bf16`, where the export has them),
  whose images must decode but need not be bit-exact. It also encodes the golden
  PNG's pixels with `compress` and `compress_xla` and reports whether the files are
  byte for byte the project's (informational: the analysis transform is float
  arithmetic, so another TensorFlow may round a latent the other way; the files decode
  either way).

It prints a markdown table (`--output=<md>` also writes it, with the command and the
TensorFlow versions). Exit status 1 if a model fails to load or to decode, has no
golden file or reference entry, the reference is stale, or any symbols or rows differ.
"""

import hashlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run, as the other scripts)
from absl import app, flags  # noqa: E402  (absl-py comes with TensorFlow)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA = os.path.join("assets.extra", "tfnq.json")

FLAGS = flags.FLAGS
flags.DEFINE_string("models_dir", os.path.join(REPO, "saved_models"),
                    "Folder of exported models (`<name>/<version>/`).")
flags.DEFINE_string("golden_dir", os.path.join(REPO, "tests", "golden"),
                    "Folder of the golden files `<name>.tfnq` and `<name>.png`.")
flags.DEFINE_string("reference", None,
                    "The reference to check against (default: <golden_dir>/symbols.json).")
flags.DEFINE_string("write_reference", None,
                    "Write the reference to this JSON file instead of checking (run in the "
                    "project venv).")
flags.DEFINE_list("models", [], "Model names (default: every model in --models_dir).")
flags.DEFINE_list("threads", ["1", "2"], "Intra-op thread counts to decode at.")
flags.DEFINE_string("output", None, "Also write the markdown report to this file.")
flags.DEFINE_integer("worker_threads", 0,
                     "Internal: measure at this thread count and write --worker_output.")
flags.DEFINE_string("worker_output", None, "Internal: the JSON file a worker writes.")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def int32_sha256(array):
    """SHA-256 of an int32 array's values (little-endian, in order; shape left out)."""
    return sha256(np.ascontiguousarray(array, dtype="<i4").tobytes())


def version_dir(folder):
    """The highest numeric version folder of a model folder (None if it has none)."""
    versions = [d for d in os.listdir(folder)
                if d.isdigit() and os.path.exists(os.path.join(folder, d, "saved_model.pb"))]
    return os.path.join(folder, max(versions, key=int)) if versions else None


def find_models(models_dir, names=()):
    """Model name -> dict(path, version, fingerprint, coder) of the models in a folder."""
    found = {}
    for name in sorted(os.listdir(models_dir)):
        folder = os.path.join(models_dir, name)
        if not os.path.isdir(folder) or (names and name not in names):
            continue
        path = version_dir(folder)
        if path is None:
            continue
        try:
            with open(os.path.join(path, METADATA)) as f:
                metadata = json.load(f)
        except (OSError, ValueError):
            metadata = {}
        found[name] = dict(path=path, version=os.path.basename(path),
                           fingerprint=metadata.get("fingerprint"),
                           coder=metadata.get("coder"))
    for name in names:
        if name not in found:
            found[name] = dict(path=None, version=None, fingerprint=None, coder=None)
    return found


def golden_files(golden_dir, name):
    """The golden file's bytes and the golden PNG's bytes of a model (None if absent)."""
    result = []
    for ext in ("tfnq", "png"):
        try:
            with open(os.path.join(golden_dir, f"{name}.{ext}"), "rb") as f:
                result.append(f.read())
        except OSError:
            result.append(None)
    return result


def _error(e):
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    message = lines[0] if lines else ""
    for line in lines:  # TensorFlow's own message, not the traceback around it.
        if "Error" in line or "error" in line:
            message = line
            break
    return f"{type(e).__name__}: {message.strip()[:300]}"


# The decompress signatures an export may have: float32 synthesis (plain, XLA rANS) and
# bfloat16 synthesis (hyperpriors; images within a few levels of float32's).
DECOMPRESS_FORMS = ("decompress", "decompress_xla", "decompress_bf16", "decompress_xla_bf16")


def measure(path, data, png):
    """What this TensorFlow makes of one model and its golden file.

    Args:
      path: The model's version folder.
      data: The golden file's bytes (None: only loaded).
      png: The golden PNG's bytes (None: no pixel differences, nothing re-encoded).

    Returns:
      A JSON-able dict: `loads` (bool; `error` says why not), `signatures`, and per step
      its result or `<step>_error`: `sections` (index -> `symbols_sha256`,
      `rows_sha256`, `symbols_count`, `rows_count`), `images` (decompress signature ->
      `sha256`, `shape`, `max_diff` from the golden PNG, or `error`), `files` (compress
      signature -> `sha256` and `bytes` of the file it makes of the PNG's pixels, or
      `error`).
    """
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001  (any failure to load is the finding)
        return dict(loads=False, error=_error(e))
    signatures = loaded.signatures
    result = dict(loads=True, signatures=sorted(signatures), images={}, files={})
    if data is None:
        return result
    bitstring = tf.constant(data)
    golden = tf.io.decode_png(png, channels=3).numpy() if png is not None else None
    if "decompress_symbols" in signatures:
        try:
            out = signatures["decompress_symbols"](bitstring=bitstring)
            sections = {}
            for key in out:
                kind, k = key.rsplit("_", 1)
                values = out[key].numpy()
                sections.setdefault(k, {})[f"{kind}_sha256"] = int32_sha256(values)
                sections[k][f"{kind}_count"] = int(values.size)
            result["sections"] = sections
        except Exception as e:  # noqa: BLE001
            result["sections_error"] = _error(e)
    else:
        result["sections_error"] = "no decompress_symbols signature"
    for form in DECOMPRESS_FORMS:
        if form not in signatures:
            continue
        try:
            image = signatures[form](bitstring=bitstring)["image"].numpy()
        except Exception as e:  # noqa: BLE001
            result["images"][form] = dict(error=_error(e))
            continue
        entry = dict(sha256=sha256(image.tobytes()), shape=list(image.shape))
        if golden is not None and golden.shape == image.shape:
            diff = np.abs(image.astype(np.int16) - golden.astype(np.int16))
            entry["max_diff"] = int(diff.max()) if diff.size else 0
        result["images"][form] = entry
    if golden is not None:
        for form in ("compress", "compress_xla"):
            if form not in signatures:
                continue
            try:
                # The one output: `bitstring_bytes` (`bitstring` in older exports).
                [made] = signatures[form](image=tf.constant(golden)).values()
                made = made.numpy()
                result["files"][form] = dict(sha256=sha256(made), bytes=len(made))
            except Exception as e:  # noqa: BLE001
                result["files"][form] = dict(error=_error(e))
    return result


def measure_all(models, golden_dir):
    """Model name -> `measure`'s result (with `golden_sha256`, or a `golden_error`)."""
    results = {}
    for name, info in models.items():
        data, png = golden_files(golden_dir, name)
        if info["path"] is None:
            results[name] = dict(loads=False, error=f"no model {name} in the models folder")
        else:
            results[name] = measure(info["path"], data, png)
            if data is None:
                results[name]["golden_error"] = f"no golden file {name}.tfnq"
            else:
                results[name]["golden_sha256"] = sha256(data)
        state = results[name].get("error") or results[name].get("golden_error") or "measured"
        print(f"  {name}: {state}", file=sys.stderr)
    return results


# -- Comparing -----------------------------------------------------------------------


def compare(reference, info, measured):
    """One row of the table: a model measured at one thread count against its reference.

    Args:
      reference: The model's entry of the reference (None if it has none).
      info: `find_models`' entry of the model (its version and fingerprint).
      measured: `measure`'s result.

    Returns:
      A dict: `loads`, `symbols`, `rows` ("yes", "no" or "-"), `plain`, `xla` (the largest pixel
      difference from the golden PNG, "-" without that signature, or an error),
      `bit_exact`, `reencode` (the same bytes as the project's, plain / xla), and
      `problems` (the reasons to fail, empty if none).
    """
    row = dict(loads="yes" if measured.get("loads") else "no", symbols="-", rows="-",
               plain="-", xla="-", bit_exact="-", bf16="-", reencode="-", problems=[])
    problems = row["problems"]
    if "error" in measured:
        problems.append(measured["error"])
        return row
    if "golden_error" in measured:
        problems.append(measured["golden_error"])
        return row
    if reference is None:
        problems.append("no entry in the reference (rerun --write_reference)")
        return row
    if measured.get("golden_sha256") != reference["golden_sha256"]:
        problems.append("the golden file is not the one the reference was written from "
                        "(rerun --write_reference)")
    if info.get("fingerprint") != reference.get("fingerprint"):
        problems.append(f"fingerprint {info.get('fingerprint')} is not the reference's "
                        f"{reference.get('fingerprint')} (rerun --write_reference)")
    if "sections_error" in measured:
        problems.append(f"decompress_symbols: {measured['sections_error']}")
    else:
        sections, expected = measured["sections"], reference["sections"]
        for kind in ("symbols", "rows"):
            same = sorted(sections) == sorted(expected) and all(
                sections[k].get(f"{kind}_sha256") == expected[k][f"{kind}_sha256"]
                for k in expected)
            row[kind] = "yes" if same else "no"
            if not same:
                problems.append(f"the decoded {kind} differ from the reference's")
    plain, xla = _decodes(measured, reference, ("decompress", "decompress_xla"), problems)
    row["plain"], row["xla"] = plain[0], xla[0]
    exact = [e for _, e in (plain, xla) if e is not None]
    if exact:
        row["bit_exact"] = "yes" if all(exact) else "no"
    # The bfloat16 synthesis: decodes (a problem if not); its distance from the float32
    # golden image, and whether it is the reference's (informational: bfloat16
    # convolutions may accumulate in another order in another TensorFlow's oneDNN).
    low = [d for d in _decodes(measured, reference,
                               ("decompress_bf16", "decompress_xla_bf16"), problems)
           if d[0] != "-"]
    if low:
        exact = [e for _, e in low if e is not None]
        row["bf16"] = " / ".join(d for d, _ in low) + (
            f", {'exact' if all(exact) else 'not exact'}" if exact else "")
    same_files = []
    for form in ("compress", "compress_xla"):
        made = measured["files"].get(form)
        if made is None:
            continue
        if "error" in made:
            same_files.append("error")
            problems.append(f"{form}: {made['error']}")
        else:
            same_files.append(
                "yes" if made["sha256"] == reference["files"].get(form, {}).get("sha256")
                else "no")
    if same_files:
        row["reencode"] = " / ".join(same_files)
    return row


def _decodes(measured, reference, forms, problems):
    """Per decompress form: its largest pixel difference from the golden PNG ("-"
    without that signature, "error", "no PNG") and whether its image is the
    reference's (None if not decoded); a missing or failing form is a problem."""
    out = []
    for form in forms:
        image = measured["images"].get(form)
        if image is None:
            if form in reference["images"]:
                problems.append(f"no {form} signature")
            out.append(("-", None))
        elif "error" in image:
            problems.append(f"{form}: {image['error']}")
            out.append(("error", None))
        else:
            out.append((str(image["max_diff"]) if "max_diff" in image else "no PNG",
                        image["sha256"] == reference["images"].get(form, {}).get("sha256")))
    return out


def run_workers(threads, models):
    """Measures at each thread count in a subprocess of this script; threads -> results."""
    results = {}
    passed = [f"--models_dir={FLAGS.models_dir}", f"--golden_dir={FLAGS.golden_dir}",
              f"--models={','.join(models)}"]
    for n in threads:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "measured.json")
            command = [sys.executable, os.path.abspath(__file__), *passed,
                       f"--worker_threads={n}", f"--worker_output={out}"]
            print(f"measuring at {n} intra-op thread(s)", file=sys.stderr)
            process = subprocess.run(command, capture_output=True, text=True)
            # Its progress lines; TensorFlow's start-up log only when it failed.
            failed = process.returncode != 0 or not os.path.exists(out)
            log = process.stderr.splitlines()
            print("\n".join(log[-40:] if failed else
                            [line for line in log if line.startswith("  ")]), file=sys.stderr)
            if failed:
                results[n] = dict(error=f"the worker at {n} thread(s) failed with exit "
                                        f"status {process.returncode}")
                continue
            with open(out) as f:
                results[n] = json.load(f)
    return results


def set_threads(n):
    tf.config.threading.set_intra_op_parallelism_threads(n)


def _importable(module):
    return "yes" if importlib.util.find_spec(module) is not None else "no"


def markdown(rows, reference, command):
    lines = [
        "# tfnq's exports in the newest TensorFlow",
        "",
        f"    {command}",
        "",
        f"TensorFlow {tf.__version__} (this check, numpy {np.__version__}); reference "
        f"written with TensorFlow {reference.get('tensorflow', '?')} "
        f"(`{reference.get('command', '--write_reference')}`).",
        "",
        f"In this check's process: tfnq importable: {_importable('tfnq')}, "
        f"tensorflow-compression importable: {_importable('tensorflow_compression')}.",
        "",
        "Symbols and rows: the SHA-256 of what `decompress_symbols` decodes the golden file "
        "to, against the reference's. Max pixel diff: the largest absolute difference of "
        "`decompress` (plain) and `decompress_xla` from the golden PNG; bit-exact: both "
        "decode to the reference's image. Re-encode: `compress` / `compress_xla` of the "
        "golden PNG's pixels make the project's bytes (informational). bfloat16: the "
        "largest difference of `decompress_bf16` / `decompress_xla_bf16` (hyperpriors) "
        "from the (float32) golden PNG, and whether both are the reference's images "
        "(informational).",
        "",
        "| model | version | threads | loads | symbols identical | rows identical "
        "| max pixel diff plain / xla | bit-exact | bfloat16 | re-encode same bytes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    problems = []
    for name, version, n, row in rows:
        lines.append(f"| {name} | {version} | {n} | {row['loads']} | {row['symbols']} | "
                     f"{row['rows']} | {row['plain']} / {row['xla']} | {row['bit_exact']} "
                     f"| {row['bf16']} | {row['reencode']} |")
        problems += [f"- {name} at {n} thread(s): {p}" for p in row["problems"]]
    failed = sorted({name for name, _, _, row in rows if row["problems"]})
    count = len({r[0] for r in rows})
    lines += ["", f"{count} model{'s' if count != 1 else ''}, {len(failed)} failed"
              + (f": {', '.join(failed)}." if failed else "."), ""]
    if problems:
        lines += ["Problems:", ""] + problems + [""]
    return "\n".join(lines)


def this_command():
    """This run's command line (paths under the working folder relative to it)."""
    def short(path):
        return os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path
    return shlex.join([short(sys.executable), short(os.path.abspath(__file__)),
                       *sys.argv[1:]])


def write_reference(models, path):
    results = measure_all(models, FLAGS.golden_dir)
    failed = {name: r.get("error") or r["golden_error"] for name, r in results.items()
              if "error" in r or "golden_error" in r}
    failed.update({name: r["sections_error"] for name, r in results.items()
                   if "sections_error" in r})
    failed.update({f"{name} {form}": image["error"] for name, r in results.items()
                   for form, image in r.get("images", {}).items() if "error" in image})
    if failed:
        for name, error in failed.items():
            print(f"error: {name}: {error}", file=sys.stderr)
        return 1
    reference = dict(
        tensorflow=tf.__version__,
        command=this_command(),
        models={name: dict(version=models[name]["version"],
                           fingerprint=models[name]["fingerprint"],
                           coder=models[name]["coder"],
                           golden_sha256=r["golden_sha256"],
                           sections=r["sections"],
                           images={f: {k: v for k, v in i.items() if k != "max_diff"}
                                   for f, i in r["images"].items()},
                           files=r["files"])
                for name, r in results.items()})
    for name, r in results.items():
        diffs = {form: image.get("max_diff") for form, image in r["images"].items()}
        print(f"{name}: {len(r['sections'])} section(s), max pixel diff from the PNG "
              f"{diffs}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(reference, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path} (TensorFlow {tf.__version__}, {len(results)} models)")
    return 0


def main(argv):
    del argv
    if not os.path.isdir(FLAGS.models_dir):
        print(f"error: no models folder {FLAGS.models_dir}", file=sys.stderr)
        return 1
    models = find_models(FLAGS.models_dir, FLAGS.models)
    if FLAGS.worker_threads:
        set_threads(FLAGS.worker_threads)
        results = measure_all(models, FLAGS.golden_dir)
        with open(FLAGS.worker_output, "w") as f:
            json.dump(dict(tensorflow=tf.__version__, models=results), f)
        return 0
    if FLAGS.write_reference:
        return write_reference(models, FLAGS.write_reference)
    reference_path = FLAGS.reference or os.path.join(FLAGS.golden_dir, "symbols.json")
    try:
        with open(reference_path) as f:
            reference = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: cannot read the reference {reference_path} ({e}); write it in the "
              "project venv with --write_reference", file=sys.stderr)
        return 1
    if not FLAGS.models:  # The reference's models must all be there.
        for name in reference["models"]:
            models.setdefault(name, dict(path=None, version=None, fingerprint=None,
                                         coder=None))
        models = dict(sorted(models.items()))
    threads = [int(n) for n in FLAGS.threads]
    if len(threads) == 1:  # Nothing has run yet: this process can take the setting.
        set_threads(threads[0])
        measured = {threads[0]: dict(models=measure_all(models, FLAGS.golden_dir))}
    else:
        measured = run_workers(threads, models)
    rows = []
    for name, info in models.items():
        for n in threads:
            if "error" in measured[n]:
                result = dict(error=measured[n]["error"])
            else:
                result = measured[n]["models"][name]
            row = compare(reference["models"].get(name), info, result)
            rows.append((name, info["version"] or "-", n, row))
    report = markdown(rows, reference, this_command())
    print(report)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(report)
    return 1 if any(row["problems"] for _, _, _, row in rows) else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
