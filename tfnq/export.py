"""SavedModels whose signatures take and return whole tfnq files.

`export_model` writes `<dir>/<version>/` in the layout TensorFlow Serving expects,
with two serving signatures:

* `compress`:   `image` uint8 `[H, W, 3]`  -> `bitstring_bytes` string scalar
* `decompress`: `bitstring` string scalar  -> `image` uint8 `[H, W, 3]`

(Earlier exports named that output `bitstring`, which TF Serving's REST API returns as
raw bytes instead of base64; tfnq's clients read both.)

The container (`tfnq.bitstream`) is built and parsed inside the graph, so a server
and the `tfnq` command exchange the same files. `decompress` refuses a file made by
another model (fingerprint), with another mode, or damaged (checksum). Metadata
(architecture, mode, configuration, training and measured results) is written
beside the graph in `assets.extra/tfnq.json`.

`tfnq.client.load` loads an export as a `Codec` with numpy/bytes methods and clean
errors; `restore_model` and `read_tables` take an export apart again (e.g. to train
it further or re-export it).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf
import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

from tfnq import bitstream, bitstream_v2, coders, coding_config, layout, limits, models
from tfnq.fingerprint import fingerprint as model_fingerprint

__all__ = [
    "BITSTRING_OUTPUT",
    "DEFAULT_CODER",
    "ServableCodec",
    "StackServable",
    "export_model",
    "export_trained",
    "model_dir_name",
    "model_weights",
    "read_tables",
    "restore_model",
    "restore_weights",
    "servable_for",
]


def _tables(coding_models):
    """Coding tables and their decode indexes: the variables entropy models hold
    themselves (not their priors')."""
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


# Exports of tfnq 0.1 held the Keras model in their object graph, not `model_weights`;
# every shipped one was re-exported (container version 2, same fingerprint and files).
_LEGACY = ("tfnq: {path} was exported by tfnq 0.1, whose weights this version cannot "
           "read; re-export it with tfnq at commit 8bd8b66 (scripts/export.py --from_model)")


def restore_model(path):
    """The tfnq model of an exported SavedModel, weights restored (e.g. to re-export it).

    Args:
      path: Model folder or version folder.

    Returns:
      A model of the exported class and configuration, not prepared for coding.
    """
    metadata = layout.read_metadata(path)
    if metadata["architecture"] not in models.ARCHITECTURES:
        raise layout.CodecError(f"tfnq: {path}: unknown architecture "
                                f"{metadata['architecture']!r}")
    model = models.ARCHITECTURES[metadata["architecture"]](**metadata["config"])
    restore_weights(model, metadata["path"])
    return model


def read_tables(path):
    """The coding tables an export codes with, one `CodingTables` per file section."""
    from tfnq.entropy_models import tables as tables_lib
    loaded = tf.saved_model.load(layout.version_dir(path))
    if not hasattr(loaded, "coding_models"):
        raise layout.CodecError(_LEGACY.format(path=path))
    coding_models = list(loaded.coding_models)
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
    path = layout.version_dir(path)
    target = model_weights(model)
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "model_weights"):
        raise layout.CodecError(_LEGACY.format(path=path))
    source = list(loaded.model_weights)
    if len(source) != len(target):
        raise layout.CodecError(f"tfnq: {path}: {len(source)} weights, the model has "
                                f"{len(target)}")
    for s, t in zip(source, target, strict=True):
        if s.shape != t.shape:
            raise layout.CodecError(f"tfnq: {path}: weight {s.name} {s.shape} does not fit "
                                    f"{t.name} {t.shape}")
        t.assign(s)


class _Untracked:
    """Holds an object without making it a dependency of a `tf.Module`."""

    def __init__(self, model):
        self.model = model


def _image_checks(shape):
    """Assert ops: an image `shape` `[H, W, 3]` tfnq codes (`tfnq.limits`)."""
    return [
        tf.debugging.assert_positive(shape[:2], message="tfnq: the image is empty"),
        tf.debugging.assert_less_equal(
            tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64),
            tf.constant(limits.MAX_PIXELS, tf.int64),
            message=f"tfnq: images above {limits.MAX_PIXELS} pixels are not supported"),
    ]


