"""Tests of scripts/serving_client.py: requests, responses, errors.

No TensorFlow Serving binary is available here: the pure functions are checked
against TF Serving's formats (tests/serving_helpers.py; the REST requests run through
a SavedModel in tests/test_serving.py), and the script is run against stand-in
servers on 127.0.0.1 that answer as TF Serving does, and against no server at all.
"""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import random_image
from serving_helpers import CLIENT_SCRIPT, REPO, load_client, rest_response
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfnq import image_io

client = load_client()

# A stand-in file: every byte value, including NUL, '"', '\' and non-UTF-8 bytes.
FILE = b"TFNQ\x02" + bytes(range(256)) + b'\\"\x00\xff'


def _run(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, CLIENT_SCRIPT, *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _int_val_image(image):
    """A uint8 tensor as TF Serving's Predict puts it in a response (`AsProtoField`)."""
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in image.shape])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, tensor_shape=shape,
                                  int_val=image.ravel().tolist())


# -- Requests and responses ----------------------------------------------------------


def test_rest_url():
    assert client.rest_url("localhost:8501", "m") == "http://localhost:8501/v1/models/m:predict"
    assert client.rest_url("http://h:1/", "m", 7) == "http://h:1/v1/models/m/versions/7:predict"


def test_rest_request():
    image = random_image(3, 2)
    for signature in ("compress", "compress_xla"):
        body = json.loads(json.dumps(client.rest_request(signature, image)))
        assert body == {"signature_name": signature, "inputs": {"image": image.tolist()}}
    body = json.loads(json.dumps(client.rest_request("decompress", FILE)))
    assert body["signature_name"] == "decompress"
    assert base64.b64decode(body["inputs"]["bitstring"]["b64"]) == FILE
    with pytest.raises(client.ServingError, match="uint8"):
        client.rest_request("compress", image.astype(np.int32))
    with pytest.raises(ValueError, match="unknown signature"):
        client.rest_request("to_symbols", image)


def test_parse_rest_response():
    # TF Serving: the raw bytes of an output not named *_bytes, base64 of one that is.
    raw = rest_response({"bitstring": np.array(FILE)})
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert client.parse_rest_response(raw, "compress") == FILE
    assert client.parse_rest_response(rest_response({"bitstring_bytes": np.array(FILE)}),
                                      "compress_xla") == FILE
    several = rest_response({"bitstring": np.array(FILE), "other": np.array([1])})
    assert client.parse_rest_response(several, "compress") == FILE
    image = random_image(5, 4)
    decoded = client.parse_rest_response(rest_response({"image": image}), "decompress")
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize("body, signature, message", [
    (b'{"error": "Servable not found for request: Latest(x)"}', "compress",
     "^tfnq: server: Servable not found for request: Latest\\(x\\)$"),
    (b"<html>", "compress", "not JSON"),
    (b'{"predictions": []}', "compress", "no outputs"),
    (b'{"outputs": {"symbols_0": [1]}}', "compress", "no output 'bitstring_bytes'"),
    # A body decoded as UTF-8 (by the caller) has lost the bytes.
    ('{"outputs": "TFNQ\u20ac"}', "compress", "read the body as Latin-1"),
    (b'{"outputs": "GIF89a"}', "compress", "is not a tfnq file"),
    (b'{"outputs": {"b64": "%%%"}}', "compress", "invalid base64"),
    (b'{"outputs": [[[1, 2, 256]]]}', "decompress", "not a uint8 image"),
    (b'{"outputs": [[1, 2, 3]]}', "decompress", r"uint8 \[H, W, 3\] image"),
    (b'{"outputs": [[[1, 2, 3]], [1]]}', "decompress", "not an image"),
])
def test_parse_rest_response_errors(body, signature, message):
    with pytest.raises(client.ServingError, match=message):
        client.parse_rest_response(body, signature)


def test_grpc_request():
    image = random_image(7, 5)
    for signature in ("compress", "compress_xla"):
        request = client.grpc_request(signature, image, "hyper", version=3)
        assert request.model_spec.name == "hyper"
        assert request.model_spec.signature_name == signature
        assert request.model_spec.version.value == 3
        assert list(request.inputs) == ["image"]
        proto = request.inputs["image"]
        assert proto.dtype == types_pb2.DT_UINT8
        assert [d.size for d in proto.tensor_shape.dim] == [7, 5, 3]
        np.testing.assert_array_equal(tf.make_ndarray(proto), image)
    for signature in ("decompress", "decompress_xla"):
        request = client.grpc_request(signature, FILE, "hyper")
        assert request.model_spec.signature_name == signature
        assert not request.model_spec.HasField("version")  # The latest version.
        assert list(request.inputs) == ["bitstring"]
        proto = request.inputs["bitstring"]
        assert proto.dtype == types_pb2.DT_STRING and not proto.tensor_shape.dim
        assert list(proto.string_val) == [FILE]
    # Through the wire format and back.
    again = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert again.inputs["bitstring"].string_val[0] == FILE


