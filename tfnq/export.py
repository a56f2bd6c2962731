"""SavedModels whose signatures take and return whole tfnq files.

`export_model` writes `<dir>/<version>/` in the layout TensorFlow Serving expects,
with two serving signatures:

* `compress`:   `image` uint8 `[H, W, 3]`  -> `bitstring` string scalar
* `decompress`: `bitstring` string scalar  -> `image` uint8 `[H, W, 3]`

The container (`tfnq.bitstream`) is built and parsed inside the graph, so a server
and the `tfnq` command exchange the same files. `decompress` refuses a file made by
another model (fingerprint), with another mode, or damaged (checksum). Metadata
(architecture, mode, configuration, training and measured results) is written
beside the graph in `assets.extra/tfnq.json`.

`load` returns a `Codec` with numpy/bytes methods and clean errors.
"""

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

from tfnq import bitstream, bitstream_v2, coding_config, models

__all__ = [
    "Codec",
    "CodecError",
    "ServableCodec",
    "export_model",
    "export_trained",
    "fingerprint",
    "load",
    "model_dir_name",
    "model_weights",
    "read_metadata",
    "read_tables",
    "restore_model",
    "restore_weights",
    "version_dir",
    "METADATA_PATH",
    "MAX_PIXELS",
    "MAX_SIDE",
]

METADATA_PATH = os.path.join("assets.extra", "tfnq.json")
# Largest image side and pixel count a file may declare (and an image may have);
# larger headers are refused before decoding, so a forged header cannot make the
# decoder allocate unbounded memory.
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 26


class CodecError(ValueError):
    """A file or image that a codec cannot process (one-line message)."""


def fingerprint(model, mode, variables):
    """A 32-bit identity of a model: class, numerics, configuration, coding configuration
    (a preset by its name), weights, tables.

    `model.numerics` (default 1) versions what the exported graph computes from the
    weights; a version above 1 is hashed too, so files made by an export with other
    arithmetic (which may decode differently) are refused as another model's, while
    fingerprints of version-1 models stay what they were.
    """
    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    numerics = getattr(model, "numerics", 1)
    if numerics != 1:
        h.update(f"numerics {numerics}".encode())
    h.update(json.dumps(model.get_config(), sort_keys=True).encode())
    h.update(coding_config.get_coding_config(mode).canonical().encode())
    coding = getattr(model, "coding_parameters", None)
    if coding:  # E.g. the rate a variable-rate model codes at.
        h.update(json.dumps(coding, sort_keys=True).encode())
    for v in sorted(variables, key=lambda v: v.name):
        h.update(v.name.encode())
        h.update(np.ascontiguousarray(v.numpy()).tobytes())
    return int.from_bytes(h.digest()[:4], "big")


def _tables(coding_models):
    """Coding tables: the variables entropy models hold themselves (not their priors')."""
    return [v for m in coding_models for v in vars(m).values() if isinstance(v, tf.Variable)]


def model_weights(model):
    """A model's variables without coding tables, in a fixed order.

    The order is Keras' (`model.weights`: creation order), so two models of the same
    class and configuration list the same weights in the same order, whether or not
    they were prepared for coding.
    """
    # Any entropy model with tables (`compression=True`) the model has built, even for
    # an earlier mode (Keras keeps tracking replaced attributes).
    tables = {id(v) for v in _tables(
        m for m in tf.Module.submodules.fget(model) if getattr(m, "compression", False))}
    return [v for v in model.weights if id(v) not in tables]