class _Servable(tf.Module):
    """A trained model prepared for coding in one configuration, with the functions an
    export saves (see `ServableCodec` and `StackServable`)."""

    stack = False  # Whether the coder runs outside the graph.

    def __init__(self, model, mode, coder=None, rate=None, tables=None, fingerprint=None):
        """Initializer.

        Args:
          model: A trained tfnq model.
          mode: A `CodingConfig` or preset name.
          coder: Optional `tfnq.coders.Coder` (in-graph coding only).
          rate: The rate of a variable-rate model to code at.
          tables: Stored `CodingTables` of each section (see `export_model`).
          fingerprint: The identity to give the export instead of computing it (see
            `export_model`).
        """
        super().__init__(name="tfnq_codec")
        self.mode = coding_config.get_coding_config(mode)
        if self.stack != coders.is_stack_coder(self.mode.coder):
            raise ValueError(f"{type(self).__name__} cannot code with {self.mode.coder!r}; "
                             "use export.servable_for()")
        if self.stack and coder is not None:
            raise ValueError("a stack-coded export takes no in-graph coder")
        args = {} if rate is None else dict(rate=rate)
        if tables is not None:
            args["tables"] = tables
        self.coding_models = list(model.prepare_coding(self.mode, coder=coder, **args))
        # Other modules the coding depends on (e.g. an integer hyper-synthesis): rebuilt
        # from the weights on a re-export, stored, and hashed into the fingerprint.
        self.coding_transforms = model.coding_transforms
        # The model's weights and its entropy models (with their coding tables) are
        # tracked directly and the Keras model is hidden from the object graph:
        # otherwise `tf.saved_model.save` also traces and stores every Keras layer's own
        # call functions (half the size of a hyperprior SavedModel), which no signature
        # uses. `restore_model` reads `model_weights` back into a fresh model.
        self.model_weights = model_weights(model)
        self._untracked = _Untracked(model)
        if fingerprint is None:
            fingerprint = model_fingerprint(
                model, self.mode,
                self.model_weights + [v for m in self.coding_models for v in m.table_variables]
                + [v for t in self.coding_transforms for v in t.variables])
        self.fingerprint = int(fingerprint)
        self._fingerprint = tf.constant(self.fingerprint, tf.int64)
        self._mode_id = tf.constant(self.mode.id, tf.int32)
        # The decoder's synthesis in bfloat16 too (`CompressionModel.coding_synthesize`):
        # `*_bf16` functions beside the float32 ones, the same files.
        self.bfloat16 = bool(model.bfloat16_synthesis) and not self.stack
        if self.bfloat16:
            self._bfloat16_functions()

    @property
    def model(self):
        """The tfnq model (not part of the SavedModel's object graph)."""
        return self._untracked.model

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def reconstruct(self, image):
        """The reconstruction the encoder computes from its own quantized latents."""
        if self.bfloat16:
            return self._reconstruct_in(image, False)
        return self.model.reconstruct_image(image)

    def _bfloat16_functions(self):
        """`reconstruct_bf16`, where the model's synthesis has a bfloat16 form (one
        function holds both forms; a flag picks one at run time)."""
        image = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
        self._reconstruct_in = tf.function(
            lambda image, bfloat16: self.model.reconstruct_image(image, bfloat16),
            input_signature=[image, tf.TensorSpec([], tf.bool, name="bfloat16")])
        self.reconstruct_bf16 = tf.function(lambda image: self._reconstruct_in(image, True),
                                            input_signature=[image])

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def estimate_bits(self, image):
        """Information content of the quantized latents under the coding tables."""
        return self.model.estimate_bits(image)


