"""Tests for tfnq.registry: finding exported models by name, path and fingerprint."""

import os

import pytest
from conftest import OTHER, SR, UNQ, UNUQ

import tfnq
from tfnq import registry

NAMES = sorted([UNQ, UNUQ, SR, OTHER])


def _same(a, b):
    return os.path.samefile(a, b)


def _linked_dir(tmp_path, exported, names=NAMES, default=None, renames=None):
    """A models folder with symlinks to (some of) the fixture models."""
    renames = renames or {}
    for name in names:
        os.symlink(os.path.dirname(exported.paths[name]), tmp_path / renames.get(name, name))
    if default is not None:
        (tmp_path / "DEFAULT").write_text(default + "\n")
    return tmp_path


def test_models_dir(models_env, monkeypatch):
    assert registry.models_dir() == str(models_env.root)
    monkeypatch.delenv("TFNQ_MODELS")
    assert registry.models_dir().endswith("saved_models")


def test_list_models(models_env):
    found = registry.list_models()
    assert [m["name"] for m in found] == NAMES
    for m in found:
        assert _same(m["path"], models_env.paths[m["name"]])
        assert m["mode"] == models_env.modes[m["name"]]
        assert {"architecture", "fingerprint", "config", "coder"} <= set(m)
    assert [m["name"] for m in registry.list_models(str(models_env.root))] == NAMES


def test_list_models_skips_other_entries(exported, tmp_path):
    directory = _linked_dir(tmp_path, exported, default=UNQ)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "1").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "1").mkdir()
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"")  # No metadata.
    assert [m["name"] for m in registry.list_models(str(directory))] == NAMES
    assert registry.list_models(str(tmp_path / "missing")) == []


def test_resolve_by_name_and_path(models_env):
    for name, version in models_env.paths.items():
        assert _same(registry.resolve(name), version)
        assert _same(registry.resolve(os.path.dirname(version)), version)
        assert _same(registry.resolve(version), version)


def test_resolve_default_without_default_file(models_env):
    assert not os.path.exists(os.path.join(models_env.root, "DEFAULT"))
    assert registry.default_model() == NAMES[0]
    assert _same(registry.resolve(None), models_env.paths[NAMES[0]])
    assert _same(registry.resolve(), models_env.paths[NAMES[0]])


def test_resolve_default_with_default_file(exported, tmp_path, monkeypatch):
    directory = _linked_dir(tmp_path, exported, default=OTHER)
    monkeypatch.setenv("TFNQ_MODELS", str(directory))
    assert registry.default_model() == OTHER
    assert _same(registry.resolve(None), exported.paths[OTHER])
    assert _same(registry.resolve(None, directory=str(directory)), exported.paths[OTHER])


def test_resolve_default_file_naming_unknown_model(exported, tmp_path):
    directory = _linked_dir(tmp_path, exported, default="nope")
    with pytest.raises(tfnq.CodecError, match="^tfnq: unknown model 'nope'"):
        registry.resolve(None, directory=str(directory))


def test_resolve_unknown_name_lists_available(models_env):
    with pytest.raises(tfnq.CodecError) as info:
        registry.resolve("no-such-model")
    message = str(info.value)
    assert message.startswith("tfnq: unknown model 'no-such-model'")
    for name in NAMES:
        assert name in message


def test_resolve_with_no_models(tmp_path, monkeypatch):
    monkeypatch.setenv("TFNQ_MODELS", str(tmp_path))
    with pytest.raises(tfnq.CodecError, match="^tfnq: no models found"):
        registry.resolve(None)
    with pytest.raises(tfnq.CodecError, match=r"^tfnq: unknown model 'x' \(available: none\)"):
        registry.resolve("x")


def test_resolve_default_of_renamed_model_folder(exported, tmp_path):
    directory = _linked_dir(tmp_path, exported, names=[OTHER], renames={OTHER: "renamed"})
    assert _same(registry.resolve(None, directory=str(directory)), exported.paths[OTHER])


def test_find_by_fingerprint(models_env, codecs):
    fingerprints = {}
    for name in NAMES:
        fingerprint = int(codecs[name].metadata["fingerprint"], 16)
        fingerprints[name] = fingerprint
        assert _same(registry.find_by_fingerprint(fingerprint), models_env.paths[name])
    unknown = next(f for f in range(1, 100) if f not in fingerprints.values())
    assert registry.find_by_fingerprint(unknown) is None
    assert registry.find_by_fingerprint(fingerprints[UNQ] ^ 0x80000000) is None
    assert registry.find_by_fingerprint(
        fingerprints[SR], directory=str(models_env.root)) is not None


def _family_dir(tmp_path, exported, evaluations=None):
    """Copies of the UN+Q fixture model at three lambdas, and the SR model."""
    evaluations = evaluations or {}
    import json
    import shutil
    for name, lmbda in [("fam-a", 0.02), ("fam-b", 0.005), ("fam-c", 0.01)]:
        target = tmp_path / name / "1"
        shutil.copytree(exported.paths[UNQ], target)
        meta_path = target / "assets.extra" / "tfnq.json"
        metadata = json.loads(meta_path.read_text())
        metadata["training"]["lmbda"] = lmbda
        if name in evaluations:
            metadata["evaluation"] = dict(dataset="valid", bpp=evaluations[name], psnr=30.0)
        meta_path.write_text(json.dumps(metadata))
    os.symlink(os.path.dirname(exported.paths[SR]), tmp_path / SR)
    (tmp_path / "DEFAULT").write_text("fam-a\n")
    return str(tmp_path)


def test_family_and_quality_by_lambda(exported, tmp_path):
    directory = _family_dir(tmp_path, exported)
    assert [m["name"] for m in registry.family(directory=directory)] == [
        "fam-b", "fam-c", "fam-a"]
    assert [m["name"] for m in registry.family(SR, directory)] == [SR]
    assert _same(registry.by_quality(1, directory=directory), tmp_path / "fam-b" / "1")
    assert _same(registry.by_quality(3, directory=directory), tmp_path / "fam-a" / "1")
    for bad in (0, 4):
        with pytest.raises(tfnq.CodecError, match=r"1\.\.3 \(1: fam-b, 2: fam-c, 3: fam-a\)"):
            registry.by_quality(bad, directory=directory)


def test_family_sorted_by_measured_bpp_when_every_member_has_one(exported, tmp_path):
    partial = _family_dir(tmp_path / "p", exported, {"fam-a": 0.1, "fam-b": 0.9})
    assert [m["name"] for m in registry.family(directory=partial)][0] == "fam-b"
    full = _family_dir(tmp_path / "f", exported, {"fam-a": 0.1, "fam-b": 0.9, "fam-c": 0.5})
    assert [m["name"] for m in registry.family(directory=full)] == ["fam-a", "fam-c", "fam-b"]
