"""Tests for tfnq.evaluation.results: the schema, files, merging and curves."""

import copy
import json
import math
import os

import pytest

from tfnq.evaluation import results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(image, nbytes, psnr, ms_ssim=0.9, tfnq=False, **extra):
    row = dict(image=image, height=10, width=20, bytes=nbytes, bpp=8 * nbytes / 200,
               psnr=psnr, ms_ssim=ms_ssim, ms_ssim_scales=1, encode_seconds=0.5,
               decode_seconds=0.25, sha256="0" * 64)
    if tfnq:
        row.update(estimated_bpp=8 * nbytes / 200 - 0.1, bit_exact=True)
    row.update(extra)
    return row


def _classical(label, quality, nbytes, psnr):
    rows = [_row("a.png", nbytes, psnr), _row("b.png", nbytes + 10, psnr + 1.0)]
    settings = dict(codec=label.lower(), quality=quality, quality_meaning="q", library="x")
    return results.make_entry(f"{label} quality={quality}", "classical", label, settings, rows)


def _tfnq(name, lmbda, nbytes, psnr, mode="UN+Q"):
    metadata = dict(name=name, architecture="linear", mode=mode,
                    training=dict(lmbda=lmbda, steps=100), fingerprint="abcd0123")
    rows = [_row("a.png", nbytes, psnr, tfnq=True), _row("b.png", nbytes, psnr, tfnq=True)]
    return results.make_entry(name, "tfnq", results.tfnq_curve_label(metadata),
                              results.tfnq_settings(metadata, "/models/" + name), rows)


def _results():
    return results.new_results("tiny", "/images", [
        _tfnq("lin-hi", 0.016, 60, 30.0), _classical("JPEG", 50, 50, 29.0),
        _classical("JPEG", 10, 20, 25.0), _tfnq("lin-lo", 0.004, 30, 27.0),
        _tfnq("lin-sr", 0.004, 25, 27.5, mode="UN+UQ+SR")])


def test_means_by_hand():
    entry = _classical("JPEG", 50, 50, 29.0)
    mean = entry["mean"]
    assert mean["bpp"] == pytest.approx((8 * 50 / 200 + 8 * 60 / 200) / 2)  # 2.2
    assert mean["psnr"] == pytest.approx(29.5)
    assert mean["ms_ssim"] == pytest.approx(0.9)
    assert mean["ms_ssim_db"] == pytest.approx(10.0)
    assert mean["encode_seconds"] == 0.5 and mean["decode_seconds"] == 0.25
    assert mean["images"] == 2
    assert "bit_exact" not in mean and "estimated_bpp" not in mean
    tfnq = _tfnq("m", 0.01, 40, 28.0)["mean"]
    assert tfnq["estimated_bpp"] == pytest.approx(1.5)
    assert tfnq["bit_exact"] is True


def test_a_missing_value_makes_the_mean_missing():
    rows = [_row("a.png", 10, 30.0), _row("b.png", 10, 30.0, ms_ssim=None)]
    mean = results.summarize(rows, "classical")
    assert mean["ms_ssim"] is None and mean["ms_ssim_db"] is None
    rows = [_row("a.png", 10, 30.0, tfnq=True), _row("b.png", 10, 30.0, tfnq=True,
                                                       bit_exact=False)]
    assert results.summarize(rows, "tfnq")["bit_exact"] is False


def test_curve_labels_and_settings():
    metadata = dict(architecture="linear", mode="UN+UQ+SR", fingerprint="f00d",
                    training=dict(lmbda=0.016, steps=12000))
    assert results.tfnq_curve_label(metadata) == "linear UN+UQ+SR"
    assert results.tfnq_curve_label(dict(metadata, curve="mine")) == "mine"
    assert results.tfnq_settings(metadata, "/p") == dict(
        architecture="linear", mode="UN+UQ+SR", lmbda=0.016, training_steps=12000,
        fingerprint="f00d", path="/p")
    assert results.same_settings(dict(a=1, path="/x"), dict(path="/y", a=1))
    assert not results.same_settings(dict(a=1), dict(a=2))


def test_build_curves_groups_and_sorts():
    curves = results.build_curves(_results())
    assert [(c.label, c.kind) for c in curves] == [
        ("linear UN+Q", "tfnq"), ("JPEG", "classical"), ("linear UN+UQ+SR", "tfnq")]
    linear, jpeg, sr = curves
    assert [p.name for p in linear.points] == ["lin-lo", "lin-hi"]  # by rate
    assert [p.settings["quality"] for p in jpeg.points] == [10, 50]
    assert jpeg.pairs() == [(pytest.approx(1.0), 25.5), (pytest.approx(2.2), 29.5)]
    assert len(jpeg.pairs("ms_ssim_db")) == 2
    assert len(sr.points) == 1