class ServableCodec(_Servable):
    """Coding in the graph: `compress` makes a whole tfnq file, `decompress` reads one;
    with a configuration that declares encoder inputs (`CodingConfig.inputs`), also
    `compress_with_inputs(image, <input>, ...)`."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def compress(self, image):
        """uint8 `[H, W, 3]` image -> one tfnq file (string scalar), with the default
        encoder inputs of the configuration (if it declares any)."""
        if self._two_forms:
            return self._compress_in_form(image, False)
        return self._compress(image)

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decompress(self, bitstring):
        """One tfnq file (format version 2, or 1 for a preset) -> uint8 `[H, W, 3]` image."""
        return self._decompress_in_form(bitstring, False, False)

    def __init__(self, model, mode, **kwargs):
        super().__init__(model, mode, **kwargs)
        coder = self.coding_models[0].coder
        self._two_forms = isinstance(coder, coders.RansCoder) and coder.jit_compile is None
        image = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
        bitstring = tf.TensorSpec([], tf.string, name="bitstring")
        xla = tf.TensorSpec([], tf.bool, name="xla")
        bfloat16 = tf.TensorSpec([], tf.bool, name="bfloat16")
        # One decoding function holds every form the export has, and flags pick one at
        # run time, so the model is in the SavedModel once: the coder's loops plain or
        # compiled with XLA (rANS: the same files), the synthesis in float32 or
        # bfloat16 (where the model has that form).
        self._decompress_in_form = tf.function(self._in_form(self._decompress),
                                               input_signature=[bitstring, xla, bfloat16])
        if self._two_forms:
            # rANS in both forms (the same files): plain loops for any runtime, and
            # XLA-compiled ones (`compress_xla`, `decompress_xla`: much faster, for
            # runtimes that allow XLA; stock TF Serving needs
            # --xla_cpu_compilation_enabled).
            self._compress_in_form = tf.function(self._in_form(self._compress),
                                                 input_signature=[image, xla])
            self.compress_xla = tf.function(lambda image: self._compress_in_form(image, True),
                                            input_signature=[image])
            self.decompress_xla = tf.function(
                lambda bitstring: self._decompress_in_form(bitstring, True, False),
                input_signature=[bitstring])
        if self.bfloat16:
            # The synthesis in bfloat16 (`decompress_bf16`, and `decompress_xla_bf16`
            # with rANS): for CPUs with AMX or AVX-512 BF16 and GPUs with bfloat16
            # arithmetic; the same files, images within a few levels.
            self.decompress_bf16 = tf.function(
                lambda bitstring: self._decompress_in_form(bitstring, False, True),
                input_signature=[bitstring])
            if self._two_forms:
                self.decompress_xla_bf16 = tf.function(
                    lambda bitstring: self._decompress_in_form(bitstring, True, True),
                    input_signature=[bitstring])
        if self.mode.inputs:  # The encoder inputs a configuration declares, by name.
            specs = [tf.TensorSpec([], tf.as_dtype(dtype), name=name)
                     for name, dtype, _ in self.mode.inputs]
            self.compress_with_inputs = tf.function(
                self._compress_with_inputs,
                input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")]
                + specs)

    def _in_form(self, function):
        def in_form(value, xla, *args):
            if not self._two_forms:  # One form of coding (the flag is ignored).
                return function(value, *args)
            with coders.rans.compiled(xla):
                return function(value, *args)
        return in_form

    def _compress_with_inputs(self, image, *values):
        names = [name for name, _, _ in self.mode.inputs]
        return self._compress(image, dict(zip(names, values, strict=True)))

    def _compress(self, image, inputs=None):
        shape = tf.shape(image)
        with tf.control_dependencies(_image_checks(shape)):
            sections = self.model.compress_image(image, inputs)
        return bitstream_v2.pack(self._fingerprint, shape[0], shape[1], sections)

    def _decompress(self, bitstring, bfloat16=False):
        height, width, sections = self._parse(bitstring)
        return self.model.decompress_image(sections, height, width, bfloat16)

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decompress_symbols(self, bitstring):
        """One tfnq file -> what its decoder decodes: `symbols_<k>` and the table row
        of each (`rows_<k>`, from the sections before) of every section `k`, flat
        int32. Two decoders that agree on these decode the same latents: the check of a
        file decoded on another machine or TensorFlow (`scripts/check_newest_tf.py`)."""
        height, width, sections = self._parse(bitstring)
        decoded = self.model.latent_codec.decompress_symbols(
            sections, self.model.latent_shape(height, width))
        result = {}
        for k, (symbols, rows) in enumerate(decoded):
            result[f"symbols_{k}"] = tf.reshape(symbols, [-1])
            result[f"rows_{k}"] = tf.reshape(rows, [-1])
        return result

    def _parse(self, bitstring):
        """The image size and the sections of a file (checked)."""
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
                size, tf.constant(limits.MAX_SIDE, tf.int64),
                message="tfnq: the file declares an implausibly large image"),
            tf.debugging.assert_less_equal(
                size[0] * size[1], tf.constant(limits.MAX_PIXELS, tf.int64),
                message="tfnq: the file declares an implausibly large image"),
        ]
        with tf.control_dependencies(checks):
            size = tf.cast(size, tf.int32)
        return size[0], size[1], sections


class StackServable(_Servable):
    """Coding with a stack coder (`tfnq.coders.StackCoder`), which runs outside the graph.

    The export holds the functions around the coder, at the level of symbols, and
    `tfnq.client` runs the coder between them (one message for all sections; the file
    is a version-2 container with that message as its one section):

    * `to_symbols(image)` -> `height`, `width` and per section k `symbols_k` and
      `rows_k` (int32, the table row of each symbol);
    * `section_rows_k(symbols_0, ..., symbols_{k-1}, height, width)` -> `rows`: the
      tables of section k once the sections before it are decoded;
    * `from_symbols(symbols_0, ..., height, width)` -> the uint8 image;
    * `coding_tables()` -> `cdf_k`, `cdf_offset_k` per section ("tfc-flat").
    """

    stack = True

    def __init__(self, model, mode, rate=None, tables=None, fingerprint=None):
        super().__init__(model, mode, rate=rate, tables=tables, fingerprint=fingerprint)
        num_sections = self.model.num_sections
        image = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
        size = [tf.TensorSpec([], tf.int32, name="height"),
                tf.TensorSpec([], tf.int32, name="width")]

        # Symbols are `[1, h, w, C]` per section; C from a small image, eagerly.
        channels = [int(symbols.shape[-1]) for symbols, _ in self.model.image_symbols(
            tf.zeros([self.model.downsampling] * 2 + [3], tf.uint8))]

        def symbols(k):
            return [tf.TensorSpec([1, None, None, channels[j]], tf.int32, name=f"symbols_{j}")
                    for j in range(k)]

        self.to_symbols = tf.function(self._to_symbols, input_signature=[image])
        for k in range(num_sections):
            setattr(self, f"section_rows_{k}", tf.function(
                self._section_rows_fn(k), input_signature=symbols(k) + size))
        self.from_symbols = tf.function(self._from_symbols,
                                        input_signature=symbols(num_sections) + size)
        self.coding_tables = tf.function(self._coding_tables, input_signature=[])

    def _to_symbols(self, image):
        shape = tf.shape(image)
        with tf.control_dependencies(_image_checks(shape)):
            sections = self.model.image_symbols(image)
        out = dict(height=shape[0], width=shape[1])
        for k, (symbols, rows) in enumerate(sections):
            out[f"symbols_{k}"], out[f"rows_{k}"] = symbols, rows
        return out

    def _section_rows_fn(self, k):
        def section_rows(*args):
            *symbols, height, width = args
            return self.model.section_rows(k, symbols, height, width)
        return section_rows

    def _from_symbols(self, *args):
        *symbols, height, width = args
        return self.model.image_from_symbols(symbols, height, width)

    def _coding_tables(self):
        out = {}
        for k, m in enumerate(self.coding_models):
            out[f"cdf_{k}"], out[f"cdf_offset_{k}"] = m.cdf, m.cdf_offset
        return out


def servable_for(model, mode, **kwargs):
    """The servable of `mode`'s coder: `ServableCodec` (in the graph) or `StackServable`."""
    config = coding_config.get_coding_config(mode)
    if coders.is_stack_coder(config.coder):
        return StackServable(model, config, **kwargs)
    return ServableCodec(model, config, **kwargs)


