"""Rate-distortion evaluation of tfnq models and classical codecs on a set of images.

    python scripts/evaluate.py --models=linear-0.016-un-q,linear-0.004-un-q \\
      --codecs=jpeg,webp --eval_dir=../shared/data/valid \\
      --output=docs/results/valid.json --plot=docs/results/valid.png \\
      --bd_anchor=JPEG --bd_anchor="linear UN+Q"

For every image and every model or codec setting: the real file size (bpp,
container included), RGB PSNR and MS-SSIM against the original, encode and
decode times; for tfnq models also the estimated bits of the latents and
whether the decoded image is bit-identical to the encoder-side reconstruction.

Output:

* `--output`: one JSON file in the schema of `tfnq.evaluation.results` (per-image
  rows and means of every model and codec setting), rewritten after each
  setting so that an interrupted run can be continued with `--resume`.
* stdout: Markdown tables of the means of every point and, for each
  `--bd_anchor`, the BD-rate / BD-PSNR of every other curve against it.
* `--plot`: a PNG with PSNR and MS-SSIM (dB) against bpp, one line per curve.
* `--update_metadata`: the means are stored in each model's `tfnq.json`
  (`evaluation`), which `tfnq models` shows.

Curves: a classical codec over its qualities (label "JPEG", "WebP", "JPEG 2000",
"AVIF", "JPEG XL", "HEIF"), and tfnq models grouped by architecture and mode
across lambdas (label e.g. "linear UN+Q").

Progress bars go to stderr.
"""

import json
import logging
import os
import sys

from tfnq import runtime

runtime.configure()

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", [], "tfnq model names (in the models folder) or paths.")
flags.DEFINE_list("codecs", [], "Classical codecs: jpeg, webp, jpeg2000, avif, jpegxl, heif, "
                  "or all.")
flags.DEFINE_multi_string(
    "qualities", [], "Quality sweep instead of a codec's default: 'CODEC:Q1,Q2,...' for one "
    "codec, or 'Q1,Q2,...' for every codec without its own; may be repeated.")
flags.DEFINE_string("eval_dir", None, "Folder, glob or comma list of images.")
flags.DEFINE_string("output", None, "JSON output path.")
flags.DEFINE_bool("resume", False, "Reuse the results in --output of settings already "
                  "evaluated on the same image files, and keep its other entries evaluated "
                  "on the same images.")
flags.DEFINE_multi_string("merge", [], "Further result files whose entries are added to the "
                          "tables, the BD table and the plot (not to --output).")
flags.DEFINE_string("plot", None, "PNG path for the rate-distortion plot.")
flags.DEFINE_multi_string("bd_anchor", [], "Curve label(s) to compute BD-rate and BD-PSNR "
                          "of every other curve against, e.g. JPEG or 'linear UN+Q'; "
                          "repeat or separate with commas.")
flags.DEFINE_enum("bd_method", "pchip", ["pchip", "cubic", "akima"],
                  "Interpolation for the Bjontegaard deltas (cubic: VCEG-M33).")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"],
                  "The tfnq models' decoder synthesis (tfnq.load's precision): with "
                  "bfloat16, each model is its own entry '<name> (bfloat16)' on the curve "
                  "'<curve> bfloat16'.")
flags.DEFINE_bool("update_metadata", False, "Store mean results in each model's metadata.")
flags.DEFINE_string("dataset_name", None, "Name of the set for tables, plot and metadata "
                    "(default: the folder name).")
flags.DEFINE_bool("progress", True, "Show progress bars on stderr.")


