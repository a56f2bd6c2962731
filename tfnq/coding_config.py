"""How a trained model codes: a coding configuration is data, not an enum.

A `CodingConfig` names the stages a codec runs at test time and their parameters:

* `quantizer`: the test-time quantizer's configuration (`tfnq.quantizers`), e.g.
  `{"name": "round"}` or `{"name": "universal", "num_levels": 15}` (without
  `num_levels`, the model's `num_noise_levels`);
* `soft_round`: whether the latents go through the soft-rounding channel (the model
  must have been trained so, Sec. 4.1 of Agustsson & Theis, NeurIPS 2020);
* `coder`: the entropy coder (`tfnq.coders`, by name): "range" (tfc's custom ops),
  "rans" (core TF ops: loads in any TensorFlow) or "ans" (outside the graph);
  `with_coder` swaps it, keeping a preset's name;
* `inference`: encode-time inference over the latents (`"none"`: the analysis
  transform's output is coded as it is);
* `refinement`: decoder-side refinement of the decoded latents (`"none"`);
* `params`: further named values a configuration fixes (e.g. a rate);
* `inputs`: values the encoder takes per image, with defaults (e.g. a rate parameter or
  a number of optimization steps): the export's `compress` uses the defaults and
  `compress_with_inputs` takes them (`tfnq.client.Codec.compress(image, **inputs)`).
  They steer encode-time stages only; what a decoder needs goes into the file.

The test-time settings of Sec. 5.1 of Agustsson & Theis are named presets: "UN+Q"
(rounding), "UN+UQ" (universal quantization), "UN+UQ+SR" (soft rounding and universal
quantization); each keeps the mode id files of format version 1 carry in their
header. A configuration is stored in an export's metadata (`to_json`) and is part of
its fingerprint.
"""

import dataclasses
import json

__all__ = [
    "PRESETS",
    "CodingConfig",
    "get_coding_config",
]


@dataclasses.dataclass(frozen=True)
class CodingConfig:
    """The test-time stages of a codec and their parameters (see the module docstring).

    Attributes:
      quantizer: Quantizer configuration, as a tuple of `(key, value)` pairs
        (hashable; `quantizer_config` gives the dict).
      soft_round: Soft-rounding channel.
      coder: Entropy coder name.
      inference: Encode-time inference.
      refinement: Decoder-side refinement.
      params: Further `(name, value)` pairs.
      inputs: `(name, dtype, default)` triples: per-image encoder inputs (`dtype` a
        TensorFlow dtype name, e.g. "float32" or "int32").
      name: The preset's name, or None for a configuration of one's own.
      id: The preset's mode id in version-1 headers (0: none).
    """

    quantizer: tuple = (("name", "round"),)
    soft_round: bool = False
    coder: str = "range"
    inference: str = "none"
    refinement: str = "none"
    params: tuple = ()
    inputs: tuple = ()
    name: str | None = dataclasses.field(default=None, compare=False)
    id: int = dataclasses.field(default=0, compare=False)

    @property
    def quantizer_config(self):
        return dict(self.quantizer)

    @property
    def dither(self):
        """Whether the quantizer is universal (dithered)."""
        return self.quantizer_config.get("name") == "universal"

    @property
    def label(self):
        """The preset name, or a short description of the configuration."""
        if self.name:
            return self.name
        parts = [self.quantizer_config["name"]] + (["sr"] if self.soft_round else [])
        parts += [v for v in (self.inference, self.refinement) if v != "none"]
        parts += [self.coder] if self.coder != "range" else []
        return "+".join(parts)

    def to_json(self):
        """A JSON-serializable dict (the metadata's `coding_config`)."""
        value = dict(quantizer=self.quantizer_config, soft_round=self.soft_round,
                     coder=self.coder, inference=self.inference,
                     refinement=self.refinement, params=dict(self.params))
        if self.name and self.coder != "range":  # `with_coder` of a preset.
            value["preset"] = self.name
        if self.inputs:  # Only when there are: older fingerprints stay what they were.
            value["inputs"] = [dict(name=n, dtype=d, default=v) for n, d, v in self.inputs]
        return value

    @classmethod
    def from_json(cls, value):
        """The configuration of `to_json` (the preset itself if it is one)."""
        config = cls(quantizer=tuple(sorted(value["quantizer"].items())),
                     soft_round=bool(value.get("soft_round", False)),
                     coder=value.get("coder", "range"),
                     inference=value.get("inference", "none"),
                     refinement=value.get("refinement", "none"),
                     params=tuple(sorted(value.get("params", {}).items())),
                     inputs=tuple((i["name"], i["dtype"], i["default"])
                                  for i in value.get("inputs", [])))
        if value.get("preset"):  # A preset coded with another coder (`with_coder`).
            preset = get_coding_config(value["preset"]).with_coder(config.coder)
            if preset != config:
                raise ValueError(f"a coding configuration named {value['preset']!r} "
                                 f"whose stages are not that preset's: {value}")
            return preset
        for preset in PRESETS.values():
            if preset == config:
                return preset
        return config

    def canonical(self):
        """A string that identifies the configuration (for fingerprints)."""
        if self.name:
            return self.name + ("" if self.coder == "range" else f"/{self.coder}")
        return json.dumps(self.to_json(), sort_keys=True)

    def with_coder(self, coder):
        """The same stages coded with another entropy coder (`tfnq.coders.CODERS`).

        A preset keeps its name and mode id (the coder is how the symbols are
        written, not what they are), so "UN+Q" coded with rANS is still "UN+Q"; the
        fingerprint (`canonical`) tells the two apart.
        """
        return dataclasses.replace(self, coder=coder)

    def replace(self, **changes):
        """A copy with `changes` (a custom configuration: no preset name or id)."""
        changes.setdefault("name", None)
        changes.setdefault("id", 0)
        return dataclasses.replace(self, **changes)


# The dither's levels are the model's (`num_noise_levels`) unless a configuration says.
_UNIVERSAL = (("name", "universal"),)

PRESETS = {
    # Uniform noise in training, rounding at test time (the usual baseline).
    "UN+Q": CodingConfig(name="UN+Q", id=1),
    # Uniform noise in training, universal quantization at test time.
    "UN+UQ": CodingConfig(quantizer=_UNIVERSAL, name="UN+UQ", id=2),
    # Soft rounding inside the noise channel, universal quantization at test time.
    "UN+UQ+SR": CodingConfig(quantizer=_UNIVERSAL, soft_round=True, name="UN+UQ+SR", id=3),
}


def get_coding_config(config):
    """A `CodingConfig`: itself, a preset by name (a trailing "+E" for expected
    gradients, a training option, is ignored), or one from its `to_json` dict."""
    if isinstance(config, CodingConfig):
        return config
    if isinstance(config, dict):
        return CodingConfig.from_json(config)
    key = str(config).upper().replace(" ", "")
    if key.endswith("+E"):
        key = key[:-2]
    if key not in PRESETS:
        raise ValueError(f"Unknown mode {config!r}; choose one of {sorted(PRESETS)} "
                         "(+E optional) or give a CodingConfig.")
    return PRESETS[key]
