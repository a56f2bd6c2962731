"""Trains a tfnq codec and exports it as SavedModels.

Example (the linear codec in its three modes, see README):

    python scripts/train.py --model=linear --mode=UN --lmbda=0.01 \
      --train_glob='../shared/data/train/*/*.jpg' --checkpoint_dir=/tmp/tfnq/linear_un \
      --export_dir=saved_models --name=linear-un-0.01

Training is resumable: rerun the same command and it continues from the latest
checkpoint in --checkpoint_dir. If that folder has no checkpoint (e.g. on a new
machine), --resume_from=<export> continues the run from the weights, step and CPU
time of one of its exports, with fresh optimizers whose learning rates ramp up over
--lr_ramp_steps. Progress goes to stdout and TensorBoard (--checkpoint_dir/logs);
with --eval_glob, the estimated rate and PSNR on those images at every --eval_every
steps, with the training means and the CPU hours so far, are appended to the CSV
learning curve --curve. `scripts/campaign.py` runs this script for every run of
the training campaign.
"""

import collections
import csv
import fcntl
import io
import itertools
import json
import math
import os
import signal
import sys
import time

from tfnq import runtime

runtime.configure(log_level="2")

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import tfnq  # noqa: E402
from tfnq import atomic_write, coding_config, data, export, image_io, layout, training  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "linear", ["linear", "hyperprior", "variable_rate_hyperprior"],
                  "Architecture.")
flags.DEFINE_string(
    "mode", "UN",
    "Training mode: 'UN' (uniform noise; exports UN+Q and UN+UQ) or 'UN+UQ+SR' "
    "(soft rounding in the noise channel). Append '+E' for expected gradients.")
flags.DEFINE_float("lmbda", 0.01, "Rate-distortion trade-off: loss = bpp + lmbda * MSE (0-255).")
flags.DEFINE_list("lambdas", ["0.0018", "0.0035", "0.0067", "0.013", "0.025", "0.0483"],
                  "variable_rate_hyperprior: the lambda of each rate (the rates take turns; "
                  "--lmbda is then only the reference for the lambda decay).")
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
flags.DEFINE_float("rate_learning_rate", None,
                   "variable_rate_hyperprior: learning rate of the per-rate gains "
                   "(default: --learning_rate).")
flags.DEFINE_float("density_learning_rate", None,
                   "Learning rate of the density model (default: --learning_rate).")
flags.DEFINE_float("lr_decay_at", 0.8, "Fraction of --num_steps after which the LR decays.")
flags.DEFINE_float("lr_decay_factor", 0.1, "Learning-rate decay factor.")
flags.DEFINE_integer("lr_ramp_steps", 0,
                     "Ramp both learning rates up linearly over this many steps whenever the "
                     "optimizers start afresh (a new run, or --resume_from).")
flags.DEFINE_float("clip_norm", None, "Clip the transforms' gradients to this global norm.")
flags.DEFINE_string("train_glob", None, "Glob, folder, or comma list of them.")
flags.DEFINE_string("checkpoint_dir", None, "Where checkpoints and logs go (outside the repo).")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", 100, "Steps between progress lines.")
flags.DEFINE_string("export_dir", None,
                    "Export SavedModels here at the end (optional), as version <step>.")
flags.DEFINE_list("export_at", [], "Also export at these steps (milestones).")
flags.DEFINE_string("name", None, "Model name for export (default: from the flags).")
flags.DEFINE_string("run", None, "Name of the campaign run (recorded in exports).")
flags.DEFINE_string("resume_from", None,
                    "An export of this run to continue from when --checkpoint_dir holds no "
                    "checkpoint: its weights, step and CPU time, with fresh optimizers.")
flags.DEFINE_string("eval_glob", None, "Validation images (glob, folder or list).")
flags.DEFINE_integer("eval_every", 5000, "Steps between validation points.")
flags.DEFINE_list("eval_modes", [],
                  "Test-time modes to validate (default: the first the run exports).")
flags.DEFINE_string("curve", None,
                    "CSV learning curve (default: --checkpoint_dir/curve.csv when "
                    "--eval_glob is set).")
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
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy: one device; every local GPU (or the CPU); or the "
                  "workers of TF_CONFIG. --batch_size is the global batch, split evenly over "
                  "the replicas; the learning rate is not scaled.")
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
    hyperprior = dict(num_filters=FLAGS.num_filters, num_latents=FLAGS.num_latents,
                      soft_round=soft_round, expected_grads=expected_grads,
                      alpha=FLAGS.alpha_start)
    if FLAGS.model == "hyperprior":
        return tfnq.MeanScaleHyperprior(**hyperprior)
    if FLAGS.model == "variable_rate_hyperprior":
        return tfnq.VariableRateHyperprior(
            lambdas=[float(x) for x in FLAGS.lambdas], reference_lambda=FLAGS.lmbda,
            **hyperprior)
    raise app.UsageError(f"unknown --model {FLAGS.model}")


