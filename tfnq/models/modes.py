"""The ways to run a codec, named as in Sec. 5.1 of Agustsson & Theis (NeurIPS 2020)."""

import dataclasses

__all__ = [
    "MODES",
    "Mode",
    "get_mode",
]


@dataclasses.dataclass(frozen=True)
class Mode:
    """A test-time coding mode.

    Attributes:
      name: "UN+Q", "UN+UQ" or "UN+UQ+SR".
      id: The number stored in bitstream headers.
      dither: Universal quantization (True) or rounding (False) at test time.
      soft_round: Whether the model soft-rounds inside the noise channel (trained so).
    """

    name: str
    id: int
    dither: bool
    soft_round: bool


MODES = {
    # Uniform noise in training, rounding at test time (the usual baseline).
    "UN+Q": Mode("UN+Q", 1, dither=False, soft_round=False),
    # Uniform noise in training, universal quantization at test time.
    "UN+UQ": Mode("UN+UQ", 2, dither=True, soft_round=False),
    # Soft rounding inside the noise channel, universal quantization at test time.
    "UN+UQ+SR": Mode("UN+UQ+SR", 3, dither=True, soft_round=True),
}


def get_mode(name):
    """Looks up a `Mode` by name (a trailing "+E" for expected gradients is ignored)."""
    key = name.upper().replace(" ", "")
    if key.endswith("+E"):
        key = key[:-2]
    if key not in MODES:
        raise ValueError(f"Unknown mode {name!r}; choose one of {sorted(MODES)} (+E optional).")
    return MODES[key]
