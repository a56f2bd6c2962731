"""tfnq's mean-scale hyperprior coded with plain tfc, the way tfc's example models do it.

A speed (and sanity) reference for `scripts/benchmark_reference.py` (and
`scripts/benchmark_training.py`, `scripts/profile_ops.py`): importable as
`tfnq.evaluation.tfc_reference`, but not part of tfnq's public API. The model follows
tensorflow/compression's `models/bmshj2018.py` (and
the mean-scale coding of `models/ms2020.py`):

* a `tf.keras.Model` holding the four transforms and a `tfc.NoisyDeepFactorized`
  hyperprior;
* after training (here: after copying weights from a tfnq model) the coding models
  are built once with `compression=True`: `tfc.ContinuousBatchedEntropyModel` for the
  hyper-latents and `tfc.LocationScaleIndexedEntropyModel(tfc.NoisyNormal, ...)` with
  the predicted mean as `loc` for the latents;
* `compress` / `decompress` are `tf.function`s with input signatures, returning and
  taking `(string, side_string, x_shape, y_shape, z_shape)`; the model is exported
  with `tf.saved_model.save` and a file is those tensors packed with
  `tfc.PackedTensors`, as the example's `compress` / `decompress` commands do.

The transforms are tfnq's (`tfnq.layers.AnalysisTransform` etc., same `N`, `M`, same
variables) built, by default, with tfc's own `SignalConv2D`, which computes each RDFT
kernel with `tf.signal.irfft2d` on every call as tfc's examples do
(`kernels="tfc"`); with `kernels="tfnq"` they use tfnq's layer, which computes the
same kernels with one matrix product, so that a comparison measures the coding path
alone.
Quantization is plain rounding, i.e. the equivalent of tfnq's UN+Q: the hyper-latents
are rounded to integers (`offset_heuristic=False`, as in `ms2020.py`; bmshj2018's
default median offsets would be a different quantizer) and the latents are rounded
around the predicted mean. As in tfc, the scale indexes are clipped and truncated to
the table grid (tfnq rounds them), which changes the bits a little but never the
reconstruction (on a partly trained N=64, M=96 model and the 768x512 sample: latent
bytes 38037 truncated vs 38637 rounded, hyper-latent bytes identical). Images are
not padded: the convolutions zero-pad and the outputs are cropped, as in the
example (tfnq edge-pads to a multiple of 64, so the two agree on such sizes only).
For a soft-rounding tfnq model the reference is the rounding codec with its weights
(its hyperprior tables come from the same `DeepFactorized`, without soft rounding).

    model = from_tfnq(tfnq_model)          # same weights, coding tables built
    export(model, "/tmp/ref")               # tf.saved_model.save
    codec = ReferenceCodec("/tmp/ref")     # .compress(uint8 HxWx3) -> bytes, .decompress
"""

import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow.core.protobuf import saved_model_pb2

from tfnq import export as tfnq_export
from tfnq import layers, layout, models

__all__ = [
    "ReferenceCodec",
    "TRANSFORMS",
    "TFCReferenceHyperprior",
    "export",
    "from_tfnq",
    "gdn_generic_path",
    "pack",
    "restore_tfnq_model",
    "unpack",
]

# dtypes of the tensors `compress` returns and `decompress` takes.
TENSOR_DTYPES = (tf.string, tf.string, tf.int32, tf.int32, tf.int32)


def _mean_and_scale_index(params, y_shape):
    """Hyper-synthesis output -> (mean, scale index), cropped to the latents."""
    mean, scale_index = tf.split(params, 2, axis=-1)
    return (mean[:, :y_shape[0], :y_shape[1], :],
            scale_index[:, :y_shape[0], :y_shape[1], :])


# The transforms by kernel evaluation: tfnq's transforms (one matrix product per RDFT
# kernel), or the same classes with tfc's own `SignalConv2D`, which computes each
# kernel with `tf.signal.irfft2d` on every call, as tfc's example models do. The
# variables are the same.
_TFNQ_TRANSFORMS = (layers.AnalysisTransform, layers.SynthesisTransform,
                    layers.HyperAnalysisTransform, layers.HyperSynthesisTransform)
TRANSFORMS = {
    "tfnq": _TFNQ_TRANSFORMS,
    "tfc": tuple(type(cls.__name__, (cls,), {"conv_layer": tfc.SignalConv2D})
                 for cls in _TFNQ_TRANSFORMS),
}


