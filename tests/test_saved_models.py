"""The models shipped in saved_models/: each one loads, codes bit-exactly, and still makes
and reads its golden file (tests/golden/, written by scripts/make_golden.py)."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

import tfnq
from tfnq import image_io, registry
from tfnq.evaluation import metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "saved_models")
GOLDEN = os.path.join(REPO, "tests", "golden")
MODELS = registry.list_models(SHIPPED)
with open(os.path.join(GOLDEN, "manifest.json")) as _f:
    MANIFEST = json.load(_f)


def _golden_params():
    """A parameter per shipped model. One model per architecture, mode and coder (the
    default model first) is checked in the fast suite; the others, the same code paths
    with other weights (~25 s each, mostly XLA compilation), are marked slow."""
    default = registry.default_model(SHIPPED)
    fast = {}
    for m in sorted(MODELS, key=lambda m: m["name"] != default):
        fast.setdefault((m["architecture"], m["mode"], m.get("coder")), m["name"])
    return [pytest.param(m, id=m["name"],
                         marks=() if m["name"] in fast.values() else pytest.mark.slow)
            for m in MODELS]


def test_default_model_is_shipped():
    assert registry.default_model(SHIPPED) in {m["name"] for m in MODELS}


def test_shipped_fingerprints_are_distinct():
    fingerprints = [m["fingerprint"] for m in MODELS]
    assert len(set(fingerprints)) == len(fingerprints)


def test_every_shipped_model_has_a_golden_file():
    assert sorted(MANIFEST) == sorted(m["name"] for m in MODELS)
    for m in MODELS:
        assert MANIFEST[m["name"]]["fingerprint"] == m["fingerprint"], (
            f"{m['name']} was re-exported: regenerate its golden file on purpose "
            "(scripts/make_golden.py) and say why")


@pytest.fixture(scope="module")
def golden_crop():
    top, left, height, width = next(iter(MANIFEST.values()))["crop"]
    return image_io.sample_image()[top:top + height, left:left + width]


@pytest.mark.parametrize("info", _golden_params())
def test_shipped_model_round_trip_and_golden_file(info, golden_crop):
    codec = tfnq.load(info["path"])
    assert codec.mode == info["mode"]
    image = image_io.sample_image()[100:171, 200:297]  # 71x97: padding on both sides
    data = codec.compress(image)
    decoded = codec.decompress(data)
    np.testing.assert_array_equal(decoded, codec.reconstruct(image))
    # The file is within 2% + container of the estimate, and decodes to a photo.
    assert 8 * len(data) <= 1.02 * codec.estimate_bits(image) + 8 * 64
    assert metrics.psnr(image, decoded) > 20

    # The golden file: the same bytes from the same crop, and the same decode.
    golden = MANIFEST[info["name"]]
    with open(os.path.join(GOLDEN, f"{info['name']}.tfnq"), "rb") as f:
        golden_file = f.read()
    assert hashlib.sha256(golden_file).hexdigest() == golden["file_sha256"]
    assert codec.compress(golden_crop) == golden_file
    expected = np.asarray(Image.open(os.path.join(GOLDEN, f"{info['name']}.png")))
    _assert_golden_decode(codec.decompress(golden_file), expected, golden, info["name"])
    # Files of the model's earlier export (an older container version) still decode.
    for earlier in golden.get("earlier_files", []):
        with open(os.path.join(GOLDEN, earlier["file"]), "rb") as f:
            earlier_file = f.read()
        assert hashlib.sha256(earlier_file).hexdigest() == earlier["file_sha256"]
        assert earlier_file[4] == earlier["version"] != golden_file[4]
        _assert_golden_decode(codec.decompress(earlier_file), expected, golden,
                              earlier["file"])
    # Files of the export it replaced with another coder: refused, naming that export.
    for replaced in golden.get("replaced_files", []):
        with open(os.path.join(GOLDEN, replaced["file"]), "rb") as f:
            replaced_file = f.read()
        assert hashlib.sha256(replaced_file).hexdigest() == replaced["file_sha256"]
        how = (f"with numerics {replaced['numerics']}" if "numerics" in replaced
               else f"coded with {replaced['coder']}")
        with pytest.raises(tfnq.CodecError, match=f"written by version {replaced['version']} "
                           f"of {info['name']}, {how}"):
            codec.decompress(replaced_file)


def _assert_golden_decode(decoded, expected, golden, name):
    if hashlib.sha256(decoded.tobytes()).hexdigest() != golden["decoded_sha256"]:
        # Bit-exact on the machine that wrote it. A CPU whose convolution kernels round
        # differently (seen: AVX-512 against AVX2) moves a few pixels by one level,
        # from the same symbols; anything more is a real change.
        difference = np.abs(decoded.astype(int) - expected.astype(int))
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.01, (
            f"{name} decodes differently from its golden image")
