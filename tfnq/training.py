"""Training schedules, the training step shared by all tfnq codecs, and validation.

Schedules follow Sec. 5.2 of Agustsson & Theis, NeurIPS 2020: a density-only
warm-up (transforms frozen), lambda decayed by a factor at given steps, the learning
rate decayed once, and alpha annealed linearly (1 -> 16 over the whole run). Two
additions for runs much shorter than the paper's: a linear ramp of the learning
rates whenever an optimizer starts afresh (its moment estimates are empty), and
optional clipping of the transforms' gradients by their global norm.
"""

import dataclasses
import math
import types

import numpy as np
import tensorflow as tf

from tfnq.models import padding

__all__ = [
    "Schedule",
    "Trainer",
    "make_strategy",
    "validate",
]


@dataclasses.dataclass
class Schedule:
    """Step-dependent hyperparameters.

    Attributes:
      num_steps: Total training steps.
      lmbda: Initial rate-distortion trade-off (loss = bpp + lambda * MSE, 0-255 units).
      lambda_decay_steps: Steps after which lambda is multiplied by `lambda_decay_factor`.
      lambda_decay_factor: Factor applied at each of those steps.
      learning_rate: Initial learning rate.
      density_learning_rate: Learning rate of the density model (defaults to
        `learning_rate`; a larger one lets the density track the transforms in short runs).
      rate_learning_rate: Learning rate of a variable-rate model's per-rate parameters
        (its gains; defaults to `learning_rate`). Each rate's gains are updated in its
        own turn only, a sixth of the steps for six rates.
      lr_decay_step: Step after which the learning rate is multiplied by `lr_decay_factor`.
      lr_decay_factor: That factor.
      warmup_steps: Steps during which only the density model is trained.
      alpha_start: Soft-rounding alpha at step 0.
      alpha_end: Alpha at the last step (linear annealing).
      lr_ramp_steps: The learning rates ramp up linearly over this many steps after
        the optimizers start (at step 0, or when a run resumes from exported weights
        with fresh optimizers: `Trainer.optimizer_start`).
      clip_norm: Clip the transforms' gradients to this global norm (None: off).
    """

    num_steps: int
    lmbda: float
    lambda_decay_steps: tuple = ()
    lambda_decay_factor: float = 0.5
    learning_rate: float = 1e-4
    density_learning_rate: float = None
    rate_learning_rate: float = None
    lr_decay_step: int = 0
    lr_decay_factor: float = 0.1
    warmup_steps: int = 0
    alpha_start: float = 1.0
    alpha_end: float = 16.0
    lr_ramp_steps: int = 0
    clip_norm: float = None

    def lmbda_at(self, step):
        n = sum(1 for s in self.lambda_decay_steps if step >= s)
        return self.lmbda * self.lambda_decay_factor ** n

    def learning_rate_at(self, step, group="transforms", optimizer_start=0):
        """The learning rate of a variable group ("transforms", "density" or "rates")."""
        own = dict(density=self.density_learning_rate, rates=self.rate_learning_rate)
        lr = own.get(group)
        if lr is None:
            lr = self.learning_rate
        if self.lr_decay_step and step >= self.lr_decay_step:
            lr *= self.lr_decay_factor
        if self.lr_ramp_steps:
            lr *= min(1.0, (step - optimizer_start + 1) / self.lr_ramp_steps)
        return lr

    def alpha_at(self, step):
        frac = min(max(step / max(self.num_steps - 1, 1), 0.0), 1.0)
        return self.alpha_start + (self.alpha_end - self.alpha_start) * frac

    def transforms_frozen(self, step):
        return step < self.warmup_steps


