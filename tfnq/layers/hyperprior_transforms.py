"""The four transforms of the mean-scale hyperprior.

The (non-autoregressive) "Mean & Scale Hyperprior" of

> "Joint Autoregressive and Hierarchical Priors for Learned Image Compression"<br />
> D. Minnen, J. Ballé, G. Toderici, NeurIPS 2018 (arXiv:1809.02736)

as used by Agustsson & Theis (NeurIPS 2020, Sec. 5.1), built from tfc's
`SignalConv2D` and `GDN` the way tensorflow-compression's example models do it
(`tfnq.layers.SignalConv2D`: tfc's layer, with its RDFT kernel computed by one
matrix product):

* analysis `f`: four 5x5 stride-2 convolutions, GDN between them (`N`, `N`, `N`, `M`);
* synthesis `g`: four 5x5 stride-2 transposed convolutions, inverse GDN between them;
* hyper-analysis `h`: 3x3 stride 1, 5x5 stride 2, 5x5 stride 2 (`N` channels),
  leaky ReLU between them;
* hyper-synthesis: 5x5 up 2 (`N`), 5x5 up 2 (`3N/2`), 3x3 (`2M`: mean and scale
  index of each latent), leaky ReLU between them.
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.layers.signal_conv import SignalConv2D

__all__ = [
    "AnalysisTransform",
    "HyperAnalysisTransform",
    "HyperSynthesisTransform",
    "SynthesisTransform",
]


class _Transform(tf.keras.Sequential):
    """A stack of `SignalConv2D` layers with its configuration."""

    # The convolution layer class: `tfnq.layers.SignalConv2D` (tfc's layer with a fast
    # RDFT kernel). A subclass may set `tfc.SignalConv2D`; the variables are the same.
    conv_layer = SignalConv2D

    def __init__(self, num_filters, num_latents, name):
        super().__init__(name=name)
        self.num_filters = int(num_filters)
        self.num_latents = int(num_latents)
        for layer in self._layers_for(self.num_filters, self.num_latents):
            self.add(layer)

    def get_config(self):
        return dict(num_filters=self.num_filters, num_latents=self.num_latents,
                    name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _conv(self, filters, kernel, stride, activation, name, transpose=False):
        return self.conv_layer(
            filters, (kernel, kernel), name=name, corr=not transpose,
            strides_down=1 if transpose else stride, strides_up=stride if transpose else 1,
            padding="same_zeros", use_bias=True, activation=activation)


class AnalysisTransform(_Transform):
    """`f`: image (`[B, H, W, 3]`, 0-1) -> latents `[B, H/16, W/16, M]`."""

    def __init__(self, num_filters, num_latents, name="analysis"):
        super().__init__(num_filters, num_latents, name)

    def _layers_for(self, n, m):
        return [
            self._conv(n, 5, 2, tfc.GDN(name="gdn_0"), "layer_0"),
            self._conv(n, 5, 2, tfc.GDN(name="gdn_1"), "layer_1"),
            self._conv(n, 5, 2, tfc.GDN(name="gdn_2"), "layer_2"),
            self._conv(m, 5, 2, None, "layer_3"),
        ]


class SynthesisTransform(_Transform):
    """`g`: latents `[B, h, w, M]` -> image `[B, 16h, 16w, 3]` (0-1)."""

    def __init__(self, num_filters, num_latents, name="synthesis"):
        super().__init__(num_filters, num_latents, name)

    def _layers_for(self, n, m):
        del m
        return [
            self._conv(n, 5, 2, tfc.GDN(name="igdn_0", inverse=True), "layer_0", transpose=True),
            self._conv(n, 5, 2, tfc.GDN(name="igdn_1", inverse=True), "layer_1", transpose=True),
            self._conv(n, 5, 2, tfc.GDN(name="igdn_2", inverse=True), "layer_2", transpose=True),
            self._conv(3, 5, 2, None, "layer_3", transpose=True),
        ]


class HyperAnalysisTransform(_Transform):
    """`h`: latents `[B, h, w, M]` -> hyper-latents `[B, h/4, w/4, N]`."""

    def __init__(self, num_filters, num_latents, name="hyper_analysis"):
        super().__init__(num_filters, num_latents, name)

    def _layers_for(self, n, m):
        del m
        return [
            self._conv(n, 3, 1, tf.nn.leaky_relu, "layer_0"),
            self._conv(n, 5, 2, tf.nn.leaky_relu, "layer_1"),
            self._conv(n, 5, 2, None, "layer_2"),
        ]


class HyperSynthesisTransform(_Transform):
    """Hyper-latents `[B, h, w, N]` -> `[B, 4h, 4w, 2M]`: mean and scale index per latent."""

    def __init__(self, num_filters, num_latents, name="hyper_synthesis"):
        super().__init__(num_filters, num_latents, name)

    def _layers_for(self, n, m):
        return [
            self._conv(n, 5, 2, tf.nn.leaky_relu, "layer_0", transpose=True),
            self._conv(n * 3 // 2, 5, 2, tf.nn.leaky_relu, "layer_1", transpose=True),
            self._conv(2 * m, 3, 1, None, "layer_2", transpose=True),
        ]