class TFCReferenceHyperprior(tf.keras.Model):
    """Mean-scale hyperprior with tfc's entropy models (bmshj2018 example style)."""

    def __init__(self, num_filters, num_latents, num_scales=64, scale_min=0.11,
                 scale_max=256.0, kernels="tfc"):
        """Initializer.

        Args:
          num_filters: `N`.
          num_latents: `M`.
          num_scales: Size of the scale grid.
          scale_min: Smallest scale.
          scale_max: Largest scale.
          kernels: "tfc" (tfc's `SignalConv2D`, as in tfc's examples) or "tfnq"
            (tfnq's, with the kernels by matrix product): see `TRANSFORMS`.
        """
        super().__init__(name="tfc_reference")
        self.num_filters = int(num_filters)
        self.num_latents = int(num_latents)
        self.num_scales = int(num_scales)
        offset = math.log(scale_min)
        factor = (math.log(scale_max) - offset) / (self.num_scales - 1.0)
        self.scale_fn = lambda i: tf.math.exp(offset + factor * i)
        n, m = self.num_filters, self.num_latents
        analysis, synthesis, hyper_analysis, hyper_synthesis = TRANSFORMS[kernels]
        self.analysis_transform = analysis(n, m)
        self.synthesis_transform = synthesis(n, m)
        self.hyper_analysis_transform = hyper_analysis(n, m)
        self.hyper_synthesis_transform = hyper_synthesis(n, m)
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
        # bmshj2018 calls `self.build((None, None, None, 3))`, which traces `call` in a
        # graph; building the transforms directly creates the same variables eagerly.
        self.analysis_transform.build((None, None, None, 3))
        self.synthesis_transform.build((None, None, None, m))
        self.hyper_analysis_transform.build((None, None, None, m))
        self.hyper_synthesis_transform.build((None, None, None, n))
        self.built = True

    def call(self, x, training):
        """Bits per pixel and MSE (0-255) of a float `[B, H, W, 3]` batch in 0-255."""
        entropy_model = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal, self.num_scales, self.scale_fn, coding_rank=3,
            compression=False)
        side_entropy_model = tfc.ContinuousBatchedEntropyModel(
            self.hyperprior, coding_rank=3, compression=False, offset_heuristic=False)
        y = self.analysis_transform(x / 255.0)
        z = self.hyper_analysis_transform(y)
        z_hat, side_bits = side_entropy_model(z, training=training)
        mean, scale_index = _mean_and_scale_index(self.hyper_synthesis_transform(z_hat),
                                        tf.shape(y)[1:-1])
        y_hat, bits = entropy_model(y, scale_index, loc=mean, training=training)
        x_hat = 255.0 * self.synthesis_transform(y_hat)
        x_hat = x_hat[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
        num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), bits.dtype)
        bpp = (tf.reduce_sum(bits) + tf.reduce_sum(side_bits)) / num_pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return bpp, mse

    def prepare_coding(self):
        """Fixes the range coding tables (bmshj2018 does this at the end of `fit`)."""
        self.entropy_model = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal, self.num_scales, self.scale_fn, coding_rank=3,
            compression=True)
        self.side_entropy_model = tfc.ContinuousBatchedEntropyModel(
            self.hyperprior, coding_rank=3, compression=True, offset_heuristic=False)

    def _analyze(self, x):
        x = tf.cast(tf.expand_dims(x, 0), tf.float32)
        y = self.analysis_transform(x / 255.0)
        z = self.hyper_analysis_transform(y)
        return x, y, z

    def _synthesize(self, y_hat, x_shape):
        x_hat = 255.0 * self.synthesis_transform(y_hat)
        x_hat = x_hat[0, :x_shape[0], :x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat), tf.uint8)

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def compress(self, x):
        """Compresses an image -> `(string, side_string, x_shape, y_shape, z_shape)`."""
        x, y, z = self._analyze(x)
        x_shape = tf.shape(x)[1:-1]
        y_shape = tf.shape(y)[1:-1]
        z_shape = tf.shape(z)[1:-1]
        z_hat = self.side_entropy_model.quantize(z)
        mean, scale_index = _mean_and_scale_index(self.hyper_synthesis_transform(z_hat), y_shape)
        side_string = self.side_entropy_model.compress(z)
        string = self.entropy_model.compress(y, scale_index, loc=mean)
        return string, side_string, x_shape, y_shape, z_shape

    @tf.function(input_signature=[
        tf.TensorSpec(shape=(1,), dtype=tf.string),
        tf.TensorSpec(shape=(1,), dtype=tf.string),
        tf.TensorSpec(shape=(2,), dtype=tf.int32),
        tf.TensorSpec(shape=(2,), dtype=tf.int32),
        tf.TensorSpec(shape=(2,), dtype=tf.int32),
    ])
    def decompress(self, string, side_string, x_shape, y_shape, z_shape):
        """Decompresses an image."""
        z_hat = self.side_entropy_model.decompress(side_string, z_shape)
        mean, scale_index = _mean_and_scale_index(self.hyper_synthesis_transform(z_hat), y_shape)
        y_hat = self.entropy_model.decompress(string, scale_index, loc=mean)
        return self._synthesize(y_hat, x_shape)

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def reconstruct(self, x):
        """The encoder's own reconstruction (quantization without coding)."""
        x, y, z = self._analyze(x)
        y_shape = tf.shape(y)[1:-1]
        z_hat = self.side_entropy_model.quantize(z)
        mean, scale_index = _mean_and_scale_index(self.hyper_synthesis_transform(z_hat), y_shape)
        del scale_index
        y_hat = self.entropy_model.quantize(y, loc=mean)
        return self._synthesize(y_hat, tf.shape(x)[1:-1])


