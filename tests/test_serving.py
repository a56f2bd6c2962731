"""Tests of tfnq.serving (TF Serving warm-up requests) and of the REST requests of
scripts/serving_client.py, run through the SavedModel by `saved_model_cli`.

No model server can be installed here. `saved_model_cli run` loads the export the way
TensorFlow Serving does (the SavedModel loader, a session, the signature's tensors);
tests/serving_helpers.py turns request bodies into its inputs and its outputs into
response bodies as TF Serving's REST front end does.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import make_model, random_image, sample_crop
from serving_helpers import load_client, rest_inputs, rest_response
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

import tfnq
from tfnq import export, serving

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
client = load_client()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The version folder of a small rANS-coded UN+UQ export (the default coder)."""
    root = tmp_path_factory.mktemp("serving")
    [path] = export.export_trained(make_model(), str(root), "srv", modes=["UN+UQ"])
    return path


@pytest.fixture(scope="module")
def codec(served):
    return tfnq.load(served)


def _shape(proto):
    return [d.size for d in proto.tensor_shape.dim]


# -- Warm-up requests ----------------------------------------------------------------


def test_export_writes_warmup_requests(served):
    assert sorted(os.listdir(os.path.join(served, "assets.extra"))) == [
        "tf_serving_warmup_requests", "tfnq.json"]  # No temporary file left behind.
    requests = serving.read_warmup_requests(served)
    # compress and decompress only: no XLA signature (a stock server refuses them).
    assert [r.model_spec.signature_name for r in requests] == ["compress", "decompress"]
    assert {r.model_spec.name for r in requests} == {"srv-un-uq"}
    compress, decompress = requests
    assert list(compress.inputs) == ["image"]
    image = compress.inputs["image"]
    assert image.dtype == types_pb2.DT_UINT8 and _shape(image) == [64, 96, 3]
    np.testing.assert_array_equal(tf.make_ndarray(image), serving.default_warmup_image())
    assert list(decompress.inputs) == ["bitstring"]
    bitstring = decompress.inputs["bitstring"]
    assert bitstring.dtype == types_pb2.DT_STRING and _shape(bitstring) == []
    assert len(bitstring.string_val) == 1 and bitstring.string_val[0].startswith(b"TFNQ")


def test_warmup_requests_replay_through_the_savedmodel(served, codec):
    """Each request's inputs, fed to the signature it names, run; the decompress
    request holds the file the compress request makes, and decodes to its size."""
    signatures = tf.saved_model.load(served).signatures
    compress, decompress = serving.read_warmup_requests(served)
    outputs = []
    for request in (compress, decompress):
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs.append(signatures[request.model_spec.signature_name](**inputs))
    image = tf.make_ndarray(compress.inputs["image"])
    data = decompress.inputs["bitstring"].string_val[0]
    assert outputs[0]["bitstring_bytes"].numpy() == data
    decoded = outputs[1]["image"].numpy()
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, codec.decompress(data))
    np.testing.assert_array_equal(decoded, codec.decompress(codec.compress(image)))


def test_write_warmup_requests_with_an_image_replaces_the_file(served, tmp_path):
    copy = str(tmp_path / "srv-un-uq" / "1")
    shutil.copytree(served, copy)
    image = random_image(17, 33, seed=3)
    assert serving.write_warmup_requests(os.path.dirname(copy), image) == os.path.join(
        copy, serving.WARMUP_PATH)
    compress, decompress = serving.read_warmup_requests(copy)
    np.testing.assert_array_equal(tf.make_ndarray(compress.inputs["image"]), image)
    assert sorted(os.listdir(os.path.join(copy, "assets.extra"))) == [
        "tf_serving_warmup_requests", "tfnq.json"]
    before = open(os.path.join(copy, serving.WARMUP_PATH), "rb").read()
    with pytest.raises(tfnq.CodecError, match=r"^tfnq: compress takes a uint8 \[H, W, 3\]"):
        serving.write_warmup_requests(copy, image.astype(np.float32))
    assert open(os.path.join(copy, serving.WARMUP_PATH), "rb").read() == before


def test_write_warmup_requests_needs_the_coding_signatures(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x + 1},
                           input_signature=[tf.TensorSpec([], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path), signatures={"other": module.f})
    with pytest.raises(tfnq.CodecError,
                       match="has no compress or decompress signature .*stack-coded"):
        serving.write_warmup_requests(str(tmp_path))
    assert not os.path.exists(tmp_path / serving.WARMUP_PATH)


