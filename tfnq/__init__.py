"""tfnq: neural image compression beyond plain rounding, on TensorFlow Compression.

The public API. Names are imported on first use (PEP 562), so that light entry
points such as the `tfnq` command can configure TensorFlow before it is loaded.
"""

import importlib

__version__ = "0.1.0"

_API = {
    # Ops.
    "soft_round": "tfnq.ops",
    "soft_round_inverse": "tfnq.ops",
    "soft_round_conditional_mean": "tfnq.ops",
    "noisy_soft_round_reconstruction": "tfnq.ops",
    "apply_with_noise": "tfnq.ops",
    "expected_derivative": "tfnq.ops",
    # Distributions.
    "SoftRoundAdaptedDensity": "tfnq.distributions",
    "noisy_density": "tfnq.distributions",
    # Entropy models and coders.
    "UniversalBatchedEntropyModel": "tfnq.entropy_models",
    "UniversalIndexedEntropyModel": "tfnq.entropy_models",
    "Coder": "tfnq.coders",
    "RangeCoder": "tfnq.coders",
    "StackCoder": "tfnq.coders",
    "AnsCoder": "tfnq.coders",
    # Layers.
    "BlockAnalysis": "tfnq.layers",
    "BlockSynthesis": "tfnq.layers",
    "SoftRound": "tfnq.layers",
    "SoftRoundInverse": "tfnq.layers",
    "SoftRoundConditionalMean": "tfnq.layers",
    "AnalysisTransform": "tfnq.layers",
    "SynthesisTransform": "tfnq.layers",
    "HyperAnalysisTransform": "tfnq.layers",
    "HyperSynthesisTransform": "tfnq.layers",
    # Models.
    "LinearCodec": "tfnq.models",
    "MeanScaleHyperprior": "tfnq.models",
    "VariableRateHyperprior": "tfnq.models",
    "CompressionModel": "tfnq.models",
    # Coding configurations (the presets UN+Q, UN+UQ, UN+UQ+SR).
    "CodingConfig": "tfnq.coding_config",
    "PRESETS": "tfnq.coding_config",
    "get_coding_config": "tfnq.coding_config",
    # Quantizers and latent codecs.
    "Rounding": "tfnq.quantizers",
    "UniversalQuantizer": "tfnq.quantizers",
    "SoftRoundChannel": "tfnq.quantizers",
    "FactorizedLatentCodec": "tfnq.latent_codecs",
    "MeanScaleHyperpriorLatentCodec": "tfnq.latent_codecs",
    # Export and loading.
    "export_model": "tfnq.export",
    "Codec": "tfnq.client",
    "load": "tfnq.client",
    "CodecError": "tfnq.layout",
}

_SUBMODULES = (
    "bitstream", "bitstream_v2", "cli", "client", "coders", "coding_config", "data",
    "distributions", "entropy_models", "evaluation", "export", "fingerprint", "image_io",
    "latent_codecs", "layers", "layout", "limits", "models", "op_scan", "ops", "quantizers",
    "registry", "serving", "training")

__all__ = sorted(_API) + list(_SUBMODULES)


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"tfnq.{name}")
    else:
        raise AttributeError(f"module 'tfnq' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
