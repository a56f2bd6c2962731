"""Writes the golden files of the shipped models (tests/golden/), checked by the tests.

    python scripts/make_golden.py                 # every model in saved_models/
    python scripts/make_golden.py --models=NAME   # one (e.g. after re-exporting it)
    python scripts/make_golden.py --check_reexport   # today's code, the shipped weights

For each model: `<name>.tfnq`, the file its `compress` signature makes of a fixed crop of
the packaged sample photo (47x37: padded on both sides by every model), and
`<name>.png`, what its `decompress` makes of that file; `manifest.json` records the
crop, the model's fingerprint and the SHA-256 of both. `tests/test_saved_models.py`
checks that every shipped model still makes the same bytes and decodes them to the
same image, so a change of the code or of a model cannot alter the files silently.
Regenerate only when a change of the bitstream is intended, and say why in the commit.

`--check_reexport` writes nothing: it restores every shipped model's weights and coding
tables into today's code (`tfnq.export.restore_model`, `read_tables`), builds the
servable an export would save, and reports per model whether it has the shipped
fingerprint, makes the golden file's payload byte for byte (today's exports write
container format 2, the shipped ones wrote 1) and decodes the golden file to the
golden image (with the shipped fingerprint where today's differs: what
`scripts/export.py --keep_fingerprint` would export), or to within the golden tests'
float-rounding tolerance (at most one level, on under 1% of the values: another
formulation of the same synthesis, e.g. `tfnq.layers.SubpixelTransform`); exit status
1 if one is not the same in all three: a refactor of the models must pass this before
the shipped models are re-exported with it.
"""

import hashlib
import json
import os
import sys

from tfnq import runtime

runtime.configure()

import tensorflow as tf  # noqa: E402, F401  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "golden")
CROP = (100, 200, 47, 37)  # top, left, height, width in the packaged sample photo

FLAGS = flags.FLAGS
flags.DEFINE_list("models", [], "Model names (default: every model in saved_models/).")
flags.DEFINE_bool("check_reexport", False,
                  "Check that today's code, given the shipped weights and tables, makes and "
                  "reads the golden files (writes nothing).")


