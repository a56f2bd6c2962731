"""Tests for tfnq.export: SavedModels whose signatures code whole tfnq files."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    BY_MODE,
    OTHER,
    SR,
    UNQ,
    UNUQ,
    make_model,
    odd_sizes,
    random_image,
    sample_crop,
)

import tfnq
from tfnq import bitstream, bitstream_v2, coding_config, export, limits
from tfnq.fingerprint import fingerprint as model_fingerprint

# Format version 2, one section, a 256x256 image: 13 fixed bytes, two 2-byte sides, the
# count, the end of the fields.
CONTAINER_OVERHEAD = 13 + 2 + 2 + 1 + 1


def _flip(data, position):
    position %= len(data)
    return data[:position] + bytes([data[position] ^ 0x5A]) + data[position + 1:]


def _decompress_error(codec, data):
    with pytest.raises(tfnq.CodecError) as info:
        codec.decompress(data)
    message = str(info.value)
    assert message.startswith("tfnq: "), message
    assert "\n" not in message, message
    return message


# -- Loading and metadata ------------------------------------------------------------


def test_load_model_folder_and_version_folder(exported):
    version = exported.paths[UNQ]
    folder = os.path.dirname(version)
    assert os.path.basename(version) == "1"
    for path in (folder, version):
        codec = tfnq.load(path)
        assert isinstance(codec, tfnq.Codec)
        assert os.path.samefile(codec.path, version)
        assert codec.name == UNQ and codec.mode == "UN+Q"


def test_load_rejects_non_model_folders(tmp_path):
    with pytest.raises(tfnq.CodecError, match="^tfnq: no SavedModel found"):
        tfnq.load(str(tmp_path))
    with pytest.raises(tfnq.CodecError, match="^tfnq: no SavedModel found"):
        tfnq.load(str(tmp_path / "missing"))


def test_metadata(exported, codecs):
    for name, path in exported.paths.items():
        metadata = codecs[name].metadata
        assert {"name", "architecture", "mode", "fingerprint", "config", "coder",
                "training"} <= set(metadata)
        assert metadata["name"] == name == os.path.basename(os.path.dirname(path))
        assert metadata["architecture"] == "linear"
        assert metadata["mode"] == exported.modes[name]
        assert len(metadata["fingerprint"]) == 8 and int(metadata["fingerprint"], 16) >= 0
        assert metadata["config"] == exported.models[name].get_config()
        assert metadata["coder"] == "tfc-range"
        assert metadata["training"] == {"lmbda": 0.01, "steps": 0}


def test_linear_codec_has_one_synthesis_precision(exported, codecs):
    assert codecs[UNQ].metadata["synthesis_dtypes"] == ["float32"]
    assert "decompress_bf16" not in tf.saved_model.load(exported.paths[UNQ]).signatures
    with pytest.raises(tfnq.CodecError, match="no bfloat16 synthesis"):
        tfnq.load(exported.paths[UNQ], precision="bfloat16")
    assert tfnq.load(exported.paths[UNQ], precision="auto").precision == "float32"


def test_fingerprints_differ(codecs):
    fingerprints = {name: codecs[name].metadata["fingerprint"]
                    for name in (UNQ, UNUQ, SR, OTHER)}
    assert fingerprints[UNQ] != fingerprints[UNUQ]  # Same weights, other mode.
    assert fingerprints[UNUQ] != fingerprints[OTHER]  # Other seed.
    assert len(set(fingerprints.values())) == 4


def test_fingerprint_is_deterministic(exported):
    model = exported.use(UNUQ)
    coding = model.latent_codec.coding_models[0]
    variables = list(model.trainable_variables) + list(coding.variables)
    fingerprint = model_fingerprint(model, "UN+UQ", variables)
    assert 0 <= fingerprint < 2**32
    assert model_fingerprint(model, "UN+UQ", list(variables)) == fingerprint
    assert model_fingerprint(model, "UN+Q", variables) != fingerprint
    assert model_fingerprint(exported.models[OTHER], "UN+UQ", variables) != fingerprint


def test_fingerprint_covers_the_numerics_version(exported, monkeypatch):
    """Another arithmetic, another fingerprint; version 1 leaves the hash as it was."""
    model = exported.use(UNUQ)
    variables = list(model.trainable_variables)
    assert getattr(model, "numerics", 1) == 1
    fingerprint = model_fingerprint(model, "UN+UQ", variables)
    monkeypatch.setattr(type(model), "numerics", 1, raising=False)
    assert model_fingerprint(model, "UN+UQ", variables) == fingerprint
    monkeypatch.setattr(type(model), "numerics", 2)
    assert model_fingerprint(model, "UN+UQ", variables) != fingerprint
    # 2: RDFT kernels by matrix product; 3: the integer hyper-synthesis.
    assert tfnq.MeanScaleHyperprior.numerics == 3


def test_export_replaced_existing_version(exported):
    # conftest put a stale version 1 (and a marker file) where OTHER was exported.
    folder = os.path.dirname(exported.paths[OTHER])
    assert sorted(os.listdir(folder)) == ["1"]  # No ".export-*" temporary folders.
    assert not os.path.exists(os.path.join(exported.paths[OTHER], "stale.txt"))
    assert os.path.exists(os.path.join(exported.paths[OTHER], "saved_model.pb"))
    for name, path in exported.paths.items():
        leftovers = [d for d in os.listdir(os.path.dirname(path)) if d.startswith(".export-")]
        assert not leftovers, (name, leftovers)


def test_export_model_never_called(tmp_path):
    model = tfnq.LinearCodec(init="jpeg", init_step=16)
    try:
        export.export_model(model, "UN+Q", str(tmp_path / "fresh"))
    finally:
        # Even when saving fails, no temporary folder is left behind.
        assert not [d for d in os.listdir(tmp_path / "fresh") if d.startswith(".export-")]
    assert tfnq.load(str(tmp_path / "fresh")).mode == "UN+Q"


def test_saved_model_holds_no_keras_layer_functions(exported):
    # The Keras model is kept out of the object graph: only tfnq's own functions.
    loaded = tf.saved_model.load(exported.paths[UNQ])
    assert not hasattr(loaded, "model")
    assert len(loaded.model_weights) == len(export.model_weights(exported.models[UNQ]))


def test_model_weights_exclude_coding_tables(exported):
    model = exported.use(UNUQ)
    weights = export.model_weights(model)
    coding = model.latent_codec.coding_models[0]
    tables = {id(coding._cdf), id(coding._cdf_offset)}
    assert not tables & {id(v) for v in weights}
    assert {id(v) for v in model.trainable_variables + [model.alpha]} == {id(v) for v in weights}
    assert len(weights) == len(export.model_weights(make_model()))  # Unprepared model.


def test_restore_model_and_re_export_in_another_mode(exported, codecs, tmp_path):
    model = export.restore_model(exported.paths[UNQ])
    assert isinstance(model, tfnq.LinearCodec)
    assert model.get_config() == exported.models[UNQ].get_config()
    for a, b in zip(export.model_weights(model), export.model_weights(exported.models[UNQ]),
                    strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    (path,) = export.export_trained(model, str(tmp_path), "again", modes=["UN+UQ"],
                                    training=codecs[UNQ].metadata["training"], coder="range")
    again = tfnq.load(path)
    # The same weights in the same mode: the same fingerprint, so the same files.
    assert again.metadata["fingerprint"] == codecs[UNUQ].metadata["fingerprint"]
    assert again.metadata["training"] == {"lmbda": 0.01, "steps": 0, "expected_grads": False}
    image = random_image(24, 40, seed=7)
    assert again.compress(image) == codecs[UNUQ].compress(image)
    with pytest.raises(tfnq.CodecError, match="cannot be exported as UN\\+UQ\\+SR"):
        export.export_trained(model, str(tmp_path), "bad", modes=["UN+UQ+SR"])


def test_restore_model_rejects_non_models(tmp_path):
    os.makedirs(tmp_path / "m" / "1")
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(tfnq.CodecError, match="^tfnq: .* is not a tfnq model"):
        export.restore_model(str(tmp_path / "m"))


def test_rans_exports_need_only_core_ops_and_decode_in_both_forms(exported, codecs, tmp_path):
    """The default coder: rANS in core TF ops, in a plain and an XLA form, whose files
    decode in either; the same symbols as tfc's range coder, so the same images."""
    model = export.restore_model(exported.paths[UNUQ])
    (path,) = export.export_trained(model, str(tmp_path), "rans", modes=["UN+UQ"],
                                    training={"steps": 0})
    assert export.DEFAULT_CODER == "rans"
    from tfnq import op_scan
    assert op_scan.non_core_ops(path) == []
    ranged = codecs[UNUQ]
    again = tfnq.load(path)
    assert again.metadata["coder"] == "tf-rans"
    assert again.mode == "UN+UQ"
    assert again.metadata["fingerprint"] != ranged.metadata["fingerprint"]
    loaded = tf.saved_model.load(path)
    assert {"compress", "decompress", "compress_xla", "decompress_xla"} <= set(loaded.signatures)
    for size in [(24, 40), (7, 13)]:
        image = random_image(*size, seed=3)
        files = [loaded.compress(image).numpy(), loaded.compress_xla(image).numpy()]
        expected = ranged.decompress(ranged.compress(image))
        for data in files:
            for decode in (loaded.decompress, loaded.decompress_xla):
                np.testing.assert_array_equal(decode(tf.constant(data)).numpy(), expected)
        # What the decoder decodes: the same symbols from the same table rows as tfc's.
        decoded = loaded.signatures["decompress_symbols"](bitstring=tf.constant(files[0]))
        reference = tf.saved_model.load(exported.paths[UNUQ]).signatures[
            "decompress_symbols"](bitstring=tf.constant(ranged.compress(image)))
        assert sorted(decoded) == sorted(reference) == ["rows_0", "symbols_0"]
        for key in decoded:
            np.testing.assert_array_equal(decoded[key].numpy(), reference[key].numpy())
        # Another model's files are refused (the fingerprint), as with any coder.
        with pytest.raises(tfnq.CodecError):
            again.decompress(ranged.compress(image))


