"""Evaluates exported tfnq models on a folder of images.

    python scripts/evaluate.py --models=linear-0.016-un-q,linear-0.016-un-uq \
      --eval_dir=../shared/data/valid --output=docs/results/linear_valid.json

For every image: the real file size (bpp, container included), RGB PSNR against the
original, encode and decode times, the estimated bits of the latents, and whether the
decoded image is bit-identical to the encoder-side reconstruction. Writes one JSON
file (per-image rows and per-model means) and prints a Markdown table of the means.
With --update_metadata the means are stored in each model's `tfnq.json`
(`evaluation`), which `tfnq models` shows.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Model names (in the models folder) or paths.")
flags.DEFINE_string("eval_dir", None, "Folder, glob or comma list of images.")
flags.DEFINE_string("output", None, "JSON output path.")
flags.DEFINE_bool("update_metadata", False, "Store mean results in each model's metadata.")
flags.DEFINE_string("dataset_name", None, "Name of the set for the metadata (default: folder).")
flags.mark_flags_as_required(["models", "eval_dir"])


def evaluate(codec, files, read_image, psnr):
    """Per-image results of one codec."""
    rows = []
    for path in files:
        image = read_image(path)
        h, w = image.shape[:2]
        t = time.perf_counter()
        data = codec.compress(image)
        encode_time = time.perf_counter() - t
        t = time.perf_counter()
        decoded = codec.decompress(data)
        decode_time = time.perf_counter() - t
        rows.append(dict(
            image=os.path.basename(path), height=h, width=w, bytes=len(data),
            bpp=8 * len(data) / (h * w), psnr=psnr(image, decoded),
            estimated_bpp=codec.estimate_bits(image) / (h * w),
            encode_seconds=encode_time, decode_seconds=decode_time,
            bit_exact=bool((decoded == codec.reconstruct(image)).all())))
    return rows


def summarize(rows):
    """Means over images (PSNR averaged per image, as is usual for Kodak-style tables)."""
    keys = ["bpp", "psnr", "estimated_bpp", "encode_seconds", "decode_seconds"]
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    out["bit_exact"] = all(r["bit_exact"] for r in rows)
    out["images"] = len(rows)
    return out


def main(argv):
    del argv
    from tfnq import data, export, image_io, registry

    files = data.list_files(FLAGS.eval_dir)
    dataset = FLAGS.dataset_name or os.path.basename(os.path.normpath(FLAGS.eval_dir))
    results = dict(dataset=dataset, eval_dir=FLAGS.eval_dir, models={})
    print("| model | mode | lambda | bpp | PSNR (dB) | est. bpp | encode (s) | decode (s) "
          "| bit-exact |\n|---|---|---|---|---|---|---|---|---|")
    for name in FLAGS.models:
        path = registry.resolve(name)
        codec = export.load(path)
        codec.compress(image_io.read_image(files[0])[:8, :8])  # trace once
        rows = evaluate(codec, files, image_io.read_image, image_io.psnr)
        mean = summarize(rows)
        lmbda = codec.metadata.get("training", {}).get("lmbda")
        results["models"][codec.name] = dict(
            path=path, mode=codec.mode, architecture=codec.metadata.get("architecture"),
            lmbda=lmbda, training_steps=codec.metadata.get("training", {}).get("steps"),
            mean=mean, images=rows)
        print(f"| {codec.name} | {codec.mode} | {lmbda} | {mean['bpp']:.4f} | "
              f"{mean['psnr']:.2f} | {mean['estimated_bpp']:.4f} | "
              f"{mean['encode_seconds']:.3f} | {mean['decode_seconds']:.3f} | "
              f"{mean['bit_exact']} |", flush=True)
        if FLAGS.update_metadata:
            meta_path = os.path.join(path, export.METADATA_PATH)
            with open(meta_path) as f:
                metadata = json.load(f)
            metadata["evaluation"] = dict(dataset=dataset, bpp=mean["bpp"], psnr=mean["psnr"],
                                          images=mean["images"])
            tmp = meta_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(metadata, f, indent=2)
            os.replace(tmp, meta_path)
    if FLAGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        with open(FLAGS.output, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    sys.exit(app.run(main))
