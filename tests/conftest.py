"""Shared fixtures: tiny untrained codecs, exported once per test session.

The models are untrained (their densities are at initialization, so files are large),
but every code path must still round trip bit-exactly.

`exported` writes, under one temporary folder usable as `TFNQ_MODELS`:

* `lin-un-q`        model "lin" in UN+Q
* `lin-un-uq`       the same model (same weights) in UN+UQ
* `linsr-un-uq-sr`  a soft-rounding model in UN+UQ+SR
* `other-un-uq`     another model (seed 1, other random density) in UN+UQ

With pytest-xdist, one worker exports them and the others load the same folders (an
export takes ~25 s, mostly tracing); they rebuild the in-memory models from the same
seeds, and check that their weights and tables are the exported ones (fingerprints).
"""

import contextlib
import dataclasses
import fcntl
import os
import pathlib
import shutil

import numpy as np
import pytest

from tfnq import runtime

# The settings of tfnq's programs (oneDNN's kernels), before any test imports TensorFlow.
runtime.configure(log_level=None)

UNQ = "lin-un-q"
UNUQ = "lin-un-uq"
SR = "linsr-un-uq-sr"
OTHER = "other-un-uq"
# The exported models whose modes cover all three coding modes.
BY_MODE = {"UN+Q": UNQ, "UN+UQ": UNUQ, "UN+UQ+SR": SR}


def odd_sizes():
    """The odd image sizes to round trip, including 1x1 (padded by edge replication)."""
    return [pytest.param((1, 1), id="1x1")] + [
        pytest.param(size, id=f"{size[0]}x{size[1]}") for size in [(7, 13), (9, 8), (17, 33)]]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long runs (scripts in subprocesses, every shipped model): "
        "`make test-slow`, which CI runs after `make test`")


def coding_tables(pmfs, offsets, precision=12):
    """Flat CDF tables ("tfc-flat") and offsets from a list of PMFs (each summing to
    <= 1; the rest is the overflow bin's), for coder tests."""
    import tensorflow as tf
    import tensorflow_compression as tfc
    cdf = []
    for p in pmfs:
        p = np.asarray(p, np.float32)
        overflow = np.maximum(1.0 - p.sum(), 0.0)
        q = tfc.pmf_to_quantized_cdf(np.append(p, overflow).astype(np.float32),
                                     precision=precision)
        cdf += [-precision] + list(q.numpy())
    return tf.constant(cdf, tf.int32), tf.constant(offsets, tf.int32)