# -- The serving signatures ------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported.paths[UNUQ])


def test_signature_inputs(loaded):
    assert {"compress", "decompress"} <= set(loaded.signatures)
    args, kwargs = loaded.signatures["compress"].structured_input_signature
    assert args == () and list(kwargs) == ["image"]
    assert kwargs["image"].dtype == tf.uint8
    assert kwargs["image"].shape.as_list() == [None, None, 3]
    args, kwargs = loaded.signatures["decompress"].structured_input_signature
    assert args == () and list(kwargs) == ["bitstring"]
    assert kwargs["bitstring"].dtype == tf.string and kwargs["bitstring"].shape == []


def test_signatures_round_trip(loaded, codecs):
    image = random_image(9, 8, seed=5)
    outputs = loaded.signatures["compress"](image=tf.constant(image))
    assert len(outputs) == 1
    (bitstring,) = outputs.values()
    assert bitstring.dtype == tf.string and bitstring.shape == []
    assert bitstring.numpy() == codecs[UNUQ].compress(image)
    outputs = loaded.signatures["decompress"](bitstring=bitstring)
    assert len(outputs) == 1
    (decoded,) = outputs.values()
    assert decoded.dtype == tf.uint8
    np.testing.assert_array_equal(decoded.numpy(), codecs[UNUQ].reconstruct(image))