def golden_crop():
    """The image every golden file codes (uint8 [47, 37, 3])."""
    from tfnq import image_io
    top, left, height, width = CROP
    return image_io.sample_image()[top:top + height, left:left + width].copy()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main(argv):
    del argv
    import numpy as np

    import tfnq
    from tfnq import atomic_write, image_io, registry
    shipped = os.path.join(REPO, "saved_models")
    models = {m["name"]: m for m in registry.list_models(shipped)}
    names = FLAGS.models or sorted(models)
    manifest_path = os.path.join(GOLDEN, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    image = golden_crop()
    if FLAGS.check_reexport:
        return check_reexport(models, names, manifest, image)
    for name in names:
        codec = tfnq.load(models[name]["path"])
        data = codec.compress(image)
        decoded = codec.decompress(data)
        np.testing.assert_array_equal(decoded, codec.reconstruct(image))
        path = os.path.join(GOLDEN, f"{name}.tfnq")
        entry = _entry_of_the_same_model(manifest.get(name, {}), models[name], codec)
        replaced = _replaced_files(name, entry, path, decoded, codec)
        if replaced:
            entry = {}  # Files of the replaced export (and its earlier ones) are gone.
        earlier = _earlier_files(name, entry, path, data, codec)
        atomic_write.write_bytes_atomic(path, data, force=True)
        image_io.write_png(os.path.join(GOLDEN, f"{name}.png"), decoded, force=True)
        manifest[name] = dict(fingerprint=models[name]["fingerprint"], crop=list(CROP),
                              bytes=len(data), file_sha256=sha256(data),
                              decoded_sha256=sha256(decoded.tobytes()))
        if earlier:
            manifest[name]["earlier_files"] = earlier
        if replaced:
            manifest[name]["replaced_files"] = replaced
        print(f"{name}: {len(data)} bytes, decoded {manifest[name]['decoded_sha256'][:12]}")
    manifest = {k: manifest[k] for k in sorted(manifest) if k in models}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def _entry_of_the_same_model(entry, info, codec):
    """The manifest entry, or {} if the name now holds another model (new weights: not
    the same fingerprint, nor a re-export of it); that model's kept files are removed."""
    replaces = (codec.metadata.get("replaces") or {}).get("fingerprint")
    if not entry or entry.get("fingerprint") in (info["fingerprint"], replaces):
        return entry
    for kept in entry.get("replaced_files", []) + entry.get("earlier_files", []):
        path = os.path.join(GOLDEN, kept["file"])
        if os.path.exists(path):
            os.remove(path)
    return {}


def _replaced_files(name, entry, path, decoded, codec):
    """The golden file of the export this one replaced with another coder or numerics.

    A re-export with another entropy coder or other numerics (same weights, `replaces`
    in its metadata) has another fingerprint and cannot read the old files. The old
    golden file is kept as `<name>.replaced.tfnq` (and the older ones it read are
    removed), for another coder only if the new export decodes the same crop to the
    very same image (same symbols); the tests check that the old file gets the error
    that names the old version.
    Returns the manifest entries, or [] if nothing was replaced.
    """
    import numpy as np
    replaces = codec.metadata.get("replaces")
    if not replaces or entry.get("fingerprint") != replaces.get("fingerprint"):
        return list(entry.get("replaced_files", []))
    # A re-export with other numerics (e.g. the integer hyper-synthesis) computes other
    # means and may pick other tables: its decode of the crop is its own.
    same_numerics = replaces.get("numerics", codec.metadata.get("numerics")) == \
        codec.metadata.get("numerics")
    if same_numerics and sha256(np.asarray(decoded).tobytes()) != entry.get("decoded_sha256"):
        # The golden image was written on another machine: a CPU whose convolution
        # kernels round differently moves a few pixels by one level (as the tests
        # allow); anything more is not the same symbols.
        from PIL import Image
        golden = np.asarray(Image.open(path[:-len(".tfnq")] + ".png")).astype(int)
        difference = np.abs(np.asarray(decoded).astype(int) - golden)
        if difference.max() > 1 or np.mean(difference > 0) >= 0.01:
            raise SystemExit(f"{name}: the re-export with another coder decodes the "
                             "golden crop differently: not the same symbols")
    with open(path, "rb") as f:
        old = f.read()
    kept = f"{name}.replaced.tfnq"
    os.replace(path, os.path.join(GOLDEN, kept))
    for earlier in entry.get("earlier_files", []):
        os.remove(os.path.join(GOLDEN, earlier["file"]))
    replaced = dict(file=kept, file_sha256=sha256(old), coder=replaces.get("coder"),
                    version=replaces.get("version"))
    if not same_numerics:
        replaced["numerics"] = replaces.get("numerics")
    return [replaced]


def _earlier_files(name, entry, path, data, codec):
    """The golden files of earlier container versions this model must still read.

    When a model is re-exported with a new container version (same weights, tables and
    fingerprint), its previous golden file is kept as `<name>.v<N>.tfnq` if the new
    export decodes it to the same image, and listed in the manifest, so the tests keep
    checking that files of the earlier export still decode.
    """
    import numpy as np
    earlier = list(entry.get("earlier_files", []))
    if not os.path.exists(path):
        return earlier
    with open(path, "rb") as f:
        old = f.read()
    version = old[4] if len(old) > 4 else None
    if version == data[4] or any(e["version"] == version for e in earlier):
        return earlier
    decoded = codec.decompress(old)
    if sha256(np.asarray(decoded).tobytes()) != entry.get("decoded_sha256"):
        raise SystemExit(f"{name}: the re-export decodes its earlier golden file "
                         "differently")
    kept = f"{name}.v{version}.tfnq"
    os.replace(path, os.path.join(GOLDEN, kept))
    earlier.append(dict(file=kept, version=version, file_sha256=sha256(old)))
    return earlier


def check_reexport(models, names, manifest, image):
    """Today's code with each shipped model's weights and tables, against its golden file."""
    import numpy as np

    from tfnq import bitstream, bitstream_v2, export, image_io, layout
    failed = False
    for name in names:
        info = models[name]
        metadata = layout.read_metadata(info["path"])
        model = export.restore_model(info["path"])
        rate = (metadata.get("coding") or {}).get("rate")
        model(np.zeros([1, 64, 64, 3], np.float32), training=False,
              **({} if rate is None else dict(rate=rate)))
        tables = export.read_tables(info["path"])  # SavedModel loaded once, used twice.
        config = metadata.get("coding_config") or metadata["mode"]  # its coder included
        servable = export.ServableCodec(model, config, rate=rate, tables=tables)
        with open(os.path.join(GOLDEN, f"{name}.tfnq"), "rb") as f:
            golden = f.read()
        # The form `tfnq.load` compresses with (the golden files' writer).
        data = getattr(servable, "compress_xla", servable.compress)(image).numpy()
        same_fingerprint = f"{servable.fingerprint:08x}" == info["fingerprint"]
        unpack = bitstream.unpack if golden[4] == 1 else bitstream_v2.unpack
        same_file = [s.numpy() for s in bitstream_v2.unpack(data, model.num_sections).sections
                     ] == [s.numpy() for s in unpack(golden, model.num_sections).sections]
        if not same_fingerprint:  # Would the shipped fingerprint, carried over, decode?
            servable = export.ServableCodec(model, config, rate=rate, tables=tables,
                                            fingerprint=int(info["fingerprint"], 16))
        decoded = servable.decompress(golden).numpy()
        same_decode = sha256(decoded.tobytes()) == manifest[name]["decoded_sha256"]
        decode = "same"
        if not same_decode:  # Float rounding (the golden tests' tolerance), or more?
            expected = image_io.read_image(os.path.join(GOLDEN, f"{name}.png"))
            difference = np.abs(decoded.astype(int) - expected.astype(int))
            changed = int(np.count_nonzero(difference))
            same_decode = difference.max() <= 1 and changed < 0.01 * difference.size
            decode = (f"{'within float rounding' if same_decode else 'DIFFERS'} (max "
                      f"{difference.max()} levels, {changed} of {difference.size} values)")
        ok = same_fingerprint and same_file and same_decode
        failed |= not ok
        carried = "" if same_fingerprint else " with the shipped fingerprint carried over"
        print(f"{name}: fingerprint {'same' if same_fingerprint else 'CHANGED'}, payload "
              f"{'same' if same_file else 'DIFFERS'}, decode{carried} {decode}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
