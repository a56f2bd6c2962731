"""The models shipped in saved_models/: each one loads and codes bit-exactly."""

import os

import numpy as np
import pytest

import tfnq
from tfnq import image_io, registry

SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "saved_models")
MODELS = registry.list_models(SHIPPED)


def test_default_model_is_shipped():
    assert registry.default_model(SHIPPED) in {m["name"] for m in MODELS}


def test_shipped_fingerprints_are_distinct():
    fingerprints = [m["fingerprint"] for m in MODELS]
    assert len(set(fingerprints)) == len(fingerprints)


@pytest.mark.parametrize("info", MODELS, ids=[m["name"] for m in MODELS])
def test_shipped_model_round_trip(info):
    codec = tfnq.load(info["path"])
    assert codec.mode == info["mode"]
    image = image_io.sample_image()[100:171, 200:297]  # 71x97: padding on both sides
    data = codec.compress(image)
    decoded = codec.decompress(data)
    np.testing.assert_array_equal(decoded, codec.reconstruct(image))
    # The file is within 2% + container of the estimate, and decodes to a photo.
    assert 8 * len(data) <= 1.02 * codec.estimate_bits(image) + 8 * 64
    assert image_io.psnr(image, decoded) > 20
