"""Compresses an image or decompresses a tfnq file through a TensorFlow Serving server.

    python scripts/serving_client.py --server=localhost:8501 --protocol=rest \
      --model=hyperprior-0.0105-un-q --signature=compress --input=photo.png \
      --output=photo.tfnq
    python scripts/serving_client.py --server=localhost:8500 --protocol=grpc \
      --model=hyperprior-0.0105-un-q --signature=decompress --input=photo.tfnq \
      --output=photo.png

`--model` is the model's name on the server (its MODEL_NAME, or the `name` of its
entry in the model config file), `--version` an integer version folder (default:
the latest the server has). `compress` and `decompress` run on a stock server;
`compress_xla` and `decompress_xla` (rANS-coded exports: the same files, faster)
only on one started with `--xla_cpu_compilation_enabled=true`.

REST (the server's `--rest_api_port`, 8501 in the official image):

    POST http://HOST:PORT/v1/models/MODEL[/versions/VERSION]:predict
    compress:   {"signature_name": "compress",
                 "inputs": {"image": [[[r, g, b], ...], ...]}}      (uint8 [H, W, 3])
            ->  {"outputs": {"b64": "<the file, base64>"}}
    decompress: {"signature_name": "decompress",
                 "inputs": {"bitstring": {"b64": "<the file, base64>"}}}
            ->  {"outputs": [[[r, g, b], ...], ...]}
    an error:   HTTP 4xx/5xx with {"error": "<message>"}

A signature with one output has its value directly under "outputs". TF Serving
base64-encodes (`{"b64": ...}`) only string outputs whose name ends in `_bytes`, which
is why the file comes out of `compress` as `bitstring_bytes`. Exports made before that
name was chosen call it `bitstring`, which comes back as a JSON string of the raw bytes
(control characters, `"` and `\\` escaped, every other byte as it is: the body is not
UTF-8); the client decodes the body as Latin-1, where each byte is one character, and
encodes the string back to bytes. Both forms are accepted.

gRPC (the server's `--port`, 8500), `tensorflow.serving.PredictionService/Predict`:

    PredictRequest  model_spec {name: MODEL, signature_name: SIGNATURE,
                                version: VERSION (optional)}
                    inputs["image"]      DT_UINT8  shape [H, W, 3]   (compress)
                    inputs["bitstring"]  DT_STRING shape []          (decompress)
    PredictResponse outputs["bitstring_bytes"] DT_STRING shape [] (string_val[0]: the file;
                                         "bitstring" in older exports)
                    outputs["image"]     DT_UINT8  shape [H, W, 3]
                                         (TF Serving fills int_val, one per sample)

gRPC carries the image as a tensor (at most 2 bytes a sample); REST as JSON text
(TF Serving pretty-prints responses: about 30 bytes a sample), so prefer gRPC for
images.

Outputs are written atomically and never overwritten without `--force`. An error
(server unreachable, an HTTP or gRPC error from the server, a bad input file) exits
with status 1 and one line on stderr.
"""

import base64
import http.client
import json
import os
import sys
import urllib.error
import urllib.request

import numpy as np

__all__ = [
    "ServingError",
    "call_grpc",
    "call_rest",
    "grpc_request",
    "parse_grpc_response",
    "parse_rest_response",
    "rest_request",
    "rest_url",
]

SIGNATURES = ("compress", "decompress", "compress_xla", "decompress_xla")
_MAGIC = b"TFNQ"  # The first bytes of every tfnq file (`tfnq.bitstream`).


class ServingError(Exception):
    """A request that failed; the message is one line starting with "tfnq: "."""


def _one_line(text):
    return " ".join(str(text).split())


def _check_signature(signature):
    if signature not in SIGNATURES:
        raise ValueError(f"tfnq: unknown signature {signature!r} (one of "
                         f"{', '.join(SIGNATURES)})")
    return signature.startswith("compress")


def _checked_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or not image.size:
        raise ServingError(f"tfnq: expected a non-empty uint8 [H, W, 3] image, got "
                           f"{image.dtype} {list(image.shape)}")
    return image


def _checked_file(data, what):
    if not data.startswith(_MAGIC):
        raise ServingError(f"tfnq: {what} is not a tfnq file")
    return data


# --------------------------------------------------------------------------- REST


def rest_url(server, model, version=None):
    """The REST predict URL: `http://SERVER/v1/models/MODEL[/versions/VERSION]:predict`."""
    if "://" not in server:
        server = f"http://{server}"
    path = f"/v1/models/{model}" + ("" if version is None else f"/versions/{int(version)}")
    return f"{server.rstrip('/')}{path}:predict"