def main(argv):
    del argv
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    tf.random.set_seed(FLAGS.seed)
    soft_round, expected_grads = parse_mode(FLAGS.mode)
    strategy = training.make_strategy(FLAGS.strategy)
    replicas = strategy.num_replicas_in_sync
    if FLAGS.batch_size % replicas:
        raise app.UsageError(f"--batch_size {FLAGS.batch_size} (the global batch) must be a "
                             f"multiple of the {replicas} replicas")
    chief = _is_chief(strategy)
    logging.info("Strategy %s: %d replicas, %d examples each", type(strategy).__name__,
                 replicas, FLAGS.batch_size // replicas)
    with strategy.scope():
        model = build_model(soft_round, expected_grads)
    n = FLAGS.num_steps
    schedule = training.Schedule(
        num_steps=n, lmbda=FLAGS.lmbda,
        lambda_decay_steps=tuple(int(float(f) * n) for f in FLAGS.lambda_decay),
        lambda_decay_factor=FLAGS.lambda_decay_factor,
        learning_rate=FLAGS.learning_rate, density_learning_rate=FLAGS.density_learning_rate,
        rate_learning_rate=FLAGS.rate_learning_rate,
        lr_decay_step=int(FLAGS.lr_decay_at * n), lr_decay_factor=FLAGS.lr_decay_factor,
        warmup_steps=FLAGS.warmup_steps, lr_ramp_steps=FLAGS.lr_ramp_steps,
        clip_norm=FLAGS.clip_norm,
        alpha_start=FLAGS.alpha_start if soft_round else 1.0,
        alpha_end=FLAGS.alpha_end if soft_round else 1.0)
    trainer = training.Trainer(model, schedule, strategy=strategy)

    # Every worker saves (collective ops), only the chief into --checkpoint_dir.
    checkpoint_dir = FLAGS.checkpoint_dir if chief else os.path.join(
        FLAGS.checkpoint_dir, f".worker-{strategy.cluster_resolver.task_id}")
    os.makedirs(checkpoint_dir, exist_ok=True)
    lock = lock_folder(checkpoint_dir)  # noqa: F841  (held until the process exits)
    ckpt = tf.train.Checkpoint(model=model, optimizer=trainer.optimizer,
                               density_optimizer=trainer.density_optimizer,
                               rate_optimizer=trainer.rate_optimizer,
                               step=trainer.step, skipped=trainer.skipped,
                               optimizer_start=trainer.optimizer_start,
                               cpu_seconds=trainer.cpu_seconds)
    manager = tf.train.CheckpointManager(ckpt, checkpoint_dir, max_to_keep=2)
    # Every worker resumes from the chief's checkpoint (a folder they all see).
    latest = tf.train.latest_checkpoint(FLAGS.checkpoint_dir)
    if latest:
        tf.train.Checkpoint(model=model, optimizer=trainer.optimizer,
                            density_optimizer=trainer.density_optimizer, step=trainer.step,
                            skipped=trainer.skipped).restore(
            latest).assert_existing_objects_matched().expect_partial()
        # Older checkpoints may lack these (then 0, and a fresh rate optimizer).
        tf.train.Checkpoint(optimizer_start=trainer.optimizer_start,
                            cpu_seconds=trainer.cpu_seconds,
                            rate_optimizer=trainer.rate_optimizer).restore(latest).expect_partial()
        logging.info("Resumed from %s at step %d", latest, int(trainer.step.numpy()))
    elif FLAGS.resume_from:
        resume_from_export(model, trainer, FLAGS.resume_from)
    elif FLAGS.init_from:
        initialize_from(model, FLAGS.init_from)
        model.alpha.assign(FLAGS.alpha_start)
    if chief:
        with open(os.path.join(FLAGS.checkpoint_dir, "flags.json"), "w") as f:
            json.dump({k: FLAGS[k].value for k in FLAGS if k in _OUR_FLAGS}, f, indent=1)
        with open(os.path.join(FLAGS.checkpoint_dir, "model.json"), "w") as f:
            json.dump(dict(architecture=model.architecture, config=model.get_config()), f,
                      indent=1)

    files = data.list_files(FLAGS.train_glob)
    logging.info("%d training images", len(files))
    dataset = data.make_train_dataset(
        files, patch_size=FLAGS.patch_size, batch_size=FLAGS.batch_size, seed=FLAGS.seed)
    if FLAGS.strategy not in ("", "default"):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))
    writer = tf.summary.create_file_writer(os.path.join(checkpoint_dir, "logs"))

    step = int(trainer.step.numpy())
    curve = Curve(model, step) if FLAGS.eval_glob and chief else None
    export_steps = {int(s) for s in FLAGS.export_at}
    cpu = CpuClock(trainer)
    t0, s0 = time.time(), step
    sums = dict(loss=0.0, bpp=0.0, mse=0.0)
    count = 0
    per_rate = collections.defaultdict(lambda: [0, 0.0, 0.0])  # rate -> count, bpp, mse
    stop = []
    signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    for x in dataset:
        if step >= n:
            break
        if stop:  # Keep what was trained, then stop (rerun to continue).
            cpu.hours()
            manager.save(checkpoint_number=step)
            logging.info("Stopped at step %d (checkpoint saved)", step)
            return 3
        out = trainer.train_step(x)
        step += 1
        for k in sums:
            sums[k] += float(out[k])
        count += 1
        if out["rate"] is not None:
            acc = per_rate[out["lmbda"]]
            acc[0] += 1
            acc[1] += float(out["bpp"])
            acc[2] += float(out["mse"])
        if curve:
            curve.add(out)
            if step % FLAGS.eval_every == 0 or step == n:
                curve.write(step, cpu.hours())
        if step in export_steps and step < n and FLAGS.export_dir and chief:
            export_run(model, step, cpu.hours())
        if step % FLAGS.log_every == 0 or step == n:
            means = {k: v / count for k, v in sums.items()}
            rate = (step - s0) / (time.time() - t0)
            psnr = 10 * tf.math.log(255.0**2 / means["mse"]).numpy() / tf.math.log(10.0).numpy()
            print(f"step {step}/{n}  loss {means['loss']:.4f}  bpp {means['bpp']:.4f}  "
                  f"mse {means['mse']:.2f} ({psnr:.2f} dB)  lambda {schedule.lmbda_at(step):.4g}  "
                  f"alpha {float(model.alpha.numpy()):.2f}  {rate:.2f} steps/s  "
                  f"skipped {int(trainer.skipped.numpy())}", flush=True)
            if per_rate:  # A variable-rate model: each rate's own means.
                print("  rates: " + "; ".join(
                    f"{lmbda:g}: {b / c:.4f} bpp {10 * math.log10(255.0**2 / (e / c)):.2f} dB"
                    for lmbda, (c, b, e) in sorted(per_rate.items())), flush=True)
                per_rate.clear()
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
            cpu.hours()
            manager.save(checkpoint_number=step)
    cpu_hours = cpu.hours()
    manager.save(checkpoint_number=step)
    if curve and curve.count:  # Steps since the last point (e.g. after a resume).
        curve.write(step, cpu_hours)

    if FLAGS.export_dir and chief:
        export_run(model, step, cpu_hours)


