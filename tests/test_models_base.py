"""tfnq.models.base: the encode-time inference hook and the encoder inputs a coding
configuration declares (`CodingConfig.inputs`), through export and `tfnq.load`."""

import numpy as np
import pytest
import tensorflow as tf

import tfnq
from tfnq import coding_config, export, image_io


class _ScaledLinear(tfnq.LinearCodec):
    """A test model whose encode-time inference scales the latents by an input."""

    supported_inputs = ("gain",)

    def infer(self, latents, x, gain=1.0):
        return latents * tf.cast(gain, latents.dtype)


GAIN = tfnq.PRESETS["UN+Q"].replace(inputs=(("gain", "float32", 1.0),))


def test_inputs_are_part_of_the_configuration():
    value = GAIN.to_json()
    assert value["inputs"] == [dict(name="gain", dtype="float32", default=1.0)]
    assert coding_config.CodingConfig.from_json(value) == GAIN
    assert GAIN.canonical() != tfnq.PRESETS["UN+Q"].replace().canonical()
    # A configuration without inputs serializes as before (fingerprints stay).
    assert "inputs" not in tfnq.PRESETS["UN+Q"].replace().to_json()


def test_a_model_refuses_inputs_it_does_not_take():
    model = tfnq.LinearCodec(init="jpeg", init_step=16)
    with pytest.raises(ValueError, match="takes no encoder input 'gain'"):
        model.check_config(GAIN)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    model = _ScaledLinear(init="jpeg", init_step=16)
    return tfnq.load(export.export_model(model, GAIN, str(tmp_path_factory.mktemp("g"))))


def test_encoder_inputs_through_the_export(codec):
    image = image_io.sample_image()[100:164, 200:264]
    assert codec.inputs == {"gain": 1.0}
    default = codec.compress(image)
    assert codec.compress(image, gain=1.0) == default
    smaller = codec.compress(image, gain=0.5)  # Latents halved: fewer bits.
    assert len(smaller) < len(default)
    # The decoder needs no input: both files decode, each to its own reconstruction.
    np.testing.assert_array_equal(codec.decompress(default), codec.reconstruct(image))
    assert codec.decompress(smaller).shape == image.shape
    assert not np.array_equal(codec.decompress(smaller), codec.decompress(default))
    with pytest.raises(tfnq.CodecError, match="takes no encoder input 'steps'"):
        codec.compress(image, steps=3)
    assert "compress_with_inputs" in tf.saved_model.load(codec.path).signatures