def test_signature_output_names(loaded):
    """The file comes out as `bitstring_bytes`: TF Serving's REST API base64-encodes
    string outputs named `*_bytes` only."""
    image = random_image(9, 8, seed=5)
    outputs = loaded.signatures["compress"](image=tf.constant(image))
    assert list(outputs) == ["bitstring_bytes"]
    outputs = loaded.signatures["decompress"](bitstring=outputs["bitstring_bytes"])
    assert list(outputs) == ["image"]


# -- Round trips through the loaded SavedModels -----------------------------------------


@pytest.mark.parametrize("size", odd_sizes())
@pytest.mark.parametrize("mode", sorted(BY_MODE))
def test_round_trip_odd_sizes(codecs, mode, size):
    codec = codecs[BY_MODE[mode]]
    image = random_image(*size, seed=size[0] * 100 + size[1])
    data = codec.compress(image)
    assert isinstance(data, bytes)
    decoded = codec.decompress(data)
    assert decoded.dtype == np.uint8 and decoded.shape == (*size, 3)
    np.testing.assert_array_equal(decoded, codec.reconstruct(image))


@pytest.mark.parametrize("mode", sorted(BY_MODE))
def test_round_trip_sample_and_container(codecs, mode):
    """Bound: |8 * payload bytes - estimate_bits| <= 0.01 * estimate_bits + 32 bits."""
    codec = codecs[BY_MODE[mode]]
    image = sample_crop(256)
    data = codec.compress(image)
    np.testing.assert_array_equal(codec.decompress(data), codec.reconstruct(image))
    assert codec.compress(image) == data  # Deterministic.

    header = bitstream.parse_header(data)
    assert data[:4] == bitstream.MAGIC
    assert header["version"] == bitstream_v2.FORMAT_VERSION == 2
    assert "mode" not in header  # The fingerprint covers the coding configuration.
    assert header["fingerprint"] == int(codec.metadata["fingerprint"], 16)
    assert (header["height"], header["width"]) == (256, 256)
    assert header["num_sections"] == 1
    assert header["checksum_ok"] and header["size_ok"]
    assert len(data) == CONTAINER_OVERHEAD + sum(header["section_lengths"])
    assert header["header_bytes"] == CONTAINER_OVERHEAD
    payload_bits = (len(data) - CONTAINER_OVERHEAD) * 8
    estimate = codec.estimate_bits(image)
    assert abs(payload_bits - estimate) <= 0.01 * estimate + 32, (payload_bits, estimate)