def test_parse_grpc_response():
    for name in ("bitstring_bytes", "bitstring"):  # The output of new and older exports.
        response = predict_pb2.PredictResponse()
        response.outputs[name].CopyFrom(tf.make_tensor_proto(FILE))
        assert client.parse_grpc_response(response, "compress") == FILE
    image = random_image(6, 9)
    response = predict_pb2.PredictResponse()
    response.outputs["image"].CopyFrom(_int_val_image(image))
    np.testing.assert_array_equal(client.parse_grpc_response(response, "decompress"), image)
    response.outputs["image"].CopyFrom(tf.make_tensor_proto(image))  # tensor_content.
    np.testing.assert_array_equal(client.parse_grpc_response(response, "decompress"), image)
    with pytest.raises(client.ServingError, match="no output 'bitstring_bytes'"):
        client.parse_grpc_response(response, "compress")
    response.outputs["image"].CopyFrom(tf.make_tensor_proto(image.astype(np.float32)))
    with pytest.raises(client.ServingError, match="dtype float32, not uint8"):
        client.parse_grpc_response(response, "decompress")


# -- The script ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unreachable_server(protocol, tmp_path):
    image_io.write_png(tmp_path / "in.png", random_image(8, 8))
    result = _run("--server=localhost:1", f"--protocol={protocol}", "--model=m",
                  "--signature=compress", f"--input={tmp_path / 'in.png'}",
                  f"--output={tmp_path / 'out.tfnq'}", "--timeout=20")
    assert result.returncode == 1
    assert result.stderr.startswith("tfnq: cannot reach the server at localhost:1 "), (
        result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


def test_bad_input_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a file of tfnq")
    args = ["--server=localhost:1", "--model=m", f"--output={tmp_path / 'out.png'}"]
    result = _run(*args, "--signature=decompress", f"--input={tmp_path / 'x.png'}")
    assert result.returncode == 1
    assert result.stderr == f"tfnq: {tmp_path / 'x.png'} is not a tfnq file\n"
    result = _run(*args, "--signature=compress", f"--input={tmp_path / 'x.png'}")
    assert result.returncode == 1 and "not an image file" in result.stderr
    (tmp_path / "out.png").write_bytes(b"")
    result = _run(*args, "--signature=compress", f"--input={tmp_path / 'x.png'}")
    assert result.returncode == 1 and "out.png exists (use --force" in result.stderr


class _RestServer(http.server.ThreadingHTTPServer):
    """A stand-in for TF Serving's REST API on 127.0.0.1: model "m" compresses to FILE;
    any other model is not found (TF Serving's 404 and message)."""

    def __init__(self):
        self.requests = []
        super().__init__(("127.0.0.1", 0), _RestHandler)


class _RestHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, json.loads(body)))
        if self.path.startswith("/v1/models/m/versions/2:predict"):
            status, reply = 200, rest_response({"bitstring_bytes": np.array(FILE)})
        else:
            model = self.path.split("/")[3].split(":")[0]
            status, reply = 404, json.dumps(
                {"error": f"Servable not found for request: Latest({model})"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server():
    server = _RestServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_rest_compress_and_http_error(rest_server, tmp_path):
    image = random_image(9, 11)
    image_io.write_png(tmp_path / "in.png", image)
    address = f"127.0.0.1:{rest_server.server_address[1]}"
    args = [f"--server={address}", "--protocol=rest", "--signature=compress",
            f"--input={tmp_path / 'in.png'}", f"--output={tmp_path / 'out.tfnq'}"]
    result = _run(*args, "--model=m", "--version=2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.tfnq").read_bytes() == FILE
    assert "in.png -> " in result.stdout and f"{len(FILE)} bytes" in result.stdout
    path, body = rest_server.requests[-1]
    assert path == "/v1/models/m/versions/2:predict"
    assert body == {"signature_name": "compress", "inputs": {"image": image.tolist()}}

    result = _run(*args, "--model=other", "--force")
    assert result.returncode == 1
    assert result.stderr == (f"tfnq: server: HTTP 404 from http://{address}/v1/models/other"
                             ":predict: Servable not found for request: Latest(other)\n")
    assert (tmp_path / "out.tfnq").read_bytes() == FILE  # Left as it was.


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """A stand-in for TF Serving's gRPC PredictionService: model "m" decompresses to
    `image` (in `int_val`, as TF Serving answers); any other model is not found."""

    def __init__(self, image):
        self.image = image
        self.requests = []

    def Predict(self, request, context):
        self.requests.append(request)
        if request.model_spec.name != "m":
            context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: "
                          f"Latest({request.model_spec.name})")
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        response.outputs["image"].CopyFrom(_int_val_image(self.image))
        return response


def test_grpc_decompress_and_error_status(tmp_path):
    image = random_image(10, 7, seed=5)
    service = _PredictionService(image)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        (tmp_path / "in.tfnq").write_bytes(FILE)
        args = [f"--server=127.0.0.1:{port}", "--protocol=grpc", "--signature=decompress",
                f"--input={tmp_path / 'in.tfnq'}", f"--output={tmp_path / 'out.png'}"]
        result = _run(*args, "--model=m")
        assert result.returncode == 0, result.stderr
        np.testing.assert_array_equal(image_io.read_image(tmp_path / "out.png"), image)
        request = service.requests[-1]
        assert request.model_spec.signature_name == "decompress"
        assert list(request.inputs["bitstring"].string_val) == [FILE]

        result = _run(*args, "--model=other", "--force")
        assert result.returncode == 1
        assert result.stderr == ("tfnq: server: gRPC NOT_FOUND: Servable not found for "
                                 "request: Latest(other)\n")
    finally:
        server.stop(grace=None)