def _is_chief(strategy):
    """Whether this process writes the run's checkpoints, curve and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return "chief" not in cluster and resolver.task_type == "worker" and resolver.task_id == 0


def lock_folder(folder):
    """Holds `folder/.lock` for this process: two trainings never share a folder.

    The lock is an advisory `flock`, which the system releases when the process ends,
    however it ends.
    """
    handle = open(os.path.join(folder, ".lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise app.UsageError(f"{folder} is in use by another training process (pid {holder})"
                             ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def initialize_from(model, source):
    """Weights (only) from the latest checkpoint in a folder, or from an export.

    A source of another architecture (a fixed-rate hyperprior for a variable-rate one)
    is restored as what it is, and `model.initialize_from` takes what it can use.
    """
    checkpoint = tf.train.latest_checkpoint(source) if os.path.isdir(source) else None
    if checkpoint is None:
        try:
            metadata = layout.read_metadata(source)
            architecture, config = metadata["architecture"], metadata["config"]
        except layout.CodecError as e:
            raise app.UsageError(f"--init_from: no checkpoint or tfnq export in {source} "
                                 f"({e})") from None
    else:
        try:
            with open(os.path.join(source, "model.json")) as f:
                described = json.load(f)
            architecture, config = described["architecture"], described["config"]
        except (OSError, ValueError, KeyError):  # Checkpoints of tfnq 0.1 describe nothing.
            architecture, config = model.architecture, None
    if architecture == model.architecture:
        target = model
    else:
        target = tfnq.models.ARCHITECTURES[architecture](**config)
    if checkpoint is None:
        export.restore_weights(target, source)
    else:
        tf.train.Checkpoint(model=target).restore(checkpoint).assert_existing_objects_matched(
        ).expect_partial()
    if target is not model:
        model.initialize_from(target)
    logging.info("Initialized the model from %s", checkpoint or source)


def resume_from_export(model, trainer, path):
    """Continues a run from an export: weights, step and CPU time; fresh optimizers.

    Adam's moment estimates are not exported (they would double the size of every
    SavedModel), so the optimizers start empty at the export's step, and the schedule
    ramps their learning rates up again over --lr_ramp_steps from there.
    """
    try:
        metadata = layout.read_metadata(path)
        export.restore_weights(model, path)
    except layout.CodecError as e:
        raise app.UsageError(f"--resume_from: {e}") from None
    info = metadata.get("training", {})
    step = int(info.get("steps") or 0)
    trainer.step.assign(step)
    trainer.optimizer_start.assign(step)
    trainer.cpu_seconds.assign(3600.0 * float(info.get("cpu_hours") or 0.0))
    logging.info("Resumed from the export %s at step %d (fresh optimizers)",
                 metadata["path"], step)


def export_run(model, step, cpu_hours):
    name = FLAGS.name or f"{FLAGS.model}-{FLAGS.lmbda:g}"
    progress = dict(cpu_hours=round(cpu_hours, 4), run=FLAGS.run)
    for path in export.export_trained(model, FLAGS.export_dir, name, FLAGS.checkpoint_dir,
                                      steps=step, progress=progress, version=step):
        print(f"exported {path}", flush=True)


class CpuClock:
    """Process CPU time, summed into `trainer.cpu_seconds` (checkpointed)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.last = time.process_time()

    def hours(self):
        now = time.process_time()
        self.trainer.cpu_seconds.assign_add(now - self.last)
        self.last = now
        return float(self.trainer.cpu_seconds.numpy()) / 3600.0


