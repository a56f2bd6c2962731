"""Coding configurations: presets, serialization, and what a model accepts."""

import json

import pytest

import tfnq
from tfnq import coding_config


def test_presets_keep_their_version_1_ids():
    presets = coding_config.PRESETS
    assert {name: c.id for name, c in presets.items()} == {"UN+Q": 1, "UN+UQ": 2, "UN+UQ+SR": 3}
    assert not presets["UN+Q"].dither and presets["UN+UQ"].dither
    assert presets["UN+UQ+SR"].soft_round and not presets["UN+UQ"].soft_round
    for name, config in presets.items():
        assert config.name == name == config.label == config.canonical()


@pytest.mark.parametrize("name", ["un+q", "UN+UQ+E", " UN+UQ+SR "])
def test_lookup_by_name(name):
    key = name.upper().strip()
    key = key[:-2] if key.endswith("+E") else key
    assert coding_config.get_coding_config(name) is coding_config.PRESETS[key]


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="Unknown mode"):
        coding_config.get_coding_config("UN+XQ")


@pytest.mark.parametrize("name", sorted(coding_config.PRESETS))
def test_json_round_trip_returns_the_preset(name):
    preset = coding_config.PRESETS[name]
    value = json.loads(json.dumps(preset.to_json()))
    assert coding_config.get_coding_config(value) is preset


def test_a_configuration_of_ones_own():
    custom = coding_config.PRESETS["UN+UQ"].replace(params=(("step", 0.25),),
                                                     refinement="latent_shift")
    assert custom.name is None and custom.id == 0
    assert custom != coding_config.PRESETS["UN+UQ"]
    assert custom.label == "universal+latent_shift"
    back = coding_config.get_coding_config(json.loads(json.dumps(custom.to_json())))
    assert back == custom and back.params == (("step", 0.25),)
    # Its canonical form (hashed into fingerprints) differs from the preset's name.
    assert custom.canonical() != "UN+UQ"
    assert json.loads(custom.canonical())["refinement"] == "latent_shift"


def test_models_check_the_channel_they_were_trained_with():
    model = tfnq.LinearCodec(init="jpeg")
    assert model.check_config("UN+UQ") is coding_config.PRESETS["UN+UQ"]
    with pytest.raises(ValueError, match="soft rounding"):
        model.check_config(coding_config.PRESETS["UN+UQ+SR"])


def test_the_quantizer_comes_from_the_configuration():
    model = tfnq.LinearCodec(init="jpeg", num_noise_levels=7)
    rounding, universal = (
        model.prepare_coding(name)[0].quantizer for name in ("UN+Q", "UN+UQ"))
    assert isinstance(rounding, tfnq.quantizers.Rounding)
    # A universal quantizer's levels default to the model's num_noise_levels.
    assert isinstance(universal, tfnq.quantizers.UniversalQuantizer)
    assert universal.num_levels == 7
    three = coding_config.PRESETS["UN+UQ"].replace(
        quantizer=(("name", "universal"), ("num_levels", 3)))
    assert model.prepare_coding(three)[0].quantizer.num_levels == 3


def test_stages_a_model_does_not_have_are_refused():
    custom = coding_config.PRESETS["UN+UQ"].replace(inference="sga")
    with pytest.raises(ValueError, match="no inference 'sga'"):
        tfnq.LinearCodec(init="jpeg").prepare_coding(custom)


def test_a_configuration_of_ones_own_exports_and_codes(tmp_path):
    """Three dither levels: a configuration, not a preset; format version 2 only."""
    import numpy as np

    from tfnq import bitstream_v2, export
    model = tfnq.LinearCodec(init="jpeg")
    three = coding_config.PRESETS["UN+UQ"].replace(
        quantizer=(("name", "universal"), ("num_levels", 3)))
    path = export.export_model(model, three, str(tmp_path / "three"))
    preset = export.export_model(model, "UN+UQ", str(tmp_path / "preset"))
    codec, other = tfnq.load(path), tfnq.load(preset)
    assert codec.metadata["coding_config"]["quantizer"] == {"name": "universal",
                                                            "num_levels": 3}
    assert codec.metadata["fingerprint"] != other.metadata["fingerprint"]
    image = np.random.default_rng(0).integers(0, 256, [24, 40, 3], dtype=np.uint8)
    data = codec.compress(image)
    assert data[4] == bitstream_v2.FORMAT_VERSION
    np.testing.assert_array_equal(codec.decompress(data), codec.reconstruct(image))
    with pytest.raises(tfnq.CodecError, match="another model"):
        other.decompress(data)
