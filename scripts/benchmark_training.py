"""Training throughput of the hyperprior: tfnq's training step against a plain tfc loop.

    python scripts/benchmark_training.py --train_glob=../shared/data/train

Every configuration runs in its own process (thread counts and dtype policies are
process-wide in TensorFlow), on synthetic batches of `--batch_size` random
`--patch_size` crops, timing `--steps` steps after `--warmup` steps. Configurations:

* `tfc`: the same model coded the way tfc's `bmshj2018` example trains
  (`tfnq.evaluation.tfc_reference`: `ContinuousBatchedEntropyModel` +
  `LocationScaleIndexedEntropyModel`, one Adam, `tf.function` step);
* `tfnq`: `tfnq.training.Trainer` with `MeanScaleHyperprior` in mode UN;
* `tfnq-sr-e`: the same in mode UN+UQ+SR+E (soft rounding, expected gradients);
* `tfnq-1thread`: one intra-op and one inter-op thread;
* `tfnq-2proc`: two one-thread processes at once (total steps/s; how we train);
* `tfc-xla` / `tfnq-xla`: the step compiled with XLA (`jit_compile=True`);
* `transforms-fp32` / `transforms-bf16`: analysis + synthesis only, float32 against
  Keras' `mixed_bfloat16` policy (the CPU has AVX-512 BF16);
* `pipeline`: the `tf.data` input pipeline alone (batches/s from `--train_glob`).

Prints a Markdown table.
"""

import json
import os
import subprocess
import sys
import time

from tfnq import runtime

runtime.configure()

import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("configs", [
    "tfc", "tfnq", "tfnq-sr-e", "tfnq-1thread", "tfnq-2proc", "tfc-xla", "tfnq-xla",
    "transforms-fp32", "transforms-bf16", "pipeline"], "Configurations to run.")
flags.DEFINE_integer("num_filters", 64, "N.")
flags.DEFINE_integer("num_latents", 96, "M.")
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("patch_size", 128, "Crop size.")
flags.DEFINE_integer("steps", 20, "Timed steps.")
flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing).")
flags.DEFINE_string("train_glob", None, "Images for the `pipeline` configuration.")
flags.DEFINE_string("run", None, "Internal: run one configuration and print JSON.")

LMBDA = 0.01


def _batch():
    return tf.random.uniform(
        [FLAGS.batch_size, FLAGS.patch_size, FLAGS.patch_size, 3], 0, 255, seed=0)


def _time_steps(step, x):
    for _ in range(FLAGS.warmup):
        step(x)
    t = time.perf_counter()
    for _ in range(FLAGS.steps):
        out = step(x)
    float(out)  # Wait for the last step.
    return FLAGS.steps / (time.perf_counter() - t)


def _plain_step(model, jit):
    """As bmshj2018's `train_step`: loss, tape, Adam on all trainable variables."""
    optimizer = tf.keras.optimizers.Adam(1e-4)

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            bpp, mse = model(x, training=True)[:2]
            loss = bpp + LMBDA * mse
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss
    return step


def _tfnq_step(soft_round, jit):
    import tfnq
    from tfnq import training
    model = tfnq.MeanScaleHyperprior(
        FLAGS.num_filters, FLAGS.num_latents, soft_round=soft_round,
        expected_grads=soft_round, alpha=8.0)
    if jit:
        return _plain_step(model, jit=True)
    trainer = training.Trainer(model, training.Schedule(num_steps=10**6, lmbda=LMBDA))
    return lambda x: trainer.train_step(x)["loss"]


def _tfc_step(jit):
    from tfnq.evaluation import tfc_reference
    return _plain_step(
        tfc_reference.TFCReferenceHyperprior(FLAGS.num_filters, FLAGS.num_latents), jit)


def _transforms_step(bf16):
    from tfnq import layers
    if bf16:
        tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    analysis = layers.AnalysisTransform(FLAGS.num_filters, FLAGS.num_latents)
    synthesis = layers.SynthesisTransform(FLAGS.num_filters, FLAGS.num_latents)
    optimizer = tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = analysis(x / 255.0)
            x_hat = tf.cast(synthesis(y), tf.float32) * 255.0
            loss = tf.reduce_mean(tf.square(x - x_hat)) + tf.reduce_mean(
                tf.abs(tf.cast(y, tf.float32)))
        variables = analysis.trainable_variables + synthesis.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss
    return step


def _pipeline_rate():
    from tfnq import data
    files = data.list_files(FLAGS.train_glob)
    dataset = iter(data.make_train_dataset(
        files, patch_size=FLAGS.patch_size, batch_size=FLAGS.batch_size, seed=0))
    for _ in range(FLAGS.warmup):
        next(dataset)
    t = time.perf_counter()
    n = 5 * FLAGS.steps
    for _ in range(n):
        next(dataset)
    return n / (time.perf_counter() - t)


def run_one(config):
    """Steps (or batches) per second of one configuration, in this process."""
    if config == "tfnq-1thread":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if config == "pipeline":
        return _pipeline_rate()
    steps = {
        "tfc": lambda: _tfc_step(jit=False),
        "tfc-xla": lambda: _tfc_step(jit=True),
        "tfnq": lambda: _tfnq_step(soft_round=False, jit=False),
        "tfnq-1thread": lambda: _tfnq_step(soft_round=False, jit=False),
        "tfnq-sr-e": lambda: _tfnq_step(soft_round=True, jit=False),
        "tfnq-xla": lambda: _tfnq_step(soft_round=False, jit=True),
        "transforms-fp32": lambda: _transforms_step(bf16=False),
        "transforms-bf16": lambda: _transforms_step(bf16=True),
    }
    return _time_steps(steps[config](), _batch())


def _spawn(config):
    args = [sys.executable, os.path.abspath(__file__), f"--run={config}"] + [
        f"--{name}={FLAGS[name].value}" for name in
        ("num_filters", "num_latents", "batch_size", "patch_size", "steps", "warmup")]
    if FLAGS.train_glob:
        args.append(f"--train_glob={FLAGS.train_glob}")
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _result(process):
    out, _ = process.communicate()
    if process.returncode:
        return None
    return json.loads(out.strip().splitlines()[-1])["rate"]


def main(argv):
    del argv
    if FLAGS.run:
        print(json.dumps(dict(config=FLAGS.run, rate=run_one(FLAGS.run))))
        return
    print(f"N={FLAGS.num_filters}, M={FLAGS.num_latents}, batch {FLAGS.batch_size} of "
          f"{FLAGS.patch_size} px, {FLAGS.steps} timed steps after {FLAGS.warmup}; "
          f"{os.cpu_count()} CPU cores\n")
    print("| configuration | steps/s | s/step | vs tfc |\n|---|---|---|---|")
    reference = None
    for config in FLAGS.configs:
        if config == "pipeline" and not FLAGS.train_glob:
            continue
        if config == "tfnq-2proc":
            processes = [_spawn("tfnq-1thread") for _ in range(2)]
            rates = [_result(p) for p in processes]
            rate = None if None in rates else sum(rates)
        else:
            rate = _result(_spawn(config))
        if config == "tfc":
            reference = rate
        if rate is None:
            print(f"| {config} | failed | | |", flush=True)
            continue
        unit = "batches/s" if config == "pipeline" else ""
        ratio = f"{rate / reference:.2f}x" if reference and config.startswith("tfnq") else ""
        print(f"| {config} | {rate:.2f} {unit} | {1 / rate:.3f} | {ratio} |", flush=True)


if __name__ == "__main__":
    sys.exit(app.run(main))
