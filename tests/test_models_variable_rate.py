"""Tests for tfnq.models.VariableRateHyperprior: gains, rates, training, real coding.

Tiny untrained models (N=8, M=12) with three rates.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import random_image

import tfnq
from tfnq import export, layout, training

N, M = 8, 12
LAMBDAS = (0.004, 0.01, 0.03)


def _model(soft_round=False, seed=0, **kwargs):
    tf.random.set_seed(seed)
    args = dict(lambdas=LAMBDAS, reference_lambda=0.01, num_filters=N, num_latents=M,
                num_scales=12, scale_max=20.0)
    if soft_round:
        args.update(soft_round=True, expected_grads=True, alpha=4.0)
    args.update(kwargs)
    return tfnq.VariableRateHyperprior(**args)


def _batch(seed=0, size=64):
    return tf.constant(np.stack([random_image(size, size, seed=seed),
                                 random_image(size, size, seed=seed + 1)]), tf.float32)


def test_gains_start_at_the_high_rate_step_and_rate_0_uses_the_base_density():
    model = _model()
    for r, lmbda in enumerate(LAMBDAS):
        np.testing.assert_allclose(model.log_latent_gains[r].numpy(),
                                   0.5 * math.log(lmbda / 0.01), rtol=1e-6)
        np.testing.assert_allclose(model.log_latent_inverse_gains[r].numpy(),
                                   -model.log_latent_gains[r].numpy())
        np.testing.assert_array_equal(model.log_hyper_gains[r].numpy(), 0)
    assert model.hyper_base_priors[0] is model.hyper_base_prior
    assert len({id(p) for p in model.hyper_base_priors}) == len(LAMBDAS)
    assert model.get_config()["lambdas"] == list(LAMBDAS)
    assert tfnq.VariableRateHyperprior(**model.get_config()).get_config() == model.get_config()


@pytest.mark.parametrize("lambdas", [(), (0.01, 0.004), (0.01, 0.01)])
def test_lambdas_must_increase(lambdas):
    with pytest.raises(ValueError, match="increasing"):
        tfnq.VariableRateHyperprior(lambdas=lambdas, num_filters=N, num_latents=M)


@pytest.mark.parametrize("rate", [None, -1, 3])
def test_a_rate_is_required(rate):
    with pytest.raises(ValueError, match="rate in 0..2"):
        _model()(_batch(), training=True, rate=rate)


def test_finer_steps_cost_more_bits():
    model = _model()
    bits = [float(model(_batch(), training=False, mode="UN+Q", rate=r)[0]) for r in range(3)]
    assert bits[0] < bits[1] < bits[2]


def test_starts_as_the_fixed_rate_model_at_the_reference_lambda():
    """At the reference lambda the gains are one, so a model initialized from a
    fixed-rate one computes exactly what that model computes; other rates differ."""
    tf.random.set_seed(3)
    fixed = tfnq.MeanScaleHyperprior(N, M, num_scales=12, scale_max=20.0)
    model = _model(seed=4)
    x = _batch()
    assert float(model(x, training=False, mode="UN+Q", rate=1)[0]) != pytest.approx(
        float(fixed(x, training=False, mode="UN+Q")[0]))
    model.initialize_from(fixed)
    for mode in ["UN+Q", "UN+UQ"]:
        expected = fixed(x, training=False, mode=mode)
        got = model(x, training=False, mode=mode, rate=1)
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_array_equal(e.numpy(), g.numpy())
    assert float(model(x, training=False, mode="UN+Q", rate=0)[0]) < float(expected[0])
    for base in model.hyper_base_priors:
        for a, b in zip(base.variables, fixed.hyper_base_prior.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="cannot initialize"):
        model.initialize_from(tfnq.MeanScaleHyperprior(N, 2 * M))


def test_trainer_takes_turns_and_leaves_the_other_rates_alone():
    model = _model(soft_round=True)
    schedule = training.Schedule(num_steps=10, lmbda=0.01, learning_rate=1e-2,
                                 density_learning_rate=1e-2, rate_learning_rate=1e-2)
    trainer = training.Trainer(model, schedule)

    def snapshot(r):
        return [v.numpy().copy() for v in (
            [model.log_latent_gains[r], model.log_latent_inverse_gains[r],
             model.log_hyper_gains[r], model.log_hyper_inverse_gains[r]]
            + list(model.hyper_base_priors[r].variables))]

    before = [snapshot(r) for r in range(3)]
    kernel = model.analysis.layers[0].kernel.numpy()
    out = trainer.train_step(_batch())
    assert out["rate"] == 0 and out["lmbda"] == pytest.approx(LAMBDAS[0])
    assert int(trainer.skipped.numpy()) == 0
    assert not np.array_equal(model.analysis.layers[0].kernel.numpy(), kernel)
    for r in range(3):
        moved = [not np.array_equal(a, b) for a, b in zip(before[r], snapshot(r), strict=True)]
        assert all(moved) if r == 0 else not any(moved), (r, moved)
    out = trainer.train_step(_batch())
    assert out["rate"] == 1 and out["lmbda"] == pytest.approx(LAMBDAS[1])
    assert any(not np.array_equal(a, b) for a, b in zip(before[1], snapshot(1), strict=True))
    # The gains have an optimizer of their own, the shared transforms another.
    assert {id(v) for v in model.rate_variables}.isdisjoint(
        id(v) for v in model.transform_variables)
    assert len(trainer.rate_optimizer.variables) > 1


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """UN+Q exports of rates 0 and 2 of one model, and the model."""
    root = tmp_path_factory.mktemp("vr")
    model = _model(seed=5)
    paths = {r: export.export_model(model, "UN+Q", str(root / f"vr-{r}"), rate=r)
             for r in (0, 2)}
    return model, paths


def test_every_rate_exports_its_own_codec(exports):
    model, paths = exports
    image = random_image(45, 70, seed=7)
    codecs = {r: tfnq.load(p) for r, p in paths.items()}
    files = {}
    for r, codec in codecs.items():
        assert codec.metadata["coding"] == dict(rate=r, lmbda=LAMBDAS[r])
        assert codec.metadata["architecture"] == "variable_rate_hyperprior"
        files[r] = codec.compress(image)
        np.testing.assert_array_equal(codec.decompress(files[r]), codec.reconstruct(image))
        # At most the estimate (+2%, + the container); escapes of an untrained model's
        # tail values can make the file smaller than the estimate, never much larger.
        assert 8 * len(files[r]) <= 1.02 * float(codec.estimate_bits(image)) + 8 * 64
    assert len(files[0]) < len(files[2])
    assert codecs[0].metadata["fingerprint"] != codecs[2].metadata["fingerprint"]
    with pytest.raises(layout.CodecError, match="another model"):
        codecs[2].decompress(files[0])
    restored = export.restore_model(paths[2])
    assert type(restored) is tfnq.VariableRateHyperprior
    assert restored.get_config() == model.get_config()
