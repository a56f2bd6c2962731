"""A mean-scale hyperprior that codes at several rates with one set of transforms.

Every rate `r` has its own trade-off `lambda_r` and per-channel gains, after the gain
units of

> "Asymmetric Gained Deep Image Compression With Continuous Rate Adaptation"<br />
> Z. Cui, J. Wang, S. Gao, T. Guo, Y. Feng, B. Bai, CVPR 2021

and the per-rate quantization bin sizes of Choi, El-Khamy & Lee (ICCV 2019, ref. [9]
of Agustsson & Theis, NeurIPS 2020). The channel of `MeanScaleHyperprior` becomes

    v_r = h(y) * hg_r                                  hyper-latents, density p_r
    w_hat = r_alpha(s_alpha(v_r) + u_1) * ihg_r
    mu, sigma = hyper_synthesis(w_hat)
    z = s_alpha((y - mu) * g_r) + u_2                  coded given N(0, sigma * g_r)
    x_hat = g(r_alpha(z) * ig_r + mu)

i.e. the latents are quantized with a step `1 / g_r` per channel around the predicted
mean (a larger gain: finer steps, more bits), the decoder rescales with its own
inverse gains `ig_r`, and the hyper-latents have gains, inverse gains and a deep
factorized density of their own per rate. Without soft rounding `r` and `s` are the
identity, as in `MeanScaleHyperprior`. The analysis, synthesis and hyper transforms
are shared by all rates, so every training step improves every rate.

Training draws one rate per batch (the trainer cycles through them) and minimizes
`bits + lambda_r * MSE`. A rate's parameters only get gradients from its own batches.
For coding, `prepare_coding(mode, rate=r)` builds the tables of rate `r` (the
Gaussian tables are the same for every rate; the hyper-latents' are the rate's own).
"""

import collections
import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.models.hyperprior import MeanScaleHyperprior

__all__ = ["VariableRateHyperprior"]

Gains = collections.namedtuple(
    "Gains", ["latent", "latent_inverse", "hyper", "hyper_inverse", "log_latent"])


class VariableRateHyperprior(MeanScaleHyperprior):
    """Mean-scale hyperprior with per-rate gains: one model, several rates."""

    architecture = "variable_rate_hyperprior"

    def __init__(self, lambdas=(0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483),
                 reference_lambda=0.013, **kwargs):
        """Initializer.

        Args:
          lambdas: The trade-off of each rate (loss = bits + lambda * MSE, 0-255 units),
            in increasing order.
          reference_lambda: The lambda at which the gains are one at initialization;
            rate `r` starts with latent gains `sqrt(lambda_r / reference_lambda)`, the
            step a high-rate uniform quantizer would scale by (its distortion is
            `step^2 / 12` and its rate falls by one bit per doubling of the step).
          **kwargs: `MeanScaleHyperprior` arguments.
        """
        values = [float(x) for x in lambdas]
        if not values or values != sorted(set(values)):
            raise ValueError(f"lambdas must be increasing and distinct, not {lambdas}")
        super().__init__(**kwargs)
        self.lambdas = tuple(values)
        self.reference_lambda = float(reference_lambda)
        n, m = self.num_filters, self.num_latents
        # Rate 0 uses the density the fixed-rate model has; the others get their own.
        self.hyper_base_priors, self.hyper_priors = [self.hyper_base_prior], [self.hyper_prior]
        self.log_latent_gains, self.log_latent_inverse_gains = [], []
        self.log_hyper_gains, self.log_hyper_inverse_gains = [], []
        for r, lmbda in enumerate(self.lambdas):
            if r:
                base = tfc.DeepFactorized(batch_shape=[n], name=f"hyper_prior_{r}")
                self.hyper_base_priors.append(base)
                self.hyper_priors.append(self.latent_codec.channel.density(base))
            log_gain = 0.5 * math.log(lmbda / self.reference_lambda)
            self.log_latent_gains.append(
                tf.Variable(tf.fill([m], log_gain), name=f"log_latent_gain_{r}"))
            self.log_latent_inverse_gains.append(
                tf.Variable(tf.fill([m], -log_gain), name=f"log_latent_inverse_gain_{r}"))
            self.log_hyper_gains.append(
                tf.Variable(tf.zeros([n]), name=f"log_hyper_gain_{r}"))
            self.log_hyper_inverse_gains.append(
                tf.Variable(tf.zeros([n]), name=f"log_hyper_inverse_gain_{r}"))

    @property
    def num_rates(self):
        return len(self.lambdas)

    def get_config(self):
        config = super().get_config()
        config.update(lambdas=list(self.lambdas), reference_lambda=self.reference_lambda)
        return config

    @property
    def rate_variables(self):
        """Every rate's gains (the shared transforms are `transform_variables`)."""
        return (self.log_latent_gains + self.log_latent_inverse_gains + self.log_hyper_gains
                + self.log_hyper_inverse_gains)

    @property
    def density_variables(self):
        """Every rate's hyper-latent density."""
        return [v for base in self.hyper_base_priors for v in base.trainable_variables]

    def _check_rate(self, rate):
        if rate is None or not 0 <= int(rate) < self.num_rates:
            raise ValueError(f"A variable-rate model needs a rate in 0..{self.num_rates - 1}, "
                             f"not {rate!r}")
        return int(rate)

    def _hyper_density(self, rate):
        return self.hyper_priors[self._check_rate(rate)]

    def _gains(self, rate):
        r = self._check_rate(rate)
        return Gains(
            latent=tf.exp(self.log_latent_gains[r]),
            latent_inverse=tf.exp(self.log_latent_inverse_gains[r]),
            hyper=tf.exp(self.log_hyper_gains[r]),
            hyper_inverse=tf.exp(self.log_hyper_inverse_gains[r]),
            log_latent=self.log_latent_gains[r])

    def lmbda(self, rate):
        """The trade-off of `rate`."""
        return self.lambdas[self._check_rate(rate)]

    @property
    def coding_parameters(self):
        """What the exported codec fixes besides the mode: the rate and its lambda."""
        if self.coding_rate is None:
            return {}
        return dict(rate=int(self.coding_rate), lmbda=self.lambdas[self.coding_rate])

    def initialize_from(self, source):
        """Starts from a trained fixed-rate `MeanScaleHyperprior` of the same size.

        The transforms are copied, and every rate's hyper-latent density starts as the
        source's (the gains keep their initialization).
        """
        if type(source) is not MeanScaleHyperprior or (
                source.num_filters, source.num_latents) != (self.num_filters, self.num_latents):
            raise ValueError(f"cannot initialize a {type(self).__name__} "
                             f"({self.num_filters}, {self.num_latents}) from {source!r}")
        pairs = [(self.analysis, source.analysis), (self.synthesis, source.synthesis),
                 (self.hyper_analysis, source.hyper_analysis),
                 (self.hyper_synthesis, source.hyper_synthesis)]
        pairs += [(base, source.hyper_base_prior) for base in self.hyper_base_priors]
        for target, origin in pairs:
            for t, o in zip(target.variables, origin.variables, strict=True):
                t.assign(o)
