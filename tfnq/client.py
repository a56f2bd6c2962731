"""Loading an exported tfnq model and coding with it: numpy images in, bytes out.

    codec = tfnq.load("saved_models/hyperprior-0.0105-un-q")
    data = codec.compress(image)      # uint8 [H, W, 3] -> bytes of a tfnq file
    image = codec.decompress(data)

`load` needs only TensorFlow (and tensorflow-compression for models that code with
its range-coding ops) and the export itself: the container is built and parsed by
the SavedModel's own signatures. A model exported with a stack coder (a coding
configuration with `coder="ans"`, `tfnq.export.StackServable`) has signatures at the
level of symbols instead, and the `Codec` runs the coder (`tfnq.coders.AnsCoder`,
which needs `constriction`) between them and builds the container itself: the same
`compress`/`decompress`, the same file format. Every problem (a damaged, truncated or
foreign file, an image of the wrong type or size) is a `CodecError` with a one-line
message.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

from tfnq import bitstream, bitstream_v2, layout, limits

__all__ = ["PRECISIONS", "Codec", "load", "native_bfloat16"]


PRECISIONS = ("float32", "bfloat16", "auto")


def native_bfloat16():
    """Whether this machine computes in bfloat16 natively: a CPU with AMX or AVX-512
    BF16 (read from /proc/cpuinfo; False where it cannot be read) and no GPU visible
    to TensorFlow (on a GPU, ask for "bfloat16" explicitly where it has the units)."""
    if tf.config.list_physical_devices("GPU"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


class Codec:
    """A loaded tfnq SavedModel: numpy images in, bytes out, and back.

    Args:
      path: Model folder or version folder.
      precision: The decoder's synthesis: "float32" (the default: `decompress` gives
        `reconstruct`'s image on any machine up to float rounding), "bfloat16" (for
        exports that have it, `metadata["synthesis_dtypes"]`: about 3x faster on CPUs
        with AMX, within a few levels of float32; docs/decode_speed.md) or "auto"
        (bfloat16 where the export has it and `native_bfloat16()`). `decompress` and
        `reconstruct` use the same, so they agree bit for bit; files do not depend on
        it.
    """

    def __init__(self, path, precision="float32"):
        if precision not in PRECISIONS:
            raise layout.CodecError(f"tfnq: precision must be one of {PRECISIONS}, "
                                    f"not {precision!r}")
        self.path = layout.version_dir(path)
        self.metadata = layout.read_metadata(self.path)
        if not os.path.exists(os.path.join(self.path, "saved_model.pb")):
            raise layout.CodecError(f"tfnq: no SavedModel found at {self.path}")
        dtypes = self.metadata.get("synthesis_dtypes") or ["float32"]
        if precision == "auto":
            precision = "bfloat16" if "bfloat16" in dtypes and native_bfloat16() else "float32"
        if precision not in dtypes:
            raise layout.CodecError(f"tfnq: {self.name} has no {precision} synthesis "
                                    f"(it has {', '.join(dtypes)})")
        self.precision = precision
        self._module = tf.saved_model.load(self.path)
        # Exports coded with rANS in core TF ops have the same coding in an XLA form
        # (the same files, much faster), which this process can run.
        suffix = "_bf16" if precision == "bfloat16" else ""
        self._compress = getattr(self._module, "compress_xla", None) or getattr(
            self._module, "compress", None)
        self._decompress = getattr(self._module, f"decompress_xla{suffix}", None) or getattr(
            self._module, f"decompress{suffix}", None)
        self._reconstruct = getattr(self._module, f"reconstruct{suffix}")
        coder = (self.metadata.get("coding_config") or {}).get("coder", "range")
        self._stack = _StackCoding(self._module, coder, self.metadata) if hasattr(
            self._module, "to_symbols") else None

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
            raise layout.CodecError(bitstream.error_message(e) or _plain_message(e)) from None

    @staticmethod
    def _check_image(image):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise layout.CodecError(
                f"tfnq: expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
        error = limits.image_size_error(*image.shape[:2])
        if error:
            raise layout.CodecError(error)
        return image

    @property
    def inputs(self):
        """The encoder inputs the model's coding configuration takes: name -> default."""
        config = self.metadata.get("coding_config") or {}
        return {i["name"]: i["default"] for i in config.get("inputs", [])}

    def compress(self, image, **inputs):
        """uint8 `[H, W, 3]` -> bytes of a tfnq file.

        Args:
          image: The image.
          **inputs: Encoder inputs of the coding configuration (`inputs`), by name;
            those not given take their defaults.
        """
        image = self._check_image(image)
        if inputs:
            unknown = sorted(set(inputs) - set(self.inputs))
            if unknown:
                raise layout.CodecError(f"tfnq: {self.name} takes no encoder input "
                                        f"{unknown[0]!r} (it takes {sorted(self.inputs)})")
            if self._stack:
                raise layout.CodecError("tfnq: encoder inputs with a stack coder are not "
                                        "supported yet")
            values = [inputs.get(name, default) for name, default in self.inputs.items()]
            return self._run(lambda x: self._module.compress_with_inputs(x, *values),
                             image).numpy()
        if self._stack:
            return self._run(self._stack.compress, image)
        return self._run(self._compress, image).numpy()

    def decompress(self, data):
        """bytes of a tfnq file -> uint8 `[H, W, 3]`."""
        if not isinstance(data, bytes | bytearray):
            raise layout.CodecError("tfnq: expected the bytes of a tfnq file")
        try:
            if self._stack:
                return self._run(self._stack.decompress, bytes(data))
            return self._run(self._decompress, tf.constant(bytes(data))).numpy()
        except layout.CodecError as e:
            raise self._earlier_version_error(bytes(data)) or e from None

    def _earlier_version_error(self, data):
        """A clearer error for a file of the export this one replaced (same weights,
        another coder or numerics), which it cannot read; None for any other file."""
        replaced = self.metadata.get("replaces") or {}
        try:
            fingerprint = bitstream_v2.parse_header(data)["fingerprint"]
        except ValueError:
            return None
        if not replaced.get("fingerprint") or fingerprint != int(replaced["fingerprint"], 16):
            return None
        if replaced.get("coder") == self.metadata.get("coder"):
            return layout.CodecError(
                f"tfnq: this file was written by version {replaced.get('version')} of "
                f"{self.name}, with numerics {replaced.get('numerics')}; this version "
                f"codes with numerics {self.metadata.get('numerics')} (the same weights; "
                f"other table indexes) and cannot read it. That version is in the "
                f"repository's history ({replaced.get('commit')}).")
        return layout.CodecError(
            f"tfnq: this file was written by version {replaced.get('version')} of "
            f"{self.name}, coded with {replaced.get('coder')}; this version codes with "
            f"{self.metadata.get('coder')} (the same weights) and cannot read it. That "
            f"version is in the repository's history ({replaced.get('commit')}), or "
            f"re-export this one: python scripts/export.py --from_model={self.path} "
            f"--coder=range --export_dir=<dir> --name=<name>")

    def reconstruct(self, image):
        """Encoder-side reconstruction from the quantized latents (no coding)."""
        return self._run(self._reconstruct, self._check_image(image)).numpy()

    def estimate_bits(self, image):
        """Estimated bits of the latents (without container overhead)."""
        return float(self._run(self._module.estimate_bits, self._check_image(image)))