def model_dir_name(name, mode):
    """Folder name of an exported model: `<name>-<mode slug>`."""
    slug = coding_config.get_coding_config(mode).label.lower().replace("+", "-")
    return f"{name}-{slug}"


# The output of the compress signatures: the file. TF Serving's REST API base64-encodes
# (`{"b64": ...}`) exactly the string outputs whose name ends in `_bytes`; any other
# name would come back as a JSON string of raw bytes, which is not UTF-8.
BITSTRING_OUTPUT = "bitstring_bytes"


def _signatures(codec):
    """`compress` and `decompress` (also the default) of an in-graph coded export."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def compress_signature(image):
        return {BITSTRING_OUTPUT: codec.compress(image)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decompress_signature(bitstring):
        return {"image": codec.decompress(bitstring)}

    signatures = {
        "compress": compress_signature.get_concrete_function(),
        "decompress": decompress_signature.get_concrete_function(),
        "serving_default": decompress_signature.get_concrete_function(),
    }
    signatures["decompress_symbols"] = codec.decompress_symbols.get_concrete_function()
    if hasattr(codec, "compress_xla"):
        signatures["compress_xla"] = tf.function(
            lambda image: {BITSTRING_OUTPUT: codec.compress_xla(image)},
            input_signature=codec.compress.input_signature).get_concrete_function()
        signatures["decompress_xla"] = tf.function(
            lambda bitstring: {"image": codec.decompress_xla(bitstring)},
            input_signature=codec.decompress.input_signature).get_concrete_function()
    for name in ("decompress_bf16", "decompress_xla_bf16"):
        function = getattr(codec, name, None)
        if function is not None:
            signatures[name] = tf.function(
                lambda bitstring, function=function: {"image": function(bitstring)},
                input_signature=codec.decompress.input_signature).get_concrete_function()
    if codec.mode.inputs:
        function = codec.compress_with_inputs
        signatures["compress_with_inputs"] = tf.function(
            lambda *args: {BITSTRING_OUTPUT: function(*args)},
            input_signature=function.input_signature).get_concrete_function()
    return signatures


def _stack_signatures(codec):
    """The symbol-level functions of a stack-coded export (`StackServable`)."""
    signatures = {"to_symbols": codec.to_symbols.get_concrete_function(),
                  "coding_tables": codec.coding_tables.get_concrete_function()}
    for k in range(codec.model.num_sections):
        function = getattr(codec, f"section_rows_{k}")
        signatures[f"section_rows_{k}"] = tf.function(
            lambda *args, function=function: {"rows": function(*args)},
            input_signature=function.input_signature).get_concrete_function()
    signatures["from_symbols"] = tf.function(
        lambda *args: {"image": codec.from_symbols(*args)},
        input_signature=codec.from_symbols.input_signature).get_concrete_function()
    return signatures


# The entropy coder of new exports: rANS in core TF ops, so that any TensorFlow (and
# stock TensorFlow Serving) loads them; "range" (tfc's ops) needs tfc where they load.
DEFAULT_CODER = "rans"


def export_model(model, mode, path, version=1, training=None, coder=None, rate=None,
                 tables=None, fingerprint=None, extra_metadata=None):
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
      fingerprint: For a re-export with `tables`: the fingerprint of the export it
        re-exports, so that the files that export made still decode. Only where the
        shipped files decode the same (`scripts/make_golden.py --check_reexport`):
        exports of tfnq 0.1 hashed the tables of every mode the model had been
        prepared for, so recomputing their fingerprint gives another value.
      extra_metadata: Further metadata entries (e.g. the `evaluation` of the export a
        re-export decodes the same as).

    Returns:
      The version folder written.
    """
    # Keras needs one call to know the model's input spec before it can be saved.
    model(tf.zeros([1, 64, 64, 3]), training=False, **({} if rate is None else dict(rate=rate)))
    codec = servable_for(model, mode, rate=rate, tables=tables, fingerprint=fingerprint,
                         **({} if coder is None else dict(coder=coder)))
    signatures = _stack_signatures(codec) if codec.stack else _signatures(codec)
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
            numerics=int(getattr(model, "numerics", 1)),
            # The decoder's synthesis forms (signatures `decompress_bf16`, ...): not part
            # of the fingerprint, since the files are the same.
            synthesis_dtypes=(["float32", "bfloat16"] if getattr(codec, "bfloat16", False)
                              else ["float32"]),
            coder=(coders.get_coder(codec.mode.coder) if codec.stack
                   else codec.coding_models[0].coder).name_tag,
            training=training or {},
        )
        if getattr(model, "coding_parameters", None):
            metadata["coding"] = model.coding_parameters
        if fingerprint is not None:  # Not computed from this export (see above).
            metadata["fingerprint_carried_over"] = True
        metadata.update(extra_metadata or {})
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, layout.METADATA_PATH), "w") as f:
            json.dump(metadata, f, indent=2)
        if not codec.stack:  # What TF Serving replays at load (tfnq.serving).
            from tfnq import serving
            serving.write_warmup_requests(tmp)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def export_trained(model, export_dir, name, checkpoint_dir=None, steps=None, modes=None,
                   training=None, progress=None, version=1, coder=DEFAULT_CODER):
    """Exports a trained model in every test-time mode it supports (or in `modes`).

    A model trained with uniform noise is exported as UN+Q and UN+UQ (one training
    run serves both, Sec. 5.1), a soft-rounding model as UN+UQ+SR; a variable-rate
    model at each of its rates, as `<name>-<lambda>-<mode>`. The training
    flags found in `checkpoint_dir/flags.json` go into the metadata, or `training`
    (e.g. the metadata of an earlier export) as it is; `progress` (e.g. the CPU
    hours so far) is added to it. The symbols are coded with `coder`
    (`tfnq.coders.CODERS`; by default rANS in core TF ops).

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
            trained = "with" if model.soft_round else "without"
            raise layout.CodecError(f"tfnq: a model trained {trained} soft rounding cannot "
                                    f"be exported as {mode}")
    rates = [(None, name)]
    if hasattr(model, "lambdas"):
        rates = [(r, f"{name}-{lmbda:g}") for r, lmbda in enumerate(model.lambdas)]
    configs = [coding_config.get_coding_config(m).with_coder(coder) for m in modes]
    return [export_model(model, config,
                         os.path.join(export_dir, model_dir_name(rate_name, config)),
                         version=version, training=info, rate=rate)
            for rate, rate_name in rates for config in configs]