def test_save_and_load_round_trip(tmp_path):
    data = _results()
    data["entries"][1]["images"][0]["psnr"] = math.inf  # Lossless: written as null.
    path = tmp_path / "sub" / "r.json"
    results.save_results(data, path)
    text = path.read_text()
    json.loads(text)  # Strict JSON.
    assert "Infinity" not in text and "NaN" not in text
    loaded = results.load_results(path)
    assert loaded["entries"][1]["images"][0]["psnr"] is None
    assert [e["name"] for e in loaded["entries"]] == [e["name"] for e in data["entries"]]
    assert loaded["entries"][0] == json.loads(json.dumps(data["entries"][0]))
    assert os.listdir(path.parent) == ["r.json"]  # No temporary file left behind.


def _broken(change):
    data = copy.deepcopy(_results())
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a tfnq-rd-results file"),
    (lambda d: d.update(version=2), "unsupported results version"),
    (lambda d: d["entries"][0].update(kind="neural"), "kind must be one of"),
    (lambda d: d["entries"][1].update(name="lin-hi"), "two entries are named 'lin-hi'"),
    (lambda d: d["entries"][0]["images"][0].pop("bit_exact"), "has no 'bit_exact'"),
    (lambda d: d["entries"][1]["images"][0].pop("ms_ssim"), "has no 'ms_ssim'"),
    (lambda d: d["entries"][1]["images"][0].update(bpp=1.0), "8 \\* bytes / pixels"),
    (lambda d: d["entries"][1]["images"][0].update(height=True), "height must be an integer"),
    (lambda d: d["entries"][1]["images"][0].update(psnr="30"), "psnr must be a number"),
    (lambda d: d["entries"][1]["settings"].pop("quality"), "settings.quality"),
    (lambda d: d["entries"][1].update(images=[]), "has no images"),
    (lambda d: d["entries"][1]["mean"].update(images=3), "mean.images is 3"),
])
def test_validate_rejects(change, message):
    results.validate(_results())
    with pytest.raises(ValueError, match=message):
        results.validate(_broken(change))


def test_load_rejects_bad_files(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        results.load_results(path)
    path.write_text(json.dumps(_broken(lambda d: d["entries"][0].update(kind="x"))))
    with pytest.raises(ValueError, match=f"{path}: entry 'lin-hi': kind"):
        results.load_results(path)


def test_load_converts_the_earlier_format():
    loaded = results.load_results(os.path.join(REPO, "docs", "results", "linear_valid.json"))
    assert len(loaded["entries"]) == 6
    assert all(e["kind"] == "tfnq" for e in loaded["entries"])
    curves = {c.label: c for c in results.build_curves(loaded)}
    assert sorted(curves) == ["linear UN+Q", "linear UN+UQ", "linear UN+UQ+SR"]
    assert [p.settings["lmbda"] for p in curves["linear UN+Q"].points] == [0.004, 0.016]
    assert curves["linear UN+Q"].points[0].ms_ssim is None


def test_merge_later_entries_replace_earlier():
    first = _results()
    second = results.new_results("other", None, [_classical("JPEG", 50, 80, 31.0),
                                                 _classical("WebP", 50, 40, 30.0)])
    merged = results.merge_results(first, second)
    assert merged["dataset"] == "tiny"
    names = [e["name"] for e in merged["entries"]]
    assert names == ["lin-hi", "JPEG quality=50", "JPEG quality=10", "lin-lo", "lin-sr",
                     "WebP quality=50"]
    assert merged["entries"][1]["mean"]["psnr"] == pytest.approx(31.5)
    assert results.merge_results(first, dataset="x")["dataset"] == "x"
    with pytest.raises(ValueError, match="nothing to merge"):
        results.merge_results()


def test_image_ids(tmp_path):
    files = [str(tmp_path / "kodak" / "a.png"), str(tmp_path / "clic" / "x" / "b.png")]
    assert results.image_ids(files) == ["kodak/a.png", "clic/x/b.png"]
    assert results.image_ids([str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == [
        "a.png", "b.png"]
    assert results.image_ids([str(tmp_path / "kodak" / "a.png")]) == ["a.png"]


def test_make_entry_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        results.make_entry("x", "neural", "x", {}, [_row("a.png", 1, 30.0)])
    with pytest.raises(ValueError, match="no images evaluated for 'x'"):
        results.make_entry("x", "classical", "x", dict(quality=1), [])
