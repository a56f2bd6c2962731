"""tfnq.client with a stack-coded export (`coder="ans"`): the coder runs in Python
between the export's symbol-level functions, behind the same `compress`/`decompress`.

(`tests/test_export.py` covers the client with in-graph coding.)
"""

import numpy as np
import pytest
import tensorflow as tf

import tfnq
from tfnq import bitstream_v2, export, image_io, op_scan


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A small untrained hyperprior (UN+UQ: dithered, two sections) and the linear
    codec (UN+Q), each exported with the range coder and with ANS (same weights)."""
    root = tmp_path_factory.mktemp("stack")
    models = {"hp": tfnq.MeanScaleHyperprior(8, 12, num_scales=12, scale_max=20.0),
              "lin": tfnq.LinearCodec(init="jpeg", init_step=16)}
    out = {}
    for name, model in models.items():
        for preset in ("UN+UQ",) if name == "hp" else ("UN+Q",):
            ans = tfnq.get_coding_config(preset).replace(coder="ans")
            out[name, preset] = (
                tfnq.load(export.export_model(model, preset, str(root / f"{name}-{preset}"))),
                tfnq.load(export.export_model(model, ans, str(root / f"{name}-{preset}-ans"))))
    return out


@pytest.fixture(scope="module")
def image():
    return image_io.sample_image()[40:111, 200:297]  # 71x97: padded on both sides


@pytest.mark.parametrize("key", [("hp", "UN+UQ"), ("lin", "UN+Q")], ids="-".join)
def test_ans_round_trip_decodes_what_the_range_coder_decodes(exports, image, key):
    graph, stack = exports[key]
    assert stack.metadata["coder"] == "constriction-ans"
    assert stack.metadata["coding_config"]["coder"] == "ans"
    assert stack.mode == tfnq.get_coding_config(key[1]).replace(coder="ans").label
    data = stack.compress(image)
    assert data[:4] == b"TFNQ" and data[4] == 2
    decoded = stack.decompress(data)
    np.testing.assert_array_equal(decoded, stack.reconstruct(image))
    np.testing.assert_array_equal(decoded, graph.decompress(graph.compress(image)))
    # One message for all sections (32-bit words) against one range-coded string per
    # section: within a word or two per section, and within the estimate.
    assert abs(len(data) - len(graph.compress(image))) <= 8 * 2
    assert 8 * len(data) <= 1.02 * stack.estimate_bits(image) + 8 * 64
    assert stack.compress(image) == data  # Deterministic.


def test_ans_export_needs_core_tensorflow_only(exports):
    """No coding op in the graph: stock TensorFlow (and TF Serving) loads it."""
    _, stack = exports["hp", "UN+UQ"]
    assert op_scan.non_core_ops(stack.path) == []
    loaded = tf.saved_model.load(stack.path)
    assert {"to_symbols", "section_rows_0", "section_rows_1", "from_symbols",
            "coding_tables"} <= set(loaded.signatures)


def test_ans_files_refuse_damage_and_other_models(exports, image):
    graph, stack = exports["hp", "UN+UQ"]
    data = stack.compress(image)
    for bad, message in [(data[:-3], "truncated or corrupted"), (data[:10], "not a tfnq file"),
                         (b"", "not a tfnq file"), (graph.compress(image), "sections"),
                         (exports["lin", "UN+Q"][1].compress(image), "another model")]:
        with pytest.raises(tfnq.CodecError, match=message):
            stack.decompress(bad)
    with pytest.raises(tfnq.CodecError, match="sections"):
        graph.decompress(data)  # The in-graph export of the same weights.
    # A forged file (valid checksum, garbage message): a clean error or an image.
    rng = np.random.default_rng(0)
    for size in (4, 8, 64, 400):
        forged = bitstream_v2.pack(int(stack.metadata["fingerprint"], 16), image.shape[0],
                                   image.shape[1], [rng.bytes(size)]).numpy()
        try:
            out = stack.decompress(forged)
        except tfnq.CodecError as e:
            assert str(e).startswith("tfnq: ")
        else:
            assert out.shape == image.shape and out.dtype == np.uint8


def test_ans_needs_a_model_of_the_right_kind():
    model = tfnq.LinearCodec(init="jpeg", init_step=16)
    model(tf.zeros([1, 64, 64, 3]))
    with pytest.raises(ValueError, match="cannot code with 'ans'"):
        export.ServableCodec(model, tfnq.get_coding_config("UN+Q").replace(coder="ans"))
    with pytest.raises(ValueError, match="Unknown coder 'zip'"):
        export.servable_for(model, tfnq.get_coding_config("UN+Q").replace(coder="zip"))
