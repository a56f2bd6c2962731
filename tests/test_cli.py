"""Tests for the `tfnq` command (in-process through `tfnq.cli.main`, plus one real run)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import OTHER, UNQ, UNUQ, random_image
from PIL import Image

from tfnq import bitstream, bitstream_v2, cli, image_io
from tfnq.evaluation import metrics

CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "tfnq")


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code, err, output=None):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tfnq: "), err
    assert "Traceback" not in err
    if output is not None:
        assert not os.path.exists(output)
        folder = os.path.dirname(output)
        assert not [f for f in os.listdir(folder) if f.startswith(".")], os.listdir(folder)


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def _png_rgb(path, size=(20, 24)):
    return _save(path, random_image(*size, seed=11))


def _png_grey(path):
    return _save(path, random_image(15, 18, seed=12)[..., 0])


def _png_rgba(path):
    rgba = np.concatenate(
        [random_image(16, 10, seed=13), np.full((16, 10, 1), 7, np.uint8)], axis=-1)
    return _save(path, rgba)


def _png_16bit(path):
    values = (random_image(11, 21, seed=14)[..., 0].astype(np.uint16) * 257 + 3)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    image.save(path)
    assert Image.open(path).mode.startswith("I;16")
    return path


INPUTS = {
    "rgb": _png_rgb,
    "grey": _png_grey,
    "rgba": _png_rgba,
    "16bit": _png_16bit,
    "7x13": lambda p: _png_rgb(p, (7, 13)),
    "1x1": lambda p: _png_rgb(p, (1, 1)),
}


@pytest.fixture
def tfnq_file(codecs, tmp_path):
    """A good .tfnq file of UNQ (written directly, not through the command)."""
    path = tmp_path / "in" / "good.tfnq"
    path.parent.mkdir()
    path.write_bytes(codecs[UNQ].compress(random_image(17, 33, seed=2)))
    return path


@pytest.mark.parametrize("kind", list(INPUTS))
def test_compress_decompress(models_env, codecs, tmp_path, capsys, kind):
    source = INPUTS[kind](str(tmp_path / f"{kind}.png"))
    image = image_io.read_image(source)
    compressed, decoded = tmp_path / "out.tfnq", tmp_path / "out.png"
    code, out, err = run(capsys, "compress", source, compressed)
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1 and "bytes" in out and "bpp" in out and UNQ in out
    data = compressed.read_bytes()
    header = bitstream.parse_header(data)
    assert (header["height"], header["width"]) == image.shape[:2]
    code, out, err = run(capsys, "decompress", compressed, decoded)
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1 and UNQ in out
    result = image_io.read_image(str(decoded))
    np.testing.assert_array_equal(result, codecs[UNQ].reconstruct(image))
    assert sorted(os.listdir(tmp_path)) == sorted([f"{kind}.png", "out.tfnq", "out.png"])


def test_decompress_finds_model_by_fingerprint(models_env, codecs, tmp_path, capsys):
    source = _png_rgb(str(tmp_path / "a.png"))
    compressed, decoded = tmp_path / "a.tfnq", tmp_path / "b.png"
    # --model as a path; the default (UNQ) must not be used for decoding.
    code, out, err = run(capsys, "compress", source, compressed, "--model",
                         os.path.dirname(models_env.paths[UNUQ]))
    assert code == 0, err
    assert UNUQ in out and "UN+UQ" in out
    code, out, err = run(capsys, "decompress", compressed, decoded, "--compare", source)
    assert code == 0, err
    assert UNUQ in out
    assert "PSNR" in out and out.rstrip().endswith("dB")
    psnr = float(out.split("PSNR")[1].split()[0])
    image = image_io.read_image(source)
    decoded_image = image_io.read_image(str(decoded))
    np.testing.assert_array_equal(decoded_image, codecs[UNUQ].reconstruct(image))
    assert psnr == pytest.approx(metrics.psnr(image, decoded_image), abs=0.01)


def test_decompress_with_named_model(models_env, tfnq_file, tmp_path, capsys):
    output = tmp_path / "out.png"
    code, out, err = run(capsys, "decompress", tfnq_file, output, "--model", UNQ)
    assert code == 0, err
    assert image_io.read_image(str(output)).shape == (17, 33, 3)


def test_existing_output_needs_force(models_env, tmp_path, capsys, tfnq_file):
    source = _png_rgb(str(tmp_path / "a.png"))
    output = tmp_path / "a.tfnq"
    output.write_bytes(b"keep me")
    code, _, err = run(capsys, "compress", source, output)
    assert_clean_failure(code, err)
    assert "exists" in err and "--force" in err
    assert output.read_bytes() == b"keep me"
    code, _, err = run(capsys, "compress", source, output, "--force")
    assert code == 0, err
    assert output.read_bytes()[:4] == bitstream.MAGIC

    png = tmp_path / "b.png"
    png.write_bytes(b"keep me too")
    code, _, err = run(capsys, "decompress", tfnq_file, png)
    assert_clean_failure(code, err)
    assert png.read_bytes() == b"keep me too"
    code, _, err = run(capsys, "decompress", tfnq_file, png, "--force")
    assert code == 0, err
    assert image_io.read_image(str(png)).shape == (17, 33, 3)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


INFO_FIELDS = {"file", "size_bytes", "format_version", "mode", "fingerprint", "model",
               "height", "width", "bpp", "sections", "intact"}


def test_info(models_env, codecs, tfnq_file, capsys):
    size = os.path.getsize(tfnq_file)
    code, out, err = run(capsys, "info", tfnq_file, "--json")
    assert (code, err) == (0, "")
    info = json.loads(out)
    assert set(info) == INFO_FIELDS
    assert info["file"] == str(tfnq_file)
    assert info["size_bytes"] == size
    assert info["format_version"] == bitstream_v2.FORMAT_VERSION
    assert info["mode"] == "UN+Q"
    assert info["fingerprint"] == codecs[UNQ].metadata["fingerprint"]
    assert info["model"] == UNQ
    assert (info["height"], info["width"]) == (17, 33)
    assert info["sections"] == [size - 17]  # Header of version 2: 17 bytes for 17x33.
    assert info["bpp"] == pytest.approx(8 * size / (17 * 33))
    assert info["intact"] is True

    code, out, err = run(capsys, "info", tfnq_file)
    assert (code, err) == (0, "")
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(lines) == INFO_FIELDS
    assert lines["model"] == UNQ and lines["intact"] == "True" and lines["mode"] == "UN+Q"


def test_info_damaged_files(models_env, tfnq_file, tmp_path, capsys):
    data = tfnq_file.read_bytes()
    truncated = tmp_path / "truncated.tfnq"
    truncated.write_bytes(data[:len(data) // 2])
    for extra in ([], ["--json"]):
        code, out, err = run(capsys, "info", truncated, *extra)
        assert_clean_failure(code, err)
        assert "truncated or corrupted" in err
    code, out, err = run(capsys, "info", truncated, "--json")
    assert json.loads(out)["intact"] is False
    tiny = tmp_path / "tiny.tfnq"
    tiny.write_bytes(data[:10])
    code, out, err = run(capsys, "info", tiny)
    assert_clean_failure(code, err)
    assert "too short" in err and out == ""
    code, _, err = run(capsys, "info", tmp_path / "missing.tfnq")
    assert_clean_failure(code, err)


def test_models(models_env, capsys):
    code, out, err = run(capsys, "models", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == sorted(models_env.paths)
    by_name = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows if r["default"]] == [UNQ]
    for name, row in by_name.items():
        assert row["mode"] == models_env.modes[name]
        assert row["architecture"] == "linear"
        assert row["lmbda"] == 0.01
        assert os.path.samefile(row["path"], models_env.paths[name])
    code, out, err = run(capsys, "models")
    assert (code, err) == (0, "")
    for name in models_env.paths:
        assert name in out
    assert f"{UNQ} *" in out


def test_compress_quality_picks_a_member_of_the_family(exported, tmp_path, monkeypatch,
                                                       capsys):
    from test_registry import _family_dir
    monkeypatch.setenv("TFNQ_MODELS", _family_dir(tmp_path / "models", exported))
    image = _save(tmp_path / "in.png", random_image(20, 30))
    code, out, err = run(capsys, "compress", image, tmp_path / "q1.tfnq", "--quality", "1")
    assert (code, err) == (0, ""), err
    assert "model fam-b" in out
    code, out, err = run(capsys, "compress", image, tmp_path / "q9.tfnq", "--quality", "9")
    assert_clean_failure(code, err, tmp_path / "q9.tfnq")
    assert "--quality must be 1..3" in err
    code, out, _ = run(capsys, "models", "--json")
    quality = {r["name"]: r["quality"] for r in json.loads(out)}
    assert quality == {"fam-b": 1, "fam-c": 2, "fam-a": 3, "linsr-un-uq-sr": None}


def test_models_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFNQ_MODELS", str(tmp_path))
    code, out, _ = run(capsys, "models")
    assert code == 0 and "no models" in out
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0 and json.loads(out) == []


def _flip(data, position):
    return data[:position] + bytes([data[position] ^ 0x5A]) + data[position + 1:]


ERROR_CASES = {
    # name: (command, how to make the input from a good .tfnq file, extra args, message part)
    "compress missing input": ("compress", None, [], "no such file"),
    "compress non-image": ("compress", lambda d: b"hello, not an image\n", [], "not an image"),
    "compress empty file": ("compress", lambda d: b"", [], "tfnq: "),
    "compress truncated PNG": ("compress", "truncated-png", [], "tfnq: "),
    "compress unknown model": ("compress", "png", ["--model", "nope"], "unknown model"),
    "decompress missing input": ("decompress", None, [], "cannot read"),
    "decompress empty file": ("decompress", lambda d: b"", [], "too short"),
    "decompress truncated": ("decompress", lambda d: d[:len(d) // 2], [], "truncated"),
    "decompress truncated header": ("decompress", lambda d: d[:10], [], "too short"),
    "decompress corrupted payload": ("decompress", lambda d: _flip(d, len(d) - 5), [],
                                     "corrupted"),
    "decompress corrupted header": ("decompress", lambda d: _flip(d, 12), [], "corrupted"),
    "decompress corrupted fingerprint": ("decompress", lambda d: _flip(d, 7), [], "tfnq: "),
    "decompress foreign PNG": ("decompress", "png", [], "not a tfnq file"),
    "decompress wrong model": ("decompress", lambda d: d, ["--model", OTHER], "another model"),
    "decompress other mode": ("decompress", lambda d: d, ["--model", UNUQ], "tfnq: "),
    "decompress unknown model": ("decompress", lambda d: d, ["--model", "nope"],
                                 "unknown model"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors(models_env, tfnq_file, tmp_path, capsys, case):
    command, make, extra, part = ERROR_CASES[case]
    source = tmp_path / "in" / "input"
    if make == "png" or make == "truncated-png":
        _png_rgb(str(tmp_path / "in" / "x.png"))
        data = (tmp_path / "in" / "x.png").read_bytes()
        source.write_bytes(data if make == "png" else data[:len(data) // 2])
    elif make is not None:
        source.write_bytes(make(tfnq_file.read_bytes()))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = str(out_dir / ("out.tfnq" if command == "compress" else "out.png"))
    code, out, err = run(capsys, command, source, output, *extra)
    assert_clean_failure(code, err, output)
    assert part in err, err
    assert os.listdir(out_dir) == []


def test_output_folder_missing(models_env, tmp_path, capsys):
    source = _png_rgb(str(tmp_path / "a.png"))
    output = tmp_path / "missing" / "a.tfnq"
    code, _, err = run(capsys, "compress", source, output)
    assert_clean_failure(code, err)
    assert not output.exists()


@pytest.mark.parametrize("argv", [
    [], ["compress"], ["compress", "a.png"], ["bogus"], ["info"],
    ["compress", "a.png", "b.tfnq", "--nope"], ["models", "extra"],
    ["compress", "a.png", "b.tfnq", "--max_pixels", "many"],
])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert "usage: tfnq" in err


def test_console_script_bad_input(models_env, tfnq_file, tmp_path):
    """The installed command: exit status 1 and one line on stderr, no traceback."""
    data = tfnq_file.read_bytes()
    damaged = tmp_path / "damaged.tfnq"
    damaged.write_bytes(_flip(data, len(data) - 5))  # Fails inside the SavedModel.
    output = tmp_path / "out" / "out.png"
    output.parent.mkdir()
    command = [CONSOLE_SCRIPT] if os.path.exists(CONSOLE_SCRIPT) else [
        sys.executable, "-m", "tfnq.cli"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        command + ["decompress", str(damaged), str(output)],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tfnq: file is truncated or corrupted"), result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(output.parent) == []
