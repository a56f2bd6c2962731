"""TensorFlow Serving: the warm-up requests an export carries, and predict requests.

TensorFlow Serving replays the requests in a SavedModel's
`assets.extra/tf_serving_warmup_requests` when it loads the model ("SavedModel
Warmup"), so that the first user request does not pay for the runtime's lazy
initialization. The file is a TFRecord file of `PredictionLog` protos
(`tensorflow_serving.apis.prediction_log_pb2`), at most 1000, each holding a
`PredictRequest`; a request that fails makes the model fail to load.

An in-graph coded tfnq export carries two (`write_warmup_requests`, which
`tfnq.export.export_model` calls): `compress` on a small image (by default a crop of
the packaged sample photograph) and `decompress` on the file the model's own
`compress` makes of it. The XLA forms (`compress_xla`, `decompress_xla`) are left
out: a stock server runs them only with `--xla_cpu_compilation_enabled=true`, and
without it their warm-up would keep the model from loading. Stack-coded exports
(`tfnq.export.StackServable`) need the coder outside the graph and get none.

`predict_request` builds the gRPC `PredictRequest` of one signature call, for the
warm-up file and for clients (`scripts/serving_client.py`).
"""

import os
import secrets

import numpy as np
import tensorflow as tf
import tensorflow_compression  # noqa: F401  (registers the range-coding ops)
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tfnq import image_io, layout

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "WARMUP_PATH",
    "WARMUP_SIGNATURES",
    "default_warmup_image",
    "predict_request",
    "read_warmup_requests",
    "write_warmup_requests",
]

WARMUP_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")

# The signatures whose warm-up requests an export carries (the ones a stock server runs).
WARMUP_SIGNATURES = ("compress", "decompress")

# Signature -> (input name, dtype, rank) and output name, of an in-graph coded export
# (`tfnq.export._signatures`).
INPUTS = {
    "compress": ("image", tf.uint8, 3),
    "compress_xla": ("image", tf.uint8, 3),
    "decompress": ("bitstring", tf.string, 0),
    "decompress_xla": ("bitstring", tf.string, 0),
}
OUTPUTS = {
    "compress": "bitstring_bytes",
    "compress_xla": "bitstring_bytes",
    "decompress": "image",
    "decompress_xla": "image",
}


def _output(outputs):
    """The file of a compress signature's outputs (`bitstring_bytes`; `bitstring` in
    exports made before the output was renamed for TF Serving's REST API)."""
    return outputs[OUTPUTS["compress"] if OUTPUTS["compress"] in outputs else "bitstring"]


# The crop of the sample photograph (top, left, height, width) warm-up compresses.
_WARMUP_CROP = (192, 160, 64, 96)


def default_warmup_image():
    """The image warm-up compresses by default: a 96x64 crop of the sample photograph.

    Returns:
      A uint8 array of shape `[64, 96, 3]`.
    """
    top, left, height, width = _WARMUP_CROP
    return np.ascontiguousarray(
        image_io.sample_image()[top:top + height, left:left + width])


def _checked_input(signature, value):
    """`value` as the input of `signature`: a uint8 `[H, W, 3]` array or bytes."""
    if signature not in INPUTS:
        raise ValueError(f"tfnq: unknown signature {signature!r} (one of "
                         f"{', '.join(sorted(INPUTS))})")
    _, dtype, _ = INPUTS[signature]
    if dtype == tf.string:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"tfnq: {signature} takes the bytes of a tfnq file, got "
                            f"{type(value).__name__}")
        return bytes(value)
    array = np.asarray(value)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise layout.CodecError(f"tfnq: {signature} takes a uint8 [H, W, 3] image, got "
                                f"{array.dtype} {list(array.shape)}")
    if not array.shape[0] or not array.shape[1]:
        raise layout.CodecError("tfnq: the image is empty")
    return np.ascontiguousarray(array)