class Trainer(tf.Module):
    """Minimizes `bpp + lambda * MSE` for a codec with the `call` contract of tfnq models.

    The model's `call(x, training=True)` returns `(bpp, mse, x_hat)`, and it exposes
    `transform_variables` and `density_variables` (and a variable-rate model
    `rate_variables`). Each group has an Adam optimizer of its own (`optimizer`,
    `density_optimizer`, `rate_optimizer`) with its learning rate; the density-only
    warm-up freezes transforms and rate parameters, and clipping applies to the
    transforms.

    Besides the optimizers, the trainer's state (checkpointed with it) holds `step`,
    `skipped` (steps with a non-finite loss or gradient, not applied),
    `optimizer_start` (the step at which the optimizers' state began, for the
    learning-rate ramp) and `cpu_seconds` (process CPU time spent training, summed
    over resumptions; kept by the caller).

    Under a `tf.distribute` strategy (create the model and the trainer inside its
    `scope()`, and feed batches from `strategy.experimental_distribute_dataset`), every
    replica computes the gradient of its share of the global batch, the gradients are
    summed across replicas before clipping, the finiteness check and the update, so a
    step equals the step of one device on the whole batch; the reported loss, bpp and
    MSE are the means over the global batch.
    """

    GROUPS = ("transforms", "density", "rates")

    def __init__(self, model, schedule, strategy=None):
        super().__init__(name="trainer")
        self.model = model
        self.schedule = schedule
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.optimizer = tf.keras.optimizers.Adam(learning_rate=schedule.learning_rate)
            self.density_optimizer = tf.keras.optimizers.Adam(
                learning_rate=schedule.learning_rate_at(0, "density"))
            self.rate_optimizer = tf.keras.optimizers.Adam(
                learning_rate=schedule.learning_rate_at(0, "rates"))
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped")
            self.optimizer_start = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="optimizer_start")
            self.cpu_seconds = tf.Variable(
                0.0, dtype=tf.float64, trainable=False, name="cpu_seconds")
            # Slots for every variable now: a step may update only some of them (one
            # rate of a variable-rate model), and a traced step cannot create the
            # others later.
            for optimizer, variables in zip(self.optimizers, self._variables(), strict=True):
                optimizer.build(variables)
        # rate -> the variables its steps train, as the replica step found them while
        # being traced (outside tf.Module's tracking).
        self._traced = types.SimpleNamespace(trained={})

    @property
    def optimizers(self):
        """The optimizers of the variable groups, in `GROUPS` order."""
        return [self.optimizer, self.density_optimizer, self.rate_optimizer]

    def _variables(self):
        return [self.model.transform_variables, self.model.density_variables,
                list(getattr(self.model, "rate_variables", []))]

    @tf.function
    def _train_step(self, x, lmbda, transform_gain, clip_norm, rate):
        out = self.strategy.run(self._replica_step,
                                args=(x, lmbda, transform_gain, clip_norm, rate))
        # The update, in cross-replica context: the gradients (and the decision) are
        # the same on every replica; Keras' optimizers cannot be called inside a
        # conditional in replica context.
        trained = self._traced.trained[rate]

        def apply():
            for optimizer, grads, variables in zip(self.optimizers, out["grads"], trained,
                                                   strict=True):
                if variables:
                    optimizer.apply_gradients(zip(grads, variables, strict=True),
                                              skip_gradients_aggregation=True)
            return tf.constant(0, tf.int64)

        finite = self.strategy.experimental_local_results(out["finite"])[0]
        self.skipped.assign_add(tf.cond(finite, apply, lambda: tf.constant(1, tf.int64)))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, out[k], axis=None)
                for k in ("loss", "bpp", "mse")}

    def _replica_step(self, x, lmbda, transform_gain, clip_norm, rate):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        rate_args = {} if rate is None else dict(rate=rate)
        groups = self._variables()
        with tf.GradientTape() as tape:
            bpp, mse, _ = self.model(x, training=True, **rate_args)
            loss = bpp + lmbda * mse
            share = loss / replicas  # Summed over replicas: the global batch's mean.
        # Variables that do not take part (another rate's gains and density) have no
        # gradient and are left alone, optimizer slots included.
        grads = tape.gradient(share, sum(groups, []))
        trained, group_grads, k = [], [], 0
        for variables in groups:
            kept, kept_grads = _with_gradients(variables, grads[k:k + len(variables)])
            k += len(variables)
            trained.append(kept)
            group_grads.append(kept_grads)
        self._traced.trained[rate] = trained
        # The gradient of the mean loss over the global batch, on every replica.
        flat = context.all_reduce(tf.distribute.ReduceOp.SUM, sum(group_grads, []))
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in flat])
        finite_losses = context.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.cast(tf.math.is_finite(loss), tf.int32))
        finite = tf.logical_and(finite, tf.equal(finite_losses, replicas))
        sizes = [len(g) for g in group_grads]
        transform_grads = [g * transform_gain for g in flat[:sizes[0]]]
        density_grads = flat[sizes[0]:sizes[0] + sizes[1]]
        rate_grads = [g * transform_gain for g in flat[sizes[0] + sizes[1]:]]
        # Not tf.clip_by_global_norm, which gives NaN for an infinite clip_norm (off).
        scale = tf.minimum(1.0, clip_norm / tf.linalg.global_norm(transform_grads))
        transform_grads = [g * scale for g in transform_grads]
        return dict(loss=loss, bpp=bpp, mse=mse, finite=finite,
                    grads=[transform_grads, density_grads, rate_grads])

    def rate_at(self, step):
        """The rate a variable-rate model trains at `step` (they take turns), or None."""
        lambdas = getattr(self.model, "lambdas", None)
        return step % len(lambdas) if lambdas else None

    def train_step(self, x):
        """One optimization step with the schedule's hyperparameters at the current step.

        A variable-rate model trains rate `step % num_rates` with its own lambda (times
        the schedule's lambda decay, if any).
        """
        step = int(self.step.numpy())
        start = int(self.optimizer_start.numpy())
        s = self.schedule
        for group, optimizer in zip(self.GROUPS, self.optimizers, strict=True):
            optimizer.learning_rate.assign(
                s.learning_rate_at(step, group, optimizer_start=start))
        if hasattr(self.model, "alpha"):
            self.model.alpha.assign(s.alpha_at(step))
        gain = 0.0 if s.transforms_frozen(step) else 1.0
        clip = s.clip_norm if s.clip_norm else math.inf
        rate = self.rate_at(step)
        lmbda = s.lmbda_at(step)
        if rate is not None:
            lmbda = self.model.lambdas[rate] * lmbda / s.lmbda
        out = self._train_step(x, tf.constant(lmbda, tf.float32), tf.constant(gain, tf.float32),
                               tf.constant(clip, tf.float32), rate)
        return dict(out, rate=rate, lmbda=lmbda)


