"""Compresses and decompresses the packaged sample photo with the default model.

    python scripts/demo.py [--model NAME] [--image PATH] [--precision auto]

Prints the file size, bpp, PSNR and times, and checks that the decoded image is
bit-identical to the reconstruction the encoder computed from its own latents.
"""

import os
import sys
import tempfile
import time

from tfnq import runtime

runtime.configure()

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Model name or path (default: the default model).")
flags.DEFINE_string("image", None, "Image to use (default: the packaged sample photo).")
flags.DEFINE_enum("precision", "auto", ["float32", "bfloat16", "auto"],
                  "The decoder's synthesis (tfnq.load): auto is bfloat16 where the model "
                  "has it and this CPU computes in bfloat16 natively (AMX, AVX-512 BF16).")


def main(argv):
    del argv
    from tfnq import atomic_write, client, image_io, registry
    from tfnq.evaluation import metrics

    path = FLAGS.image or image_io.sample_image_path()
    image = image_io.read_image(path)
    t = time.perf_counter()
    codec = client.load(registry.resolve(FLAGS.model), precision=FLAGS.precision)
    load_time = time.perf_counter() - t
    # Once through both at this size (XLA compiles its loops for each shape, oneDNN its
    # kernels), so that the timings below are steady-state.
    codec.decompress(codec.compress(image))
    t = time.perf_counter()
    data = codec.compress(image)
    encode_time = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sample.tfnq")
        atomic_write.write_bytes_atomic(out, data)
        with open(out, "rb") as f:
            data = f.read()
    t = time.perf_counter()
    decoded = codec.decompress(data)
    decode_time = time.perf_counter() - t
    h, w = image.shape[:2]
    exact = bool((decoded == codec.reconstruct(image)).all())
    print(f"image        {os.path.basename(path)} ({w}x{h})")
    print(f"model        {codec.name} ({codec.mode}, {codec.metadata['architecture']})")
    print(f"size         {len(data)} bytes = {8 * len(data) / (h * w):.4f} bpp")
    print(f"PSNR         {metrics.psnr(image, decoded):.2f} dB")
    print(f"encode       {encode_time * 1000:.1f} ms")
    print(f"decode       {decode_time * 1000:.1f} ms ({codec.precision} synthesis)")
    print(f"model load   {load_time:.2f} s")
    print(f"bit-exact    {exact} (decoded == encoder-side reconstruction)")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(app.run(main))