def read_metadata(path):
    """The `assets.extra/tfnq.json` metadata of an export (model or version folder)."""
    path = version_dir(path)
    try:
        with open(os.path.join(path, METADATA_PATH)) as f:
            metadata = json.load(f)
        models.ARCHITECTURES[metadata["architecture"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CodecError(f"tfnq: {path} is not a tfnq model ({e})") from None
    metadata["path"] = path
    return metadata


def restore_model(path):
    """The tfnq model of an exported SavedModel, weights restored (e.g. to re-export it).

    Args:
      path: Model folder or version folder.

    Returns:
      A model of the exported class and configuration, not prepared for coding.
    """
    metadata = read_metadata(path)
    model = models.ARCHITECTURES[metadata["architecture"]](**metadata["config"])
    restore_weights(model, metadata["path"])
    return model


def read_tables(path):
    """The coding tables an export codes with, one `CodingTables` per file section."""
    from tfnq.entropy_models import tables as tables_lib
    loaded = tf.saved_model.load(version_dir(path))
    coding_models = list(getattr(loaded, "coding_models", []))
    if not coding_models and hasattr(loaded, "entropy_model"):  # Exports of tfnq 0.1.
        coding_models = [loaded.entropy_model]
    tables = []
    for m in coding_models:
        cdf = tf.convert_to_tensor(m._cdf)
        tables.append(tables_lib.CodingTables(cdf, tf.convert_to_tensor(m._cdf_offset),
                                              precision=-int(cdf[0])))
    return tables


def restore_weights(model, path):
    """Assigns the weights of an export to `model` (same class and configuration).

    Args:
      model: A tfnq model, e.g. one about to be trained further.
      path: Model folder or version folder.

    Raises:
      CodecError: If the export holds other weights than `model` has.
    """
    path = version_dir(path)
    target = model_weights(model)
    loaded = tf.saved_model.load(path)
    if hasattr(loaded, "model_weights"):
        source = list(loaded.model_weights)
        if len(source) != len(target):
            raise CodecError(f"tfnq: {path}: {len(source)} weights, the model has "
                             f"{len(target)}")
        for s, t in zip(source, target, strict=True):
            if s.shape != t.shape:
                raise CodecError(f"tfnq: {path}: weight {s.name} {s.shape} does not fit "
                                 f"{t.name} {t.shape}")
            t.assign(s)
    else:  # Exports of tfnq 0.1, whose object graph holds the Keras model as `model`.
        status = tf.train.Checkpoint(model=model).read(
            os.path.join(path, "variables", "variables"))
        status.assert_existing_objects_matched().expect_partial()


class _Untracked:
    """Holds an object without making it a dependency of a `tf.Module`."""

    def __init__(self, model):
        self.model = model


class ServableCodec(tf.Module):
    """A trained model prepared for coding in one mode, with exportable signatures."""

    def __init__(self, model, mode, coder=None, rate=None, tables=None):
        super().__init__(name="tfnq_codec")
        self.mode = coding_config.get_coding_config(mode)
        args = {} if rate is None else dict(rate=rate)
        if tables is not None:
            args["tables"] = tables
        self.coding_models = list(model.prepare_coding(self.mode, coder=coder, **args))
        # The model's weights and its entropy models (with their coding tables) are
        # tracked directly and the Keras model is hidden from the object graph:
        # otherwise `tf.saved_model.save` also traces and stores every Keras layer's own
        # call functions (half the size of a hyperprior SavedModel), which no signature
        # uses. `restore_model` reads `model_weights` back into a fresh model.
        self.model_weights = model_weights(model)
        self._untracked = _Untracked(model)
        self.fingerprint = fingerprint(
            model, self.mode, self.model_weights + _tables(self.coding_models))
        self._fingerprint = tf.constant(self.fingerprint, tf.int64)
        self._mode_id = tf.constant(self.mode.id, tf.int32)

    @property
    def model(self):
        """The tfnq model (not part of the SavedModel's object graph)."""
        return self._untracked.model

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def compress(self, image):
        """uint8 `[H, W, 3]` image -> one tfnq file (string scalar)."""
        shape = tf.shape(image)
        checks = [
            tf.debugging.assert_positive(shape[:2], message="tfnq: the image is empty"),
            tf.debugging.assert_less_equal(
                tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64),
                tf.constant(MAX_PIXELS, tf.int64),
                message=f"tfnq: images above {MAX_PIXELS} pixels are not supported"),
        ]
        with tf.control_dependencies(checks):
            sections = self.model.compress_image(image)
        return bitstream_v2.pack(self._fingerprint, shape[0], shape[1], sections)

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decompress(self, bitstring):
        """One tfnq file (format version 2, or 1 for a preset) -> uint8 `[H, W, 3]` image."""
        num_sections = self.model.num_sections

        def version_2():
            header = bitstream_v2.unpack(bitstring, num_sections,
                                         expected_fingerprint=self._fingerprint)
            return [header.height, header.width] + header.sections

        def version_1():  # Files of an earlier export of this model in its preset.
            header = bitstream.unpack(bitstring, num_sections,
                                      expected_fingerprint=self._fingerprint,
                                      expected_modes=[self.mode.id])
            return [header.height, header.width] + header.sections

        if self.mode.id:
            version = tf.strings.substr(tf.strings.join([bitstring, b"\0" * 5]), 4, 1)
            is_version_1 = tf.equal(version, b"\x01")
            parsed = tf.cond(is_version_1, version_1, version_2)
        else:
            parsed = version_2()
        height, width, sections = parsed[0], parsed[1], parsed[2:]
        size = tf.cast(tf.stack([height, width]), tf.int64)
        checks = [
            tf.debugging.assert_positive(size, message="tfnq: the file declares an empty image"),
            tf.debugging.assert_less_equal(
                size, tf.constant(MAX_SIDE, tf.int64),
                message="tfnq: the file declares an implausibly large image"),
            tf.debugging.assert_less_equal(
                size[0] * size[1], tf.constant(MAX_PIXELS, tf.int64),
                message="tfnq: the file declares an implausibly large image"),
        ]
        with tf.control_dependencies(checks):
            size = tf.cast(size, tf.int32)
        return self.model.decompress_image(sections, size[0], size[1])

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def reconstruct(self, image):
        """The reconstruction the encoder computes from its own quantized latents."""
        return self.model.reconstruct_image(image)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def estimate_bits(self, image):
        """Information content of the quantized latents under the coding tables."""
        return self.model.estimate_bits(image)


def model_dir_name(name, mode):
    """Folder name of an exported model: `<name>-<mode slug>`."""
    slug = coding_config.get_coding_config(mode).label.lower().replace("+", "-")
    return f"{name}-{slug}"


def export_model(model, mode, path, version=1, training=None, coder=None, rate=None,
                 tables=None):
    """Exports `model` in `mode` to `path/<version>` for TensorFlow Serving.

    The export is written to a temporary folder and moved into place, so an
    interrupted export never leaves a half-written model.

    Args:
      model: A trained tfnq model (e.g. `tfnq.LinearCodec`).
      mode: "UN+Q", "UN+UQ" or "UN+UQ+SR".
      path: Model folder (`saved_models/<name>`).
      version: Version subfolder.
      training: Optional dict describing training, stored in the metadata.
      coder: Optional `tfnq.coders.Coder`.
      rate: The rate of a variable-rate model to code at.
      tables: The `CodingTables` of each section to code with (`read_tables` of an
        earlier export in this mode), instead of building them: tables built on
        another machine can differ in a few entries, so a re-export keeps its own.

    Returns:
      The version folder written.
    """
    # Keras needs one call to know the model's input spec before it can be saved.
    model(tf.zeros([1, 64, 64, 3]), training=False, **({} if rate is None else dict(rate=rate)))
    codec = ServableCodec(model, mode, coder=coder, rate=rate, tables=tables)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def compress_signature(image):
        return {"bitstring": codec.compress(image)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decompress_signature(bitstring):
        return {"image": codec.decompress(bitstring)}

    signatures = {
        "compress": compress_signature.get_concrete_function(),
        "decompress": decompress_signature.get_concrete_function(),
        "serving_default": decompress_signature.get_concrete_function(),
    }
    target = os.path.join(path, str(version))
    os.makedirs(path, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=path, prefix=".export-")
    try:
        tf.saved_model.save(codec, tmp, signatures=signatures)
        metadata = dict(
            name=os.path.basename(os.path.normpath(path)),
            architecture=model.architecture,
            mode=codec.mode.label,
            coding_config=codec.mode.to_json(),
            fingerprint=f"{codec.fingerprint:08x}",
            config=model.get_config(),
            coder=codec.coding_models[0].coder.name_tag,
            training=training or {},
        )
        if getattr(model, "coding_parameters", None):
            metadata["coding"] = model.coding_parameters
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, METADATA_PATH), "w") as f:
            json.dump(metadata, f, indent=2)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def export_trained(model, export_dir, name, checkpoint_dir=None, steps=None, modes=None,
                   training=None, progress=None, version=1):
    """Exports a trained model in every test-time mode it supports (or in `modes`).

    A model trained with uniform noise is exported as UN+Q and UN+UQ (one training
    run serves both, Sec. 5.1), a soft-rounding model as UN+UQ+SR; a variable-rate
    model at each of its rates, as `<name>-<lambda>-<mode>`. The training
    flags found in `checkpoint_dir/flags.json` go into the metadata, or `training`
    (e.g. the metadata of an earlier export) as it is; `progress` (e.g. the CPU
    hours so far) is added to it.

    Returns:
      The version folders written.
    """
    info = dict(training or {})
    if checkpoint_dir:
        try:
            with open(os.path.join(checkpoint_dir, "flags.json")) as f:
                flags = json.load(f)
            info = dict(lmbda=flags.get("lmbda"), train_mode=flags.get("mode"), flags=flags)
        except (OSError, ValueError):
            pass
    if steps is not None or "steps" not in info:
        info["steps"] = steps
    info.update(progress or {})
    info["expected_grads"] = bool(getattr(model, "expected_grads", False))
    supported = [m.name for m in coding_config.PRESETS.values()
                 if m.soft_round == model.soft_round]
    modes = [coding_config.get_coding_config(m).name for m in modes] if modes else supported
    for mode in modes:
        if mode not in supported:
            raise CodecError(f"tfnq: a model trained {'with' if model.soft_round else 'without'}"
                             f" soft rounding cannot be exported as {mode}")
    rates = [(None, name)]
    if hasattr(model, "lambdas"):
        rates = [(r, f"{name}-{lmbda:g}") for r, lmbda in enumerate(model.lambdas)]
    return [export_model(model, mode, os.path.join(export_dir, model_dir_name(rate_name, mode)),
                         version=version, training=info, rate=rate)
            for rate, rate_name in rates for mode in modes]