class Curve:
    """The run's learning curve: a CSV row per validation point and mode.

    Columns: step, cpu_hours, lambda (of the row's rate), the training means since the
    previous point (loss, bpp, PSNR of the mean MSE, over all rates of a variable-rate
    model), the mode, and the estimated bpp and PSNR on
    --eval_glob (`tfnq.training.validate`). Rows past the step a run resumes from
    are dropped (they belong to steps that are being retrained).
    """

    FIELDS = ["step", "cpu_hours", "lmbda", "train_loss", "train_bpp", "train_psnr",
              "mode", "valid_bpp", "valid_psnr"]

    def __init__(self, model, step):
        self.model = model
        self.path = FLAGS.curve or os.path.join(FLAGS.checkpoint_dir, "curve.csv")
        self.images = [image_io.read_image(f) for f in data.list_files(FLAGS.eval_glob)]
        supported = [m.name for m in coding_config.PRESETS.values()
                     if m.soft_round == model.soft_round]
        self.modes = ([coding_config.get_coding_config(m).name for m in FLAGS.eval_modes]
                      or supported[:1])
        lambdas = getattr(model, "lambdas", None)
        self.rates = list(enumerate(lambdas)) if lambdas else [(None, FLAGS.lmbda)]
        rows = []
        if os.path.exists(self.path):
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self._write_rows(rows, "w")
        self.sums = dict(loss=0.0, bpp=0.0, mse=0.0)
        self.count = 0

    def add(self, out):
        for k in self.sums:
            self.sums[k] += float(out[k])
        self.count += 1

    def write(self, step, cpu_hours):
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        rows = []
        for (rate, lmbda), mode in itertools.product(self.rates, self.modes):
            valid = training.validate(self.model, self.images, mode, rate=rate)
            rows.append(dict(
                step=step, cpu_hours=f"{cpu_hours:.4f}", lmbda=f"{lmbda:g}",
                train_loss=f"{means['loss']:.4f}", train_bpp=f"{means['bpp']:.4f}",
                train_psnr=f"{10 * math.log10(255.0**2 / max(means['mse'], 1e-10)):.3f}",
                mode=mode, valid_bpp=f"{valid['bpp']:.4f}",
                valid_psnr=f"{valid['psnr']:.3f}"))
            print(f"valid step {step} {mode} lambda {lmbda:g}: {valid['bpp']:.4f} bpp, "
                  f"{valid['psnr']:.2f} dB", flush=True)
        self._write_rows(rows, "a")
        self.sums = dict(loss=0.0, bpp=0.0, mse=0.0)
        self.count = 0

    def _write_rows(self, rows, how):
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        if how == "w":  # Rewritten whole, atomically.
            atomic_write.write_bytes_atomic(
                self.path, _csv_text(rows, header=True).encode(), force=True)
            return
        with open(self.path, "a", newline="") as f:
            f.write(_csv_text(rows, header=False))


def _csv_text(rows, header):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=Curve.FIELDS, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


_OUR_FLAGS = [
    "model", "mode", "lmbda", "lambdas", "lambda_decay", "lambda_decay_factor", "alpha_start",
    "alpha_end", "warmup_steps", "patch_size", "batch_size", "num_steps", "learning_rate",
    "density_learning_rate", "rate_learning_rate", "lr_decay_at", "lr_decay_factor",
    "lr_ramp_steps", "clip_norm",
    "train_glob", "checkpoint_dir", "init", "paired_init", "init_step", "num_filters",
    "num_latents", "init_from", "resume_from", "run", "seed", "strategy"]

if __name__ == "__main__":
    sys.exit(app.run(main))