class _StackCoding:
    """`compress`/`decompress` of a stack-coded export: the coder runs here, between
    the export's symbol-level functions (see `tfnq.export.StackServable`)."""

    def __init__(self, module, coder, metadata):
        from tfnq import coders  # Here: in-graph exports do not need the stack coders.
        self._module = module
        self._coder = coders.get_coder(coder)
        self._fingerprint = int(metadata["fingerprint"], 16)
        fingerprint = tf.constant(self._fingerprint, tf.int64)
        string = tf.TensorSpec([], tf.string)
        size = tf.TensorSpec([], tf.int32)

        # The container in the graph (as exports build it): eagerly, its field loop
        # alone would take a third of a second.
        @tf.function(input_signature=[string, size, size])
        def pack(message, height, width):
            return bitstream_v2.pack(fingerprint, height, width, [message])

        @tf.function(input_signature=[string])
        def unpack(data):
            header = bitstream_v2.unpack(data, 1, expected_fingerprint=fingerprint)
            return header.height, header.width, header.sections[0]

        self._pack, self._unpack = pack, unpack
        tables = {k: v.numpy() for k, v in module.coding_tables().items()}
        self._num_sections = len(tables) // 2
        self._tables = [self._coder.prepare_tables(tables[f"cdf_{k}"],
                                                   tables[f"cdf_offset_{k}"])
                        for k in range(self._num_sections)]

    def compress(self, image):
        out = self._module.to_symbols(image)
        message = self._coder.message()
        for k in reversed(range(self._num_sections)):  # The decoder pops section 0 first.
            message.push(out[f"symbols_{k}"].numpy(), out[f"rows_{k}"].numpy(),
                         self._tables[k])
        return self._pack(message.to_bytes(), out["height"], out["width"]).numpy()

    def decompress(self, data):
        height, width, payload = self._unpack(tf.constant(data))
        height, width = int(height), int(width)
        if limits.image_size_error(height, width):
            raise layout.CodecError("tfnq: the file declares an implausibly large image")
        try:
            message = self._coder.message(payload.numpy())
            symbols = []
            for k in range(self._num_sections):
                rows = getattr(self._module, f"section_rows_{k}")(*symbols, height, width)
                symbols.append(tf.constant(message.pop(rows.numpy(), self._tables[k])))
            if not message.is_empty():
                raise ValueError("data left over")
        except ValueError as e:
            raise layout.CodecError(f"tfnq: entropy decoding failed (corrupted data: {e})"
                                    ) from None
        return self._module.from_symbols(*symbols, height, width).numpy()


def _plain_message(error):
    """The informative line of a TensorFlow error that has no "tfnq:" message."""
    for line in error.message.splitlines():
        line = line.strip()
        if (line and not line.startswith(("Graph execution error", "Detected at node", "File ",
                                          "[[", "}}", "Traceback"))
                and not line.endswith(":")):
            return "tfnq: " + line.split(" [Op:")[0]
    return "tfnq: " + (error.message.strip().splitlines() or ["error"])[0]


def load(path, precision="float32"):
    """Loads an exported tfnq model (model folder or version folder) as a `Codec`
    (`precision`: of the decoder's synthesis, see `Codec`)."""
    return Codec(path, precision=precision)
