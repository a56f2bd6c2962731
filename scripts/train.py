"""Trains a tfnq codec and exports it as SavedModels.

Example (the linear codec in its three modes, see README):

    python scripts/train.py --model=linear --mode=UN --lmbda=0.01 \
      --train_glob='../shared/data/train/*/*.jpg' --checkpoint_dir=/tmp/tfnq/linear_un \
      --export_dir=saved_models --name=linear-un-0.01

Training is resumable: rerun the same command and it continues from the latest
checkpoint in --checkpoint_dir. Progress goes to stdout and TensorBoard
(--checkpoint_dir/logs).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import tfnq  # noqa: E402
from tfnq import data, export, training  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "linear", ["linear", "hyperprior"], "Architecture.")
flags.DEFINE_string(
    "mode", "UN",
    "Training mode: 'UN' (uniform noise; exports UN+Q and UN+UQ) or 'UN+UQ+SR' "
    "(soft rounding in the noise channel). Append '+E' for expected gradients.")
flags.DEFINE_float("lmbda", 0.01, "Rate-distortion trade-off: loss = bpp + lmbda * MSE (0-255).")
flags.DEFINE_list("lambda_decay", [],
                  "Fractions of --num_steps after which lambda is multiplied by "
                  "--lambda_decay_factor (paper, linear: 0.05,0.1 of 2M steps).")
flags.DEFINE_float("lambda_decay_factor", 0.5, "Factor for --lambda_decay.")
flags.DEFINE_float("alpha_start", 1.0, "Soft-rounding alpha at the first step.")
flags.DEFINE_float("alpha_end", 16.0, "Alpha at the last step (linear annealing).")
flags.DEFINE_integer("warmup_steps", 0, "Density-only warm-up steps.")
flags.DEFINE_integer("patch_size", 128, "Crop size.")
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("num_steps", 10000, "Training steps.")
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate.")
flags.DEFINE_float("density_learning_rate", None,
                   "Learning rate of the density model (default: --learning_rate).")
flags.DEFINE_float("lr_decay_at", 0.8, "Fraction of --num_steps after which the LR decays.")
flags.DEFINE_float("lr_decay_factor", 0.1, "Learning-rate decay factor.")
flags.DEFINE_string("train_glob", None, "Glob, folder, or comma list of them.")
flags.DEFINE_string("checkpoint_dir", None, "Where checkpoints and logs go (outside the repo).")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", 100, "Steps between progress lines.")
flags.DEFINE_string("export_dir", None, "Export SavedModels here at the end (optional).")
flags.DEFINE_string("name", None, "Model name for export (default: from the flags).")
flags.DEFINE_enum("init", "orthogonal", ["orthogonal", "jpeg"], "Linear codec init.")
flags.DEFINE_bool("paired_init", True, "Synthesis starts as the inverse of the analysis.")
flags.DEFINE_float("init_step", 8.0, "Initial quantization step of the linear codec.")
flags.DEFINE_integer("num_filters", 128, "Hyperprior: channels N (hidden layers, hyper-latents).")
flags.DEFINE_integer("num_latents", 192, "Hyperprior: channels M of the latents.")
flags.DEFINE_string("init_from", None,
                    "Start from the weights of the latest checkpoint in this folder (e.g. a "
                    "model trained at another lambda); ignored when resuming.")
flags.DEFINE_integer("seed", 0, "Seed for initialization and data order.")
flags.DEFINE_integer("threads", 0, "Intra-op threads (0: TensorFlow's default).")
flags.mark_flags_as_required(["train_glob", "checkpoint_dir"])


def parse_mode(mode):
    m = mode.upper().replace(" ", "")
    expected_grads = m.endswith("+E")
    if expected_grads:
        m = m[:-2]
    if m in ("UN", "UN+Q", "UN+UQ"):
        return False, expected_grads
    if m == "UN+UQ+SR":
        return True, expected_grads
    raise app.UsageError(f"--mode must be UN or UN+UQ+SR (optionally +E), not {mode!r}")


def build_model(soft_round, expected_grads):
    if FLAGS.model == "linear":
        return tfnq.LinearCodec(
            init=FLAGS.init, paired_init=FLAGS.paired_init, init_step=FLAGS.init_step,
            soft_round=soft_round, expected_grads=expected_grads,
            alpha=FLAGS.alpha_start, seed=FLAGS.seed)
    if FLAGS.model == "hyperprior":
        return tfnq.MeanScaleHyperprior(
            num_filters=FLAGS.num_filters, num_latents=FLAGS.num_latents,
            soft_round=soft_round, expected_grads=expected_grads, alpha=FLAGS.alpha_start)
    raise app.UsageError(f"unknown --model {FLAGS.model}")


def main(argv):
    del argv
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    tf.random.set_seed(FLAGS.seed)
    soft_round, expected_grads = parse_mode(FLAGS.mode)
    model = build_model(soft_round, expected_grads)
    n = FLAGS.num_steps
    schedule = training.Schedule(
        num_steps=n, lmbda=FLAGS.lmbda,
        lambda_decay_steps=tuple(int(float(f) * n) for f in FLAGS.lambda_decay),
        lambda_decay_factor=FLAGS.lambda_decay_factor,
        learning_rate=FLAGS.learning_rate, density_learning_rate=FLAGS.density_learning_rate,
        lr_decay_step=int(FLAGS.lr_decay_at * n), lr_decay_factor=FLAGS.lr_decay_factor,
        warmup_steps=FLAGS.warmup_steps,
        alpha_start=FLAGS.alpha_start if soft_round else 1.0,
        alpha_end=FLAGS.alpha_end if soft_round else 1.0)
    trainer = training.Trainer(model, schedule)

    os.makedirs(FLAGS.checkpoint_dir, exist_ok=True)
    ckpt = tf.train.Checkpoint(model=model, optimizer=trainer.optimizer,
                               density_optimizer=trainer.density_optimizer,
                               step=trainer.step, skipped=trainer.skipped)
    manager = tf.train.CheckpointManager(ckpt, FLAGS.checkpoint_dir, max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("Resumed from %s at step %d", manager.latest_checkpoint,
                     int(trainer.step.numpy()))
    elif FLAGS.init_from:
        source = tf.train.latest_checkpoint(FLAGS.init_from)
        if source is None:
            raise app.UsageError(f"--init_from: no checkpoint in {FLAGS.init_from}")
        tf.train.Checkpoint(model=model).restore(source).assert_existing_objects_matched(
        ).expect_partial()
        model.alpha.assign(FLAGS.alpha_start)
        logging.info("Initialized the model from %s", source)
    flags_path = os.path.join(FLAGS.checkpoint_dir, "flags.json")
    with open(flags_path, "w") as f:
        json.dump({k: FLAGS[k].value for k in FLAGS if k in _OUR_FLAGS}, f, indent=1)
    with open(os.path.join(FLAGS.checkpoint_dir, "model.json"), "w") as f:
        json.dump(dict(architecture=model.architecture, config=model.get_config()), f, indent=1)

    files = data.list_files(FLAGS.train_glob)
    logging.info("%d training images", len(files))
    dataset = data.make_train_dataset(
        files, patch_size=FLAGS.patch_size, batch_size=FLAGS.batch_size, seed=FLAGS.seed)
    writer = tf.summary.create_file_writer(os.path.join(FLAGS.checkpoint_dir, "logs"))

    step = int(trainer.step.numpy())
    t0, s0 = time.time(), step
    sums = dict(loss=0.0, bpp=0.0, mse=0.0)
    count = 0
    for x in dataset:
        if step >= n:
            break
        out = trainer.train_step(x)
        step += 1
        for k in sums:
            sums[k] += float(out[k])
        count += 1
        if step % FLAGS.log_every == 0 or step == n:
            means = {k: v / count for k, v in sums.items()}
            rate = (step - s0) / (time.time() - t0)
            psnr = 10 * tf.math.log(255.0**2 / means["mse"]).numpy() / tf.math.log(10.0).numpy()
            print(f"step {step}/{n}  loss {means['loss']:.4f}  bpp {means['bpp']:.4f}  "
                  f"mse {means['mse']:.2f} ({psnr:.2f} dB)  lambda {schedule.lmbda_at(step):.4g}  "
                  f"alpha {float(model.alpha.numpy()):.2f}  {rate:.2f} steps/s  "
                  f"skipped {int(trainer.skipped.numpy())}", flush=True)
            with writer.as_default(step=step):
                for k, v in means.items():
                    tf.summary.scalar(k, v)
                tf.summary.scalar("psnr", psnr)
                tf.summary.scalar("alpha", float(model.alpha.numpy()))
                tf.summary.scalar("steps_per_second", rate)
            sums = dict(loss=0.0, bpp=0.0, mse=0.0)
            count = 0
            t0, s0 = time.time(), step
        if step % FLAGS.checkpoint_every == 0:
            manager.save(checkpoint_number=step)
    manager.save(checkpoint_number=step)

    if FLAGS.export_dir:
        name = FLAGS.name or f"{FLAGS.model}-{FLAGS.lmbda:g}"
        for path in export.export_trained(model, FLAGS.export_dir, name, FLAGS.checkpoint_dir,
                                          steps=step):
            print(f"exported {path}")


_OUR_FLAGS = [
    "model", "mode", "lmbda", "lambda_decay", "lambda_decay_factor", "alpha_start",
    "alpha_end", "warmup_steps", "patch_size", "batch_size", "num_steps", "learning_rate",
    "density_learning_rate", "lr_decay_at", "lr_decay_factor", "train_glob", "checkpoint_dir",
    "init", "paired_init", "init_step", "num_filters", "num_latents", "init_from", "seed"]

if __name__ == "__main__":
    sys.exit(app.run(main))