def _number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_qualities(specs, codecs):
    """Codec name -> quality list, from --qualities (defaults for the others).

    Raises:
        ValueError: For a bad number, a codec that is not evaluated or a quality
            out of a codec's range.
    """
    from tfnq.evaluation import classical
    common, specific = None, {}
    for spec in specs:
        name, sep, values = spec.rpartition(":")
        try:
            qualities = [_number(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"tfnq: bad --qualities {spec!r}: expected numbers") from None
        if not qualities:
            raise ValueError(f"tfnq: bad --qualities {spec!r}: no qualities")
        if sep:
            codec = classical.get_codec(name)
            if codec not in codecs:
                raise ValueError(f"tfnq: --qualities names {codec.name}, which is not in "
                                 "--codecs")
            specific[codec.name] = qualities
        else:
            common = qualities
    sweep = {}
    for codec in codecs:
        qualities = specific.get(codec.name) or common or list(codec.default_qualities)
        sweep[codec.name] = sorted({codec.check_quality(q) for q in qualities})
    return sweep


def _anchors():
    return [a.strip() for spec in FLAGS.bd_anchor for a in spec.split(",") if a.strip()]


def _model_metadata(name):
    """(path, metadata) of a model, without loading it."""
    from tfnq import layout, registry
    path = registry.resolve(name)
    try:
        with open(os.path.join(path, layout.METADATA_PATH)) as f:
            metadata = json.load(f)
    except (OSError, ValueError) as e:
        raise layout.CodecError(f"tfnq: {path} is not a tfnq model ({e})") from None
    if FLAGS.precision != "float32":  # Another decoder: an entry and curve of its own.
        from tfnq.evaluation import results
        metadata = dict(metadata, name=f"{metadata.get('name') or name} ({FLAGS.precision})",
                        curve=f"{results.tfnq_curve_label(metadata)} {FLAGS.precision}")
    return path, metadata


def _update_metadata(path, dataset, mean):
    from tfnq import atomic_write, layout
    meta_path = os.path.join(path, layout.METADATA_PATH)
    with open(meta_path) as f:
        metadata = json.load(f)
    metadata["evaluation"] = dict(dataset=dataset, bpp=mean["bpp"], psnr=mean["psnr"],
                                  ms_ssim=mean["ms_ssim"], images=mean["images"])
    atomic_write.write_bytes_atomic(
        meta_path, (json.dumps(metadata, indent=2) + "\n").encode("utf-8"), force=True)


class _Evaluation:
    """The result file being built: previous results to reuse, incremental saving."""

    def __init__(self, dataset, eval_dir, images, previous):
        from tfnq.evaluation import results
        self.results_lib = results
        self.keys = {item.key for item in images}
        self.previous = {}
        kept = []
        for entry in (previous or {}).get("entries", []):
            if {results.row_key(r) for r in entry["images"]} == self.keys:
                self.previous[entry["name"]] = entry
                kept.append(entry)
        dropped = len((previous or {}).get("entries", [])) - len(kept)
        if dropped:
            print(f"not keeping {dropped} entries of {FLAGS.output} that were evaluated on "
                  "other images (or image files that changed)", file=sys.stderr)
        self.results = results.new_results(dataset, eval_dir, kept)
        self.reused = 0

    def reuse(self, name, kind, settings):
        """Rows of an earlier run of the same settings, by image key."""
        entry = self.previous.get(name)
        if not entry or entry["kind"] != kind or not self.results_lib.same_settings(
                entry["settings"], settings):
            return {}
        rows = {self.results_lib.row_key(r): r for r in entry["images"]}
        self.reused += sum(key in rows for key in self.keys)
        return rows

    def add(self, entry):
        entries = self.results["entries"]
        names = [e["name"] for e in entries]
        if entry["name"] in names:
            entries[names.index(entry["name"])] = entry
        else:
            entries.append(entry)
        if FLAGS.output:
            self.results_lib.save_results(self.results, FLAGS.output)


def _bar(total, desc):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=True,
                disable=not FLAGS.progress, dynamic_ncols=True)