def random_image(height, width, seed=0):
    """A uint8 [height, width, 3] image: smooth gradients plus noise (natural-ish)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 60 * np.sin(yy / 5.0)[..., None] * np.cos(xx / 7.0)[..., None]
    base = base + rng.normal(0, 20, (height, width, 3))
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def sample_crop(size=256):
    """A `size`x`size` crop of the packaged sample photograph."""
    from tfnq import image_io
    return np.ascontiguousarray(image_io.sample_image()[128:128 + size, 128:128 + size])


def make_model(soft_round=False, seed=0):
    """A tiny untrained linear codec, called once so that Keras knows its input shape.

    The call is a workaround: `export_model` fails on a model that was never called
    (see `test_export.py::test_export_model_never_called`).
    """
    import tensorflow as tf

    import tfnq
    if soft_round:
        model = tfnq.LinearCodec(
            init="jpeg", soft_round=True, expected_grads=True, alpha=16.0, seed=seed)
    else:
        model = tfnq.LinearCodec(init="jpeg", init_step=16, seed=seed)
    model(tf.zeros([1, 8, 8, 3]), training=True)
    return model


@dataclasses.dataclass
class Exported:
    """The exported fixture models.

    Attributes:
      root: The folder holding all model folders (for `TFNQ_MODELS`).
      paths: Model name -> version folder.
      models: Model name -> the in-memory model it was exported from.
      modes: Model name -> mode name.
      codings: Model name -> the entropy model `prepare_coding(mode)` built for the
        export (to switch an in-memory model between modes without rebuilding tables).
    """

    root: pathlib.Path
    paths: dict
    models: dict
    modes: dict
    codings: dict

    def use(self, name):
        """The in-memory model of `name`, set up for coding in its mode."""
        from tfnq import coding_config
        model = self.models[name]
        model.latent_codec.coding_models = self.codings[name]
        model.coding_mode = coding_config.get_coding_config(self.modes[name])
        return model


def _fixture_plan():
    """(name, model, mode) of each fixture model, in export order: the same weights in
    every process (the densities' initializers draw from TensorFlow's global seed)."""
    import tensorflow as tf
    tf.random.set_seed(0)
    try:
        lin, linsr, other = make_model(), make_model(soft_round=True), make_model(seed=1)
    finally:
        tf.random.set_seed(None)  # Later tests draw as they did before.
    return [(UNQ, lin, "UN+Q"), (UNUQ, lin, "UN+UQ"), (SR, linsr, "UN+UQ+SR"),
            (OTHER, other, "UN+UQ")]


@contextlib.contextmanager
def _session_lock(tmp_path_factory, name):
    """A folder `name` that the xdist workers of this session share (only this
    process's without xdist), held under an exclusive file lock."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # The session's folder, above each worker's `popen-gw<k>`.
    folder = base / name
    folder.mkdir(exist_ok=True)
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _export_fixture_models(root):
    from tfnq import export
    result = Exported(root=root, paths={}, models={}, modes={}, codings={})
    # A stale version where OTHER goes: the export must replace it (test_export.py).
    os.makedirs(os.path.join(root, OTHER, "1"))
    pathlib.Path(root, OTHER, "1", "stale.txt").write_text("stale")
    for name, model, mode in _fixture_plan():
        assert export.model_dir_name(name.split("-")[0], mode) == name
        result.paths[name] = export.export_model(
            model, mode, os.path.join(root, name), training={"lmbda": 0.01, "steps": 0})
        result.models[name] = model
        result.modes[name] = mode
        result.codings[name] = model.latent_codec.coding_models
    return result


def _rebuild_fixture_models(root):
    """The `Exported` of models another worker exported to `root`: the in-memory models
    prepared for coding as `export_model` prepares them, whose fingerprints (weights,
    tables, mode) must be those of the exports."""
    import tensorflow as tf

    from tfnq import export, layout
    result = Exported(root=root, paths={}, models={}, modes={}, codings={})
    for name, model, mode in _fixture_plan():
        path = os.path.join(root, name)
        model(tf.zeros([1, 64, 64, 3]), training=False)  # As `export_model` calls it.
        fingerprint = export.servable_for(model, mode).fingerprint
        metadata = layout.read_metadata(path)
        assert metadata["fingerprint"] == f"{fingerprint:08x}", (
            f"{name}: the rebuilt model is not the exported one")
        result.paths[name] = metadata["path"]
        result.models[name] = model
        result.modes[name] = mode
        result.codings[name] = model.latent_codec.coding_models
    return result


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    with _session_lock(tmp_path_factory, "tfnq-fixture-models") as folder:
        root, done = folder / "models", folder / "done"
        if done.exists():
            return _rebuild_fixture_models(root)
        shutil.rmtree(root, ignore_errors=True)  # A worker that failed half-way.
        root.mkdir()
        result = _export_fixture_models(root)
        done.touch()
        return result


@pytest.fixture(scope="session")
def codecs(exported):
    """Model name -> loaded `tfnq.Codec` (each SavedModel loaded once)."""
    from tfnq import client

    class _Cache(dict):
        def __missing__(self, name):
            self[name] = client.load(exported.paths[name])
            return self[name]

    return _Cache()


@pytest.fixture
def models_env(exported, monkeypatch):
    """`TFNQ_MODELS` pointing at the exported fixture models."""
    monkeypatch.setenv("TFNQ_MODELS", str(exported.root))
    return exported
