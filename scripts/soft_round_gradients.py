"""How large the soft-round adapted density's gradients get as alpha grows.

    python scripts/soft_round_gradients.py --alphas=4,8,12,14,15,16

For `Y ~ N(0, 0.3)` (a typical latent scale), the density of `s_alpha(Y) + U` (Eq. 22 of
Agustsson & Theis, NeurIPS 2020) is evaluated on a fine grid of `z` in float32 and
float64; the script prints, per alpha, the largest |d log p / dz| in each precision,
how many float32 gradients are not finite, and the largest float32 error of `log p`
and of `s_alpha^{-1}`. Near the half-integers `s_alpha^{-1}` is an `atanh` close to its
poles, and its slope grows without bound with alpha: the gradients the rate sends into
the transforms and densities grow by orders of magnitude past alpha of about 12 (the
soft-rounding base run `base-sr-b` diverged as alpha passed 14: docs/campaign/).
"""


from tfnq import runtime

runtime.configure(log_level="2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from absl import app, flags  # noqa: E402

from tfnq import distributions, ops  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("alphas", ["4", "8", "12", "14", "15", "16"], "Soft-rounding sharpness values.")
flags.DEFINE_float("scale", 0.3, "Scale of the Gaussian base density.")
flags.DEFINE_integer("points", 60001, "Grid points on [-3, 3].")


def _evaluate(alpha, dtype):
    base = tfp.distributions.Normal(tf.constant(0.0, dtype), tf.constant(FLAGS.scale, dtype))
    density = distributions.noisy_density(base, tf.constant(alpha, dtype))
    z = tf.constant(np.linspace(-3, 3, FLAGS.points), dtype)
    with tf.GradientTape() as tape:
        tape.watch(z)
        log_prob = density.log_prob(z)
    grad = tape.gradient(log_prob, z)
    inverse = ops.soft_round_inverse(z, tf.constant(alpha, dtype))
    return log_prob.numpy(), grad.numpy(), inverse.numpy()


def main(argv):
    del argv
    print("| alpha | max abs d log p / dz, float32 | float64 | non-finite float32 gradients "
          "| max float32 error of log p | of s^-1 |")
    print("|---|---|---|---|---|---|")
    for alpha in (float(a) for a in FLAGS.alphas):
        lp32, g32, i32 = _evaluate(alpha, tf.float32)
        lp64, g64, i64 = _evaluate(alpha, tf.float64)
        finite = np.isfinite(g32)
        print(f"| {alpha:g} | {np.abs(g32[finite]).max():.4g} | {np.abs(g64).max():.4g} | "
              f"{int((~finite).sum())} | {np.nanmax(np.abs(lp32 - lp64)):.2g} | "
              f"{np.abs(i32 - i64).max():.2g} |")


if __name__ == "__main__":
    app.run(main)
