"""The `tfnq` command: compress, decompress, inspect files, list models.

    tfnq compress IN.png OUT.tfnq [--model NAME|PATH] [--quality K] [--force]
    tfnq decompress IN.tfnq OUT.png [--model NAME|PATH] [--force] [--compare ORIG.png]
        [--precision float32|bfloat16|auto]
    tfnq info FILE.tfnq
    tfnq models [--json]

Outputs are written atomically and never overwritten without `--force`. Bad input
exits with status 1 and one line on stderr; bad usage exits with status 2.
"""

import argparse
import json
import os
import sys
import time

__all__ = ["main"]


class _Fail(Exception):
    """A user-facing error (its message is printed as one line)."""


def _quiet_tensorflow():
    from tfnq import runtime
    runtime.configure()
    import absl.logging
    absl.logging.set_verbosity(absl.logging.ERROR)
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.autograph.set_verbosity(0)


def _load(path, precision="float32"):
    from tfnq import client
    t = time.perf_counter()
    codec = client.load(path, precision=precision)
    return codec, time.perf_counter() - t


def _cmd_compress(args):
    from tfnq import atomic_write, image_io, registry
    if os.path.exists(args.output) and not args.force:
        raise _Fail(f"tfnq: {args.output} exists (use --force to overwrite)")
    image = image_io.read_image(args.input, max_pixels=args.max_pixels)
    if args.quality is None:
        path = registry.resolve(args.model)
    else:
        path = registry.by_quality(args.quality, args.model)
    codec, load_time = _load(path)
    t = time.perf_counter()
    data = codec.compress(image)
    encode_time = time.perf_counter() - t
    atomic_write.write_bytes_atomic(args.output, data, force=args.force)
    h, w = image.shape[:2]
    print(f"{args.input} -> {args.output}: {w}x{h}, {len(data)} bytes, "
          f"{8 * len(data) / (h * w):.4f} bpp, model {_folder_name(path)} ({codec.mode}), "
          f"encode {encode_time:.3f} s (model load {load_time:.2f} s)")


def _folder_name(path):
    """A model's name as `tfnq models` lists it (its folder, above the version)."""
    return os.path.basename(os.path.dirname(os.path.normpath(path)))


def _cmd_decompress(args):
    from tfnq import bitstream, image_io, registry
    from tfnq.evaluation import metrics
    if os.path.exists(args.output) and not args.force:
        raise _Fail(f"tfnq: {args.output} exists (use --force to overwrite)")
    data = _read_file(args.input)
    if args.model is None:
        try:
            header = bitstream.parse_header(data)
        except ValueError as e:
            raise _Fail(str(e)) from None
        path = registry.find_by_fingerprint(header["fingerprint"])
        if path is None:
            raise _Fail(f"tfnq: no installed model matches this file (fingerprint "
                        f"{header['fingerprint']:08x}); pass --model")
    else:
        path = registry.resolve(args.model)
    codec, load_time = _load(path, args.precision)
    t = time.perf_counter()
    image = codec.decompress(data)
    decode_time = time.perf_counter() - t
    image_io.write_png(args.output, image, force=args.force)
    h, w = image.shape[:2]
    line = (f"{args.input} -> {args.output}: {w}x{h}, {8 * len(data) / (h * w):.4f} bpp, "
            f"model {codec.name} ({codec.mode}, {codec.precision} synthesis), "
            f"decode {decode_time:.3f} s "
            f"(model load {load_time:.2f} s)")
    if args.compare:
        original = image_io.read_image(args.compare)
        line += f", PSNR {metrics.psnr(original, image):.2f} dB"
    print(line)


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise _Fail(f"tfnq: cannot read {path}: {e.strerror}") from None


def _cmd_info(args):
    from tfnq import bitstream, coding_config, layout, registry
    data = _read_file(args.input)
    try:
        header = bitstream.parse_header(data)
    except ValueError as e:
        raise _Fail(str(e)) from None
    path = registry.find_by_fingerprint(header["fingerprint"])
    if "mode" in header:  # Format version 1: the mode id of a preset.
        mode = {m.id: m.name for m in coding_config.PRESETS.values()}.get(header["mode"],
                                                                          "unknown")
    else:  # Version 2: the model's coding configuration (the fingerprint covers it).
        mode = layout.read_metadata(path).get("mode") if path else "unknown"
    info = dict(
        file=args.input, size_bytes=len(data), format_version=header["version"],
        mode=mode, fingerprint=f"{header['fingerprint']:08x}",
        model=os.path.basename(os.path.dirname(path)) if path else None,
        height=header["height"], width=header["width"],
        bpp=8 * len(data) / max(header["height"] * header["width"], 1),
        sections=header["section_lengths"],
        intact=bool(header["checksum_ok"] and header["size_ok"]))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:15s} {v}")
    if not info["intact"]:
        raise _Fail("tfnq: file is truncated or corrupted (checksum mismatch)")