def rest_request(signature, value):
    """The JSON body (a dict) of a REST predict request in the columnar ("inputs") form.

    Args:
      signature: One of `SIGNATURES`.
      value: For a compress signature a uint8 `[H, W, 3]` image, for a decompress
        signature the bytes of a tfnq file.

    Returns:
      `{"signature_name": signature, "inputs": {"image": nested lists}}` or
      `{"signature_name": signature, "inputs": {"bitstring": {"b64": ...}}}`.
    """
    if _check_signature(signature):
        inputs = {"image": _checked_image(value).tolist()}
    else:
        inputs = {"bitstring": {"b64": base64.b64encode(bytes(value)).decode("ascii")}}
    return {"signature_name": signature, "inputs": inputs}


def _rest_bytes(value):
    """A DT_STRING value of a REST response: `{"b64": ...}` or a string of raw bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError):
            raise ServingError("tfnq: the server's response holds invalid base64") from None
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise ServingError("tfnq: the server's response string is not raw bytes (read "
                               "the body as Latin-1, not UTF-8)") from None
    raise ServingError(f"tfnq: expected a string output, got {type(value).__name__}")


def parse_rest_response(body, signature):
    """The result of a REST predict call: the bytes of a file or a uint8 image.

    Args:
      body: The response body as the server sent it (bytes, decoded here as
        Latin-1), or as a str or a parsed dict (see the module docstring).
      signature: The signature called (one of `SIGNATURES`).

    Returns:
      For a compress signature the bytes of the tfnq file, for a decompress
      signature a uint8 array `[H, W, 3]`.

    Raises:
      ServingError: If the body is an error (`{"error": ...}`) or not a response of
        `signature`.
    """
    compress = _check_signature(signature)
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("latin-1")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as e:
            raise ServingError(f"tfnq: the server's response is not JSON ({e})") from None
    if not isinstance(body, dict):
        raise ServingError("tfnq: the server's response is not a JSON object")
    if "error" in body:
        raise ServingError(f"tfnq: server: {_one_line(body['error'])}")
    if "outputs" not in body:
        raise ServingError(f"tfnq: the server's response has no outputs (keys: "
                           f"{', '.join(sorted(body)) or 'none'})")
    outputs = body["outputs"]
    name = "bitstring_bytes" if compress else "image"
    # One output: its value itself; several (or a renamed one): an object by name.
    if isinstance(outputs, dict) and set(outputs) != {"b64"}:
        key = next((k for k in (name, name.removesuffix("_bytes")) if k in outputs), None)
        if key is None:
            raise ServingError(f"tfnq: the server's response has no output {name!r} "
                               f"(outputs: {', '.join(sorted(outputs))})")
        outputs = outputs[key]
    if compress:
        return _checked_file(_rest_bytes(outputs), "the server's response")
    try:
        image = np.asarray(outputs)
    except ValueError:  # Ragged lists.
        raise ServingError("tfnq: the server's response is not an image") from None
    if image.dtype.kind not in "iu" or image.size and (image.min() < 0 or image.max() > 255):
        raise ServingError("tfnq: the server's response is not a uint8 image")
    return _checked_image(image.astype(np.uint8))


def call_rest(server, model, signature, value, version=None, timeout=60.0):
    """One REST predict call (see `rest_request`, `parse_rest_response`).

    Raises:
      ServingError: If the server cannot be reached, answers with an HTTP error
        (its `{"error": ...}` message is reported) or with no valid response.
    """
    url = rest_url(server, model, version)
    data = json.dumps(rest_request(signature, value)).encode("ascii")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            message = text or e.reason
        raise ServingError(f"tfnq: server: HTTP {e.code} from {url}: "
                           f"{_one_line(message)[:2000]}") from None
    except urllib.error.URLError as e:
        raise ServingError(f"tfnq: cannot reach the server at {server} (REST: "
                           f"{_one_line(e.reason)})") from None
    except (OSError, http.client.HTTPException) as e:
        raise ServingError(f"tfnq: no answer from the server at {server} (REST: "
                           f"{_one_line(e) or type(e).__name__})") from None
    return parse_rest_response(body, signature)


# --------------------------------------------------------------------------- gRPC


def grpc_request(signature, value, model, version=None):
    """The `PredictRequest` of a gRPC predict call (`tfnq.serving.predict_request`)."""
    from tfnq import serving
    _check_signature(signature)
    return serving.predict_request(signature, value, model_name=model, version=version)


def parse_grpc_response(response, signature):
    """The result of a gRPC predict call: the bytes of a file or a uint8 image.

    Args:
      response: A `PredictResponse`.
      signature: The signature called (one of `SIGNATURES`).

    Returns:
      For a compress signature the bytes of the tfnq file, for a decompress
      signature a uint8 array `[H, W, 3]`.

    Raises:
      ServingError: If the response lacks the output or it has another type or shape.
    """
    import tensorflow as tf
    compress = _check_signature(signature)
    names = ("bitstring_bytes", "bitstring") if compress else ("image",)
    name = next((n for n in names if n in response.outputs), None)
    if name is None:
        raise ServingError(f"tfnq: the server's response has no output {names[0]!r} "
                           f"(outputs: {', '.join(sorted(response.outputs)) or 'none'})")
    proto = response.outputs[name]
    expected = tf.string if compress else tf.uint8
    if proto.dtype != expected.as_datatype_enum:
        raise ServingError(f"tfnq: output {name!r} has dtype "
                           f"{tf.as_dtype(proto.dtype).name}, not {expected.name}")
    try:
        value = tf.make_ndarray(proto)
    except (ValueError, TypeError) as e:
        raise ServingError(f"tfnq: output {name!r} is malformed ({_one_line(e)})") from None
    if compress:
        if value.shape != ():
            raise ServingError(f"tfnq: output 'bitstring' has shape {list(value.shape)}, "
                               "not a scalar")
        return _checked_file(bytes(value.item()), "the server's response")
    return _checked_image(value)


def call_grpc(server, model, signature, value, version=None, timeout=60.0):
    """One gRPC predict call (see `grpc_request`, `parse_grpc_response`).

    Raises:
      ServingError: If the server cannot be reached, answers with an error status
        (its code and message are reported) or with no valid response.
    """
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc
    request = grpc_request(signature, value, model, version)
    options = [("grpc.max_send_message_length", -1),
               ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(server, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            code, details = e.code(), _one_line(e.details() or "")
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServingError(f"tfnq: cannot reach the server at {server} (gRPC: "
                                   f"{details})") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServingError(f"tfnq: no answer from the server at {server} within "
                                   f"{timeout:g} s (gRPC)") from None
            raise ServingError(f"tfnq: server: gRPC {code.name}: {details[:2000]}") from None
    return parse_grpc_response(response, signature)


# --------------------------------------------------------------------------- main


def _define_flags():
    """The command-line flags (defined only when run as a script, so that tests can
    import this module)."""
    from absl import flags
    flags.DEFINE_string("server", None, "The server, host:port (REST 8501, gRPC 8500 in "
                        "the official image).")
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "The server's API.")
    flags.DEFINE_string("model", None, "The model's name on the server.")
    flags.DEFINE_integer("version", None, "Model version (default: the latest).", lower_bound=0)
    flags.DEFINE_enum("signature", None, list(SIGNATURES), "The signature to call "
                      "(the *_xla ones need --xla_cpu_compilation_enabled=true).")
    flags.DEFINE_string("input", None, "An image file (compress) or a .tfnq file "
                        "(decompress).")
    flags.DEFINE_string("output", None, "The .tfnq file (compress) or the PNG "
                        "(decompress) to write.")
    flags.DEFINE_float("timeout", 120.0, "Seconds to wait for the server.", lower_bound=0)
    flags.DEFINE_bool("force", False, "Overwrite an existing output file.")
    flags.mark_flags_as_required(["server", "model", "signature", "input", "output"])


def _run(FLAGS):
    from tfnq import atomic_write, image_io
    compress = _check_signature(FLAGS.signature)
    if os.path.lexists(FLAGS.output) and not FLAGS.force:
        raise ServingError(f"tfnq: {FLAGS.output} exists (use --force to overwrite)")
    if compress:
        value = image_io.read_image(FLAGS.input)
    else:
        try:
            with open(FLAGS.input, "rb") as f:
                value = f.read()
        except OSError as e:
            reason = e.strerror.lower() if e.strerror else _one_line(e)
            raise ServingError(f"tfnq: cannot read {FLAGS.input}: {reason}") from None
        _checked_file(value, FLAGS.input)
    call = call_grpc if FLAGS.protocol == "grpc" else call_rest
    result = call(FLAGS.server, FLAGS.model, FLAGS.signature, value, version=FLAGS.version,
                  timeout=FLAGS.timeout)
    if compress:
        atomic_write.write_bytes_atomic(FLAGS.output, result, force=FLAGS.force)
        height, width = value.shape[:2]
        print(f"{FLAGS.input} -> {FLAGS.output}: {width}x{height}, {len(result)} bytes, "
              f"{8 * len(result) / (height * width):.4f} bpp ({FLAGS.protocol}, "
              f"{FLAGS.model}:{FLAGS.signature})")
    else:
        image_io.write_png(FLAGS.output, result, force=FLAGS.force)
        height, width = result.shape[:2]
        print(f"{FLAGS.input} -> {FLAGS.output}: {width}x{height} ({FLAGS.protocol}, "
              f"{FLAGS.model}:{FLAGS.signature})")


def main(argv):
    from absl import app, flags

    from tfnq import atomic_write, image_io
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _run(flags.FLAGS)
    except (ServingError, atomic_write.WriteError, image_io.ImageError) as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfnq: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from absl import app
    _define_flags()
    app.run(main)