def version_dir(path):
    """Accepts a version folder or a model folder (picks its highest version)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = [d for d in os.listdir(path) if d.isdigit()] if os.path.isdir(path) else []
    if not versions:
        raise CodecError(f"tfnq: no SavedModel found at {path}")
    return os.path.join(path, max(versions, key=int))


class Codec:
    """A loaded tfnq SavedModel: numpy images in, bytes out, and back."""

    def __init__(self, path):
        self.path = version_dir(path)
        try:
            with open(os.path.join(self.path, METADATA_PATH)) as f:
                self.metadata = json.load(f)
        except (OSError, ValueError) as e:
            raise CodecError(f"tfnq: {self.path} is not a tfnq model ({e})") from None
        self._module = tf.saved_model.load(self.path)

    @property
    def name(self):
        return self.metadata.get("name")

    @property
    def mode(self):
        return self.metadata.get("mode")

    def _run(self, fn, arg):
        try:
            return fn(arg)
        except tf.errors.InvalidArgumentError as e:
            raise CodecError(bitstream.error_message(e) or _plain_message(e)) from None

    @staticmethod
    def _check_image(image):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise CodecError(
                f"tfnq: expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise CodecError("tfnq: the image is empty")
        if max(image.shape[:2]) > MAX_SIDE or image.shape[0] * image.shape[1] > MAX_PIXELS:
            raise CodecError(f"tfnq: images above {MAX_SIDE} pixels a side or {MAX_PIXELS} "
                             "pixels are not supported")
        return image

    def compress(self, image):
        """uint8 `[H, W, 3]` -> bytes of a tfnq file."""
        return self._run(self._module.compress, self._check_image(image)).numpy()

    def decompress(self, data):
        """bytes of a tfnq file -> uint8 `[H, W, 3]`."""
        if not isinstance(data, bytes | bytearray):
            raise CodecError("tfnq: expected the bytes of a tfnq file")
        return self._run(self._module.decompress, tf.constant(bytes(data))).numpy()

    def reconstruct(self, image):
        """Encoder-side reconstruction from the quantized latents (no coding)."""
        return self._run(self._module.reconstruct, self._check_image(image)).numpy()

    def estimate_bits(self, image):
        """Estimated bits of the latents (without container overhead)."""
        return float(self._run(self._module.estimate_bits, self._check_image(image)))


def _plain_message(error):
    """The informative line of a TensorFlow error that has no "tfnq:" message."""
    for line in error.message.splitlines():
        line = line.strip()
        if (line and not line.startswith(("Graph execution error", "Detected at node", "File ",
                                          "[[", "}}", "Traceback"))
                and not line.endswith(":")):
            return "tfnq: " + line.split(" [Op:")[0]
    return "tfnq: " + (error.message.strip().splitlines() or ["error"])[0]


def load(path):
    """Loads an exported tfnq model (model folder or version folder)."""
    return Codec(path)