def predict_request(signature, value, model_name="", version=None):
    """The `PredictRequest` of one call of a tfnq export's signature.

    Args:
      signature: "compress", "decompress", "compress_xla" or "decompress_xla".
      value: For the compress signatures a uint8 `[H, W, 3]` image, for the
        decompress signatures the bytes of a tfnq file.
      model_name: The model's name on the server (`model_spec.name`; warm-up
        requests do not need it).
      version: Optional integer version (`model_spec.version`; default: the
        server's latest).

    Returns:
      A `tensorflow_serving.apis.predict_pb2.PredictRequest`: input `image` (DT_UINT8,
      shape `[H, W, 3]`) or `bitstring` (DT_STRING scalar).

    Raises:
      CodecError: If the image is not uint8 `[H, W, 3]` or is empty.
      TypeError: If a decompress signature gets something other than bytes.
      ValueError: If `signature` is unknown.
    """
    value = _checked_input(signature, value)
    name, dtype, _ = INPUTS[signature]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    shape = [] if dtype == tf.string else list(value.shape)
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=dtype, shape=shape))
    return request


def _model_name(version_dir):
    """The model's folder name (the version folder's parent), for `model_spec.name`."""
    return os.path.basename(os.path.dirname(os.path.abspath(version_dir)))


def write_warmup_requests(version_dir, image=None):
    """Writes the TF Serving warm-up requests of an in-graph coded export.

    Loads the SavedModel, compresses `image` with its `compress` signature and checks
    that `decompress` decodes the file to an image of the same size; then writes a
    `compress` request on `image` and a `decompress` request on that file to
    `assets.extra/tf_serving_warmup_requests`, replacing an earlier one atomically.

    Args:
      version_dir: A version folder (or a model folder: its highest version).
      image: Optional uint8 `[H, W, 3]` image (default: `default_warmup_image`). It is
        stored in the export, so keep it small.

    Returns:
      The path of the file written.

    Raises:
      CodecError: If there is no SavedModel at `version_dir`, if it lacks a
        `compress` or `decompress` signature (e.g. a stack-coded export), if the
        image is not uint8 `[H, W, 3]`, or if the round trip fails.
    """
    version_dir = layout.version_dir(version_dir)
    image = _checked_input("compress", default_warmup_image() if image is None else image)
    signatures = tf.saved_model.load(version_dir).signatures
    missing = [s for s in WARMUP_SIGNATURES if s not in signatures]
    if missing:
        raise layout.CodecError(
            f"tfnq: {version_dir} has no {' or '.join(missing)} signature (a stack-coded "
            "export is not served by TensorFlow Serving alone); no warm-up requests")
    try:
        bitstring = _output(signatures["compress"](image=tf.constant(image))).numpy()
        decoded = signatures["decompress"](bitstring=tf.constant(bitstring))["image"]
    except tf.errors.OpError as e:
        message = " ".join(e.message.split())
        raise layout.CodecError(f"tfnq: {version_dir}: warm-up round trip failed "
                                f"({message})") from None
    if tuple(decoded.shape) != image.shape:
        raise layout.CodecError(f"tfnq: {version_dir}: warm-up round trip gave an image of "
                                f"shape {list(decoded.shape)}, not {list(image.shape)}")
    name = _model_name(version_dir)
    requests = [predict_request("compress", image, name),
                predict_request("decompress", bitstring, name)]
    path = os.path.join(version_dir, WARMUP_PATH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # A temporary name TF Serving never reads, renamed into place once complete.
    temp = os.path.join(os.path.dirname(path),
                        f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        with tf.io.TFRecordWriter(temp) as writer:
            for request in requests:
                log = prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def read_warmup_requests(version_dir):
    """The warm-up requests of an export, in their order in the file.

    Args:
      version_dir: A version folder (or a model folder: its highest version).

    Returns:
      A list of `PredictRequest`.

    Raises:
      CodecError: If the export has no warm-up file, or a record of it is not a
        `PredictionLog` holding a predict request.
    """
    path = os.path.join(layout.version_dir(version_dir), WARMUP_PATH)
    if not os.path.isfile(path):
        raise layout.CodecError(f"tfnq: {path}: no warm-up requests")
    requests = []
    try:
        for record in tf.data.TFRecordDataset(path):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(f"record {len(requests)} is not a predict log")
            requests.append(log.predict_log.request)
    except (tf.errors.OpError, ValueError) as e:  # DecodeError is a ValueError.
        message = " ".join((getattr(e, "message", None) or str(e)).split())
        raise layout.CodecError(f"tfnq: {path}: not a warm-up file ({message})") from None
    return requests