def test_read_warmup_requests_errors(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(tfnq.CodecError, match="no warm-up requests"):
        serving.read_warmup_requests(str(tmp_path))
    path = tmp_path / serving.WARMUP_PATH
    path.parent.mkdir()
    path.write_bytes(b"\x05not a TFRecord file")
    with pytest.raises(tfnq.CodecError, match="^tfnq: .*: not a warm-up file"):
        serving.read_warmup_requests(str(tmp_path))
    with tf.io.TFRecordWriter(str(path)) as writer:  # A log of another kind.
        writer.write(prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog()).SerializeToString())
    with pytest.raises(tfnq.CodecError, match="record 0 is not a predict log"):
        serving.read_warmup_requests(str(tmp_path))


def test_predict_request_checks_its_input():
    with pytest.raises(ValueError, match="unknown signature 'to_symbols'"):
        serving.predict_request("to_symbols", b"")
    with pytest.raises(TypeError, match="takes the bytes of a tfnq file"):
        serving.predict_request("decompress", np.zeros([2, 2, 3], np.uint8))
    with pytest.raises(tfnq.CodecError, match="the image is empty"):
        serving.predict_request("compress", np.zeros([0, 4, 3], np.uint8))


# -- REST requests through the SavedModel (saved_model_cli) ----------------------------


def _saved_model_cli(version_dir, signature, inputs, tmp_path):
    """Runs `signature` of the SavedModel on `inputs` (name -> numpy value) in a
    session, as TF Serving does; its outputs, name -> numpy value (from --outdir)."""
    args = []
    for name, value in inputs.items():
        path = tmp_path / f"{signature}-{name}.npy"
        np.save(path, value, allow_pickle=True)
        args.append(f"{name}={path}")
    outdir = tmp_path / f"{signature}-out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [SAVED_MODEL_CLI, "run", f"--dir={version_dir}", "--tag_set=serve",
         f"--signature_def={signature}", f"--inputs={';'.join(args)}", f"--outdir={outdir}"],
        capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return {f.removesuffix(".npy"): np.load(outdir / f, allow_pickle=False)
            for f in os.listdir(outdir)}


def test_rest_compress_request_through_saved_model_cli(served, codec, tmp_path):
    image = sample_crop(48)[:40]
    request = client.rest_request("compress", image)
    assert request["signature_name"] == "compress"
    outputs = _saved_model_cli(served, "compress",
                               rest_inputs(json.dumps(request), {"image": np.uint8}), tmp_path)
    assert list(outputs) == ["bitstring_bytes"]
    response = rest_response(outputs)  # {"outputs": {"b64": ...}}: named *_bytes.
    assert json.loads(response)["outputs"].keys() == {"b64"}
    data = client.parse_rest_response(response, "compress")
    # The file of the plain (non-XLA) signature, which the server runs. `tfnq.load`
    # compresses with `compress_xla`: the same symbols, but its rANS stream can differ
    # in a few bytes; both decode to the same image.
    signatures = tf.saved_model.load(served).signatures
    assert data == signatures["compress"](image=tf.constant(image))["bitstring_bytes"].numpy()
    np.testing.assert_array_equal(codec.decompress(data),
                                  codec.decompress(codec.compress(image)))


def test_rest_decompress_request_through_saved_model_cli(served, codec, tmp_path):
    image = random_image(23, 31, seed=4)
    data = codec.compress(image)
    body = json.dumps(client.rest_request("decompress", data))
    assert '"bitstring": {"b64": ' in body
    outputs = _saved_model_cli(served, "decompress", rest_inputs(body, {"bitstring": object}),
                               tmp_path)
    assert list(outputs) == ["image"]
    decoded = client.parse_rest_response(rest_response(outputs), "decompress")
    assert decoded.shape == (23, 31, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, codec.decompress(data))


def test_add_warmup_script(served, tmp_path):
    """scripts/add_warmup.py gives an export made without warm-up requests its file."""
    models = tmp_path / "models"
    copy = models / "old-un-uq" / "1"
    shutil.copytree(served, copy)
    os.remove(copy / serving.WARMUP_PATH)
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "scripts", "add_warmup.py")
    result = subprocess.run([sys.executable, script, f"--models_dir={models}",
                             "--models=old-un-uq,missing"],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1  # "missing" is not a model.
    assert "tfnq: unknown model 'missing'" in result.stderr
    assert "old-un-uq/1: assets.extra/tf_serving_warmup_requests (" in result.stdout
    assert [r.model_spec.name for r in serving.read_warmup_requests(str(copy))] == [
        "old-un-uq"] * 2
