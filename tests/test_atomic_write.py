"""Tests for tfnq.atomic_write: complete or absent, never half-written."""

import os

import pytest

from tfnq import atomic_write
from tfnq.atomic_write import WriteError


def _leftovers(directory, keep):
    return sorted(name for name in os.listdir(directory) if name not in keep)


def _assert_tfnq_error(excinfo):
    message = str(excinfo.value)
    assert message.startswith("tfnq: ")
    assert "\n" not in message


def test_write_onto_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(WriteError) as excinfo:
        atomic_write.write_bytes_atomic(tmp_path / "sub", b"x", force=True)
    _assert_tfnq_error(excinfo)
    assert _leftovers(tmp_path, {"sub"}) == []
    assert os.listdir(tmp_path / "sub") == []


def test_write_failure_midway_removes_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"original")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "fsync", failing_fsync)
    with pytest.raises(WriteError) as excinfo:
        atomic_write.write_bytes_atomic(path, b"new data" * 1000, force=True)
    _assert_tfnq_error(excinfo)
    assert "no space left" in str(excinfo.value)
    assert path.read_bytes() == b"original"
    assert _leftovers(tmp_path, {"out.bin"}) == []


def test_write_interrupted_removes_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"

    def interrupted_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_write.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_write.write_bytes_atomic(path, b"data", force=True)
    assert _leftovers(tmp_path, set()) == []


def test_write_bytes_atomic(tmp_path):
    path = tmp_path / "stream.tfnq"
    atomic_write.write_bytes_atomic(path, b"\x00\x01compressed")
    assert path.read_bytes() == b"\x00\x01compressed"
    with pytest.raises(WriteError) as excinfo:
        atomic_write.write_bytes_atomic(path, b"other")
    assert "use --force" in str(excinfo.value)
    atomic_write.write_bytes_atomic(str(path), bytearray(b"other"), force=True)
    assert path.read_bytes() == b"other"
    atomic_write.write_bytes_atomic(path, b"", force=True)
    assert path.read_bytes() == b""
    assert _leftovers(tmp_path, {"stream.tfnq"}) == []
    with pytest.raises(TypeError):
        atomic_write.write_bytes_atomic(tmp_path / "s2", "not bytes")


def test_write_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atomic_write.write_bytes_atomic("rel.bin", b"abc")
    assert (tmp_path / "rel.bin").read_bytes() == b"abc"
    assert _leftovers(tmp_path, {"rel.bin"}) == []