def make_strategy(name):
    """A `tf.distribute` strategy by name.

    Args:
      name: "default" (one device), "mirrored" (every local GPU, or the CPU: one
        process, synchronous data parallelism) or "multi_worker" (synchronous data
        parallelism over the workers `TF_CONFIG` describes, each with its local devices).

    Returns:
      The strategy; `num_replicas_in_sync` replicas share each global batch.
    """
    if name in (None, "", "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r} (default, mirrored or multi_worker)")


def _with_gradients(variables, grads):
    """The variables that have a gradient, and their gradients."""
    pairs = [(v, g) for v, g in zip(variables, grads, strict=True) if g is not None]
    return [v for v, _ in pairs], [g for _, g in pairs]


def validate(model, images, mode, rate=None):
    """Estimated rate and distortion of a model's test-time `mode` on whole images.

    The quick check of a run's progress (no entropy coding): each image is padded as
    the codec pads it, run through `model(x, training=False, mode=mode)`, and its
    reconstruction cropped and rounded to uint8 as the decoder does. The bits are the
    information content under the model's densities, within a fraction of a percent
    of real files for hyperprior models (docs/hyperprior.md).

    Args:
      model: A tfnq model (`downsampling` attribute and the `call` contract).
      images: uint8 arrays `[H, W, 3]`.
      mode: Test-time mode name.
      rate: The rate of a variable-rate model.

    Returns:
      dict with the means over images of `bpp` (bits over the image's own pixels) and
      `psnr` (dB, RGB), as `scripts/evaluate.py` averages them.
    """
    bpp, psnr = [], []
    for image in images:
        height, width = image.shape[:2]
        x = padding.pad_image(image, model.downsampling)
        rate_args = {} if rate is None else dict(rate=rate)
        mean_bpp, _, x_hat = model(x, training=False, mode=mode, **rate_args)
        bits = float(mean_bpp) * int(x.shape[1]) * int(x.shape[2])
        decoded = padding.crop_to_image(x_hat, height, width).numpy()
        error = np.mean(np.square(decoded.astype(np.float64) - image.astype(np.float64)))
        bpp.append(bits / (height * width))
        psnr.append(10 * math.log10(255.0 ** 2 / max(error, 1e-10)))
    return dict(bpp=float(np.mean(bpp)), psnr=float(np.mean(psnr)))
