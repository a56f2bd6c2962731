"""tensorflow-compression's `SignalConv2D` with a fast RDFT kernel.

`SignalConv2D` below is `tfc.SignalConv2D` unchanged -- same variables, names,
initialization, padding and checkpoints -- except that an RDFT-parameterized kernel
(`kernel_parameter="rdft"`, the default) is computed with `tfnq.ops.irdft_kernel`,
one matrix product, instead of `tf.signal.irfft2d` per channel pair. That makes the
kernels nearly free to recompute on every call, which is what a SavedModel's
`compress` and `decompress` and every training step do.
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.ops import rdft

__all__ = ["SignalConv2D"]


@tf.keras.utils.register_keras_serializable(package="tfnq")
class SignalConv2D(tfc.SignalConv2D):
    """`tfc.SignalConv2D` whose RDFT kernel is one `MatMul` (see `tfnq.ops.rdft`)."""

    @property
    def kernel(self):
        parameter = self.kernel_parameter
        if not isinstance(parameter, tfc.RDFTParameter):
            return super().kernel
        kernel = rdft.irdft_kernel(parameter.real, parameter.imag, parameter.shape)
        return tf.cast(kernel, self.compute_dtype)