def test_loaded_codec_matches_in_memory_model(exported, codecs):
    image = random_image(17, 33, seed=9)
    model = exported.use(UNUQ)
    np.testing.assert_array_equal(
        codecs[UNUQ].reconstruct(image), model.reconstruct_image(image).numpy())
    section = bitstream_v2.unpack(codecs[UNUQ].compress(image), 1).sections[0]
    assert section.numpy() == model.compress_image(image)[0].numpy()


# -- Bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(codecs):
    return codecs[UNUQ].compress(random_image(17, 33, seed=1))


def test_decompress_empty(codecs):
    assert "too short" in _decompress_error(codecs[UNUQ], b"")


def test_decompress_truncated(codecs, good_file):
    n = len(good_file)
    for length in [1, 4, 5, 18, 22, 23, 26, 27, 28, n // 2, n - 1]:
        _decompress_error(codecs[UNUQ], good_file[:length])


@pytest.mark.parametrize("position", [0, 3, 4, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22, 23, 26])
def test_decompress_flipped_header_byte(codecs, good_file, position):
    _decompress_error(codecs[UNUQ], _flip(good_file, position))


def test_decompress_flipped_payload_byte(codecs, good_file):
    for position in [27, 28, len(good_file) // 2, -1]:
        message = _decompress_error(codecs[UNUQ], _flip(good_file, position))
        assert "corrupted" in message


def test_decompress_appended_garbage(codecs, good_file):
    for extra in [b"\0", b"garbage", good_file]:
        assert "truncated or corrupted" in _decompress_error(codecs[UNUQ], good_file + extra)


def test_decompress_random_bytes(codecs, good_file):
    rng = np.random.default_rng(0)
    for length in [1, 22, 23, 100, 5000]:
        _decompress_error(codecs[UNUQ], rng.bytes(length))
    _decompress_error(codecs[UNUQ], bitstream.MAGIC + rng.bytes(300))
    _decompress_error(codecs[UNUQ], good_file[:27] + rng.bytes(len(good_file) - 27))


def test_decompress_rejects_non_bytes(codecs, good_file):
    with pytest.raises(tfnq.CodecError, match="^tfnq: "):
        codecs[UNUQ].decompress(good_file.decode("latin-1"))
    np.testing.assert_array_equal(
        codecs[UNUQ].decompress(bytearray(good_file)), codecs[UNUQ].decompress(good_file))


def test_decompress_file_of_other_model(codecs):
    data = codecs[OTHER].compress(random_image(9, 8))
    assert "another model" in _decompress_error(codecs[UNUQ], data)


def test_decompress_file_of_other_mode_same_weights(codecs):
    data = codecs[UNQ].compress(random_image(9, 8))
    message = _decompress_error(codecs[UNUQ], data)
    assert "fingerprint mismatch" in message or "mode" in message
    data = codecs[UNUQ].compress(random_image(9, 8))
    message = _decompress_error(codecs[UNQ], data)
    assert "fingerprint mismatch" in message or "mode" in message


def _forge(codec, height, width, payload):
    """A file with a valid checksum for `codec`'s model, but made-up contents."""
    return bitstream_v2.pack(int(codec.metadata["fingerprint"], 16), height, width,
                             [payload]).numpy()


def _forge_v1(codec, height, width, payload, mode_id=None):
    """The same in format version 1 (with the mode id of the model's preset)."""
    mode_id = coding_config.PRESETS[codec.mode].id if mode_id is None else mode_id
    return bitstream.pack(mode_id, int(codec.metadata["fingerprint"], 16), height, width,
                          [payload]).numpy()


def test_decompress_forged_sizes(codecs, good_file):
    codec = codecs[UNUQ]
    payload = bitstream_v2.unpack(good_file, 1).sections[0].numpy()
    assert "empty image" in _decompress_error(codec, _forge_v1(codec, 0, 33, payload))
    assert "empty image" in _decompress_error(codec, _forge_v1(codec, 17, 0, payload))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image size"):
        _forge(codec, 0, 33, payload)  # Version 2 stores sides minus one: never empty.
    for forge in (_forge, _forge_v1):
        assert "large" in _decompress_error(codec, forge(codec, limits.MAX_SIDE + 1, 1, payload))
    assert "mode" in _decompress_error(codec, _forge_v1(codec, 17, 33, payload, mode_id=1))
    # The genuine payload in a forged but consistent header decodes.
    assert codec.decompress(_forge(codec, 17, 33, payload)).shape == (17, 33, 3)


def test_version_1_files_of_the_model_decode_the_same(codecs, good_file):
    """Files of an earlier export of the same model (format version 1) still decode."""
    codec = codecs[UNUQ]
    payload = bitstream_v2.unpack(good_file, 1).sections[0].numpy()
    old = _forge_v1(codec, 17, 33, payload)
    assert old[4] == 1 and len(old) == len(good_file) + 10  # Version 1: 10 bytes more.
    np.testing.assert_array_equal(codec.decompress(old), codec.decompress(good_file))
    assert "format version 3" in _decompress_error(codec, old[:4] + b"\x03" + old[5:])


def test_decompress_forged_payload_never_crashes(codecs):
    """Garbage with a valid checksum: a clean CodecError, or some image of the right size."""
    codec = codecs[UNUQ]
    rng = np.random.default_rng(1)
    for payload in [b"", b"\0" * 40, b"\xff" * 40, rng.bytes(7), rng.bytes(2000)]:
        data = _forge(codec, 17, 33, payload)
        try:
            image = codec.decompress(data)
        except tfnq.CodecError as e:
            assert str(e).startswith("tfnq: ")
        else:
            assert image.dtype == np.uint8 and image.shape == (17, 33, 3)


@pytest.mark.parametrize("image", [
    np.zeros((8, 8, 3), np.float32),
    np.zeros((8, 8, 3), np.int64),
    np.zeros((8, 8), np.uint8),
    np.zeros((8, 8, 4), np.uint8),
    np.zeros((8, 8, 1), np.uint8),
    np.zeros((1, 8, 8, 3), np.uint8),
    np.zeros((0, 8, 3), np.uint8),
    np.zeros((8, 0, 3), np.uint8),
    np.zeros((0, 0, 3), np.uint8),
], ids=["float32", "int64", "HxW", "HxWx4", "HxWx1", "4-D", "0xW", "Hx0", "0x0"])
def test_compress_rejects_bad_images(codecs, image):
    with pytest.raises(tfnq.CodecError, match="^tfnq: "):
        codecs[UNUQ].compress(image)
    with pytest.raises(tfnq.CodecError, match="^tfnq: "):
        codecs[UNUQ].reconstruct(image)


def test_compress_rejects_too_large_images(codecs):
    # Checked before any work is done (the array is not even read).
    image = np.lib.stride_tricks.as_strided(
        np.zeros(3, np.uint8), shape=(limits.MAX_SIDE + 1, 1, 3), strides=(0, 0, 1))
    with pytest.raises(tfnq.CodecError, match="^tfnq: images above"):
        codecs[UNUQ].compress(image)


def test_tiny_image_error_is_informative(codecs):
    try:
        data = codecs[UNQ].compress(random_image(1, 1))
    except tfnq.CodecError as e:
        message = str(e)
        assert message.startswith("tfnq: ") and "\n" not in message
        assert "Graph execution error" not in message and not message.endswith(":"), message
    else:
        assert codecs[UNQ].decompress(data).shape == (1, 1, 3)


def test_exports_of_tfnq_0_1_are_refused_with_what_to_do(tmp_path):
    """tfnq 0.1's object graph held the Keras model, not `model_weights`; every shipped
    one was re-exported, and such an export now gets a message, not a crash."""
    model = make_model()
    model(tf.zeros([1, 16, 16, 3]))
    legacy = tf.Module()
    legacy.model = model
    tf.saved_model.save(legacy, str(tmp_path / "1"))
    os.makedirs(tmp_path / "1" / "assets.extra")
    with open(tmp_path / "1" / "assets.extra" / "tfnq.json", "w") as f:
        json.dump(dict(architecture=model.architecture, config=model.get_config(),
                       mode="UN+Q"), f)
    for restore in (export.restore_model, export.read_tables):
        with pytest.raises(tfnq.CodecError, match="exported by tfnq 0.1.*re-export it"):
            restore(str(tmp_path))