def _cmd_models(args):
    from tfnq import registry
    found = registry.list_models()
    try:
        default = registry.default_model()
    except Exception:  # noqa: BLE001
        default = None
    qualities = {}
    if default is not None:
        qualities = {m["name"]: k + 1 for k, m in enumerate(registry.family(default))}
    rows = []
    for m in found:
        ev = m.get("evaluation", {})
        rows.append(dict(
            name=m["name"], default=m["name"] == default, quality=qualities.get(m["name"]),
            architecture=m.get("architecture"), mode=m.get("mode"),
            lmbda=registry.model_lambda(m), bpp=ev.get("bpp"), psnr=ev.get("psnr"),
            eval_set=ev.get("dataset"), fingerprint=m.get("fingerprint"), path=m["path"]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"no models in {registry.models_dir()}")
        return
    width = max(len(r["name"]) for r in rows) + 3
    print(f"{'name':{width}s} {'arch':10s} {'mode':9s} {'lambda':>8s} {'bpp':>7s} "
          f"{'PSNR':>7s} {'quality':>7s}")
    for r in rows:
        bpp = f"{r['bpp']:.3f}" if r["bpp"] is not None else "-"
        psnr = f"{r['psnr']:.2f}" if r["psnr"] is not None else "-"
        lmbda = f"{r['lmbda']:g}" if r["lmbda"] is not None else "-"
        quality = str(r["quality"]) if r["quality"] else ""
        mark = " *" if r["default"] else ""
        print(f"{r['name'] + mark:{width}s} {r['architecture'][:10]:10s} {r['mode']:9s} "
              f"{lmbda:>8s} {bpp:>7s} {psnr:>7s} {quality:>7s}")
    print("(* default; bpp/PSNR measured on the set named in `tfnq models --json`; "
          "quality: `tfnq compress --quality K` picks that member of the default's family)")


def _parser():
    p = argparse.ArgumentParser(prog="tfnq", description="Neural image compression.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compress", help="image -> .tfnq file")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--model", help="model name (see `tfnq models`) or SavedModel path")
    c.add_argument("--quality", type=int, metavar="K",
                   help="the K-th model (1 = smallest files) of the family of --model "
                        "(default: the default model's family): same architecture and mode")
    c.add_argument("--force", action="store_true", help="overwrite the output")
    c.add_argument("--max_pixels", type=int, default=1 << 26,
                   help="refuse larger images (default 64 Mpx)")
    c.set_defaults(fn=_cmd_compress)
    d = sub.add_parser("decompress", help=".tfnq file -> PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", help="model (default: the installed model that made the file)")
    d.add_argument("--force", action="store_true", help="overwrite the output")
    d.add_argument("--compare", metavar="ORIGINAL", help="print PSNR against this image")
    d.add_argument("--precision", choices=["float32", "bfloat16", "auto"], default="float32",
                   help="the decoder's synthesis: float32 (default), bfloat16 (hyperpriors: "
                        "faster on CPUs with AMX or AVX-512 BF16, within a few levels), or "
                        "auto (bfloat16 where this CPU has it)")
    d.set_defaults(fn=_cmd_decompress)
    i = sub.add_parser("info", help="describe a .tfnq file")
    i.add_argument("input")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=_cmd_info)
    m = sub.add_parser("models", help="list installed models")
    m.add_argument("--json", action="store_true")
    m.set_defaults(fn=_cmd_models)
    return p


def main(argv=None):
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    _quiet_tensorflow()
    from tfnq import atomic_write, image_io, layout
    try:
        args.fn(args)
    except (_Fail, image_io.ImageError, atomic_write.WriteError, layout.CodecError) as e:
        print(str(e) or "tfnq: error", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfnq: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI never shows a traceback.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"tfnq: error: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