def _copy_variables(source, target, what):
    source, target = list(source), list(target)
    if len(source) != len(target):
        raise ValueError(f"{what}: {len(source)} variables in the source, "
                         f"{len(target)} in the target")
    for s, t in zip(source, target, strict=True):
        if s.shape != t.shape or s.name.split("/")[-2:] != t.name.split("/")[-2:]:
            raise ValueError(f"{what}: {s.name} {s.shape} does not match {t.name} {t.shape}")
        t.assign(s)


def from_tfnq(model, prepare_coding=True, kernels="tfc"):
    """A reference with the transforms and hyperprior weights of a tfnq hyperprior.

    Args:
      model: A `tfnq.MeanScaleHyperprior`.
      prepare_coding: Build the coding tables (after the weights are copied).
      kernels: "tfc" or "tfnq" (see `TFCReferenceHyperprior`).
    """
    reference = TFCReferenceHyperprior(
        model.num_filters, model.num_latents, num_scales=model.num_scales,
        scale_min=model.scale_min, scale_max=model.scale_max, kernels=kernels)
    for name in ("analysis", "synthesis", "hyper_analysis", "hyper_synthesis"):
        _copy_variables(getattr(model, name).variables,
                        getattr(reference, name + "_transform").variables, name)
    _copy_variables(model.hyper_base_prior.variables, reference.hyperprior.base.variables,
                    "hyperprior")
    if prepare_coding:
        reference.prepare_coding()
    return reference


def restore_tfnq_model(path):
    """The `tfnq.MeanScaleHyperprior` of an exported tfnq model, weights restored."""
    model = tfnq_export.restore_model(path)
    if not isinstance(model, models.MeanScaleHyperprior):
        raise ValueError(f"{path} is not a tfnq hyperprior ({model.architecture})")
    return model


def gdn_generic_path(path):
    """Whether a SavedModel's compress/decompress run tfc.GDN's generic `x ** alpha` path.

    `tfc.GDN` takes `|x|` (and no power for `epsilon == 1`) when `self.alpha == 1` is
    true at tracing time; in a process that first imported TensorFlow inside an absl
    `main`, tensor `==` is object identity in traced functions, the test is False and
    the graph computes `x ** 1 = x` instead of `|x|`, with two `Pow` ops per GDN layer.
    Those `Pow` ops in a GDN scope are what this looks for.
    """
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(layout.version_dir(path), "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for function in saved_model.meta_graphs[0].graph_def.library.function:
        if function.signature.name.startswith(("__inference_compress_",
                                               "__inference_decompress_")):
            if any(node.op == "Pow" and "gdn_" in node.name for node in function.node_def):
                return True
    return False


def export(reference, path):
    """Writes the reference as a SavedModel (`tf.saved_model.save`)."""
    # Keras saves a model only once it has been called (bmshj2018's is, by `fit`).
    reference(tf.zeros([1, 64, 64, 3]), training=False)
    tf.saved_model.save(reference, path)
    return path


def pack(tensors):
    """`compress` outputs -> bytes of a file (`tfc.PackedTensors`, as in bmshj2018)."""
    packed = tfc.PackedTensors()
    packed.pack(tensors)
    return packed.string


def unpack(data):
    """Bytes of a file -> the tensors `decompress` takes."""
    return tfc.PackedTensors(data).unpack(TENSOR_DTYPES)


class ReferenceCodec:
    """A loaded reference SavedModel: numpy images in, bytes out, and back."""

    def __init__(self, path):
        self.path = path
        self._module = tf.saved_model.load(path)

    def compress_tensors(self, image):
        """uint8 `[H, W, 3]` -> the tensors of the `compress` function (no packing)."""
        return self._module.compress(image)

    def decompress_tensors(self, tensors):
        return self._module.decompress(*tensors)

    def compress(self, image):
        """uint8 `[H, W, 3]` -> bytes."""
        return pack(self._module.compress(np.asarray(image)))

    def decompress(self, data):
        """bytes -> uint8 `[H, W, 3]`."""
        return self._module.decompress(*unpack(data)).numpy()

    def reconstruct(self, image):
        return self._module.reconstruct(np.asarray(image)).numpy()