def run():
    from tfnq.evaluation import classical, plot, report, results, runner

    if not (FLAGS.models or FLAGS.codecs or FLAGS.merge):
        raise ValueError("tfnq: nothing to do: give --models, --codecs or --merge")
    if (FLAGS.models or FLAGS.codecs) and not FLAGS.eval_dir:
        raise ValueError("tfnq: --eval_dir is required with --models or --codecs")
    if FLAGS.update_metadata and FLAGS.precision != "float32":
        raise ValueError("tfnq: --update_metadata records float32 decoding only")
    if FLAGS.resume and not FLAGS.output:
        raise ValueError("tfnq: --resume needs --output (the results to continue)")

    codecs = classical.resolve_codecs(FLAGS.codecs)
    sweep = parse_qualities(FLAGS.qualities, codecs)
    from tfnq import client, data  # TensorFlow is imported here, after the quick checks.
    models = [(name, *_model_metadata(name)) for name in FLAGS.models]
    merged = [results.load_results(path) for path in FLAGS.merge]

    entries = evaluation = None
    if FLAGS.eval_dir:
        files = data.list_files(FLAGS.eval_dir)
        dataset = FLAGS.dataset_name or os.path.basename(os.path.normpath(FLAGS.eval_dir))
        previous = None
        if FLAGS.resume and os.path.exists(FLAGS.output):
            previous = results.load_results(FLAGS.output)
        images = runner.load_images(files)
        evaluation = _Evaluation(dataset, FLAGS.eval_dir, images, previous)
    else:
        dataset = FLAGS.dataset_name or merged[0]["dataset"]

    # Every anchor must name a curve before any time is spent.
    labels = [c.label for c in codecs] + [results.tfnq_curve_label(m) for _, _, m in models]
    labels += [e["curve"] for r in merged for e in r["entries"]]
    if evaluation:
        labels += [e["curve"] for e in evaluation.results["entries"]]
    anchors = [report.match_label(a, list(dict.fromkeys(labels))) for a in _anchors()]

    if evaluation:
        for name, path, metadata in models:
            name = metadata.get("name") or name
            settings = results.tfnq_settings(metadata, path)
            if FLAGS.precision != "float32":
                settings["precision"] = FLAGS.precision
            reuse = evaluation.reuse(name, "tfnq", settings)
            if all(item.key in reuse for item in images):  # No need to load the model.
                rows = [dict(reuse[item.key]) for item in images]
            else:
                with _bar(len(images), name) as bar:
                    codec = client.load(path, precision=FLAGS.precision)
                    rows = runner.evaluate_tfnq(codec, images, reuse=reuse,
                                                on_image=bar.update)
            entry = results.make_entry(name, "tfnq", results.tfnq_curve_label(metadata),
                                       settings, rows)
            evaluation.add(entry)
            if FLAGS.update_metadata:
                _update_metadata(path, dataset, entry["mean"])
        for codec in codecs:
            qualities = sweep[codec.name]
            with _bar(len(qualities) * len(images), codec.label) as bar:
                for quality in qualities:
                    settings = codec.settings(quality)
                    reuse = evaluation.reuse(f"{codec.label} quality={quality}", "classical",
                                             settings)
                    rows = runner.evaluate_classical(codec, quality, images, reuse=reuse,
                                                     on_image=bar.update)
                    evaluation.add(runner.classical_entry(codec, quality, rows))
        if evaluation.reused:
            print(f"reused {evaluation.reused} image results from {FLAGS.output}",
                  file=sys.stderr)
        entries = evaluation.results
    sources = ([(entries, FLAGS.eval_dir)] if entries else []) + list(
        zip(merged, FLAGS.merge, strict=True))
    shown = results.merge_results(*(r for r, _ in sources), dataset=dataset)
    image_sets = {}  # By base name and size: the earlier format kept only base names.
    for result, source in sources:
        keys = frozenset((r["image"].rsplit("/", 1)[-1], r["height"], r["width"])
                         for e in result["entries"] for r in e["images"])
        image_sets.setdefault(keys, []).append(source)
    if len(image_sets) > 1:
        print("warning: the results compared were evaluated on different images: "
              + "; ".join(", ".join(s) for s in image_sets.values()), file=sys.stderr)
    curves = results.build_curves(shown)
    count = max((e["mean"]["images"] for e in shown["entries"]), default=0)
    print(f"## Rate-distortion on {dataset} ({count} images)\n")
    print("bpp from the file size; PSNR (RGB, 0-255) and MS-SSIM are means over images; "
          "MS-SSIM (dB) = -10 log10(1 - mean MS-SSIM).\n")
    print(report.points_table(curves))
    for anchor in anchors:
        print(f"\n## Bjontegaard deltas against {anchor} ({FLAGS.bd_method} interpolation)\n")
        print(report.bd_table(curves, report.find_curve(curves, anchor), FLAGS.bd_method))
    sys.stdout.flush()
    if FLAGS.output and entries:
        print(f"wrote {FLAGS.output}", file=sys.stderr)
    if FLAGS.plot:
        plot.plot_rd(curves, FLAGS.plot, dataset=f"{dataset} ({count} images)")
        print(f"wrote {FLAGS.plot}", file=sys.stderr)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # Not absl's INFO.
    from tfnq import image_io
    from tfnq.evaluation import classical
    try:
        run()
    except (ValueError, OSError, classical.CodecUnavailableError, image_io.ImageError) as e:
        print(str(e) if str(e).startswith("tfnq: ") else f"tfnq: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
