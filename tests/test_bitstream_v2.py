"""Tests for tfnq.bitstream_v2: container format version 2 (varints, typed fields)."""

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
import tensorflow as tf

from tfnq import bitstream, bitstream_v2

ERROR = tf.errors.InvalidArgumentError
FINGERPRINT = 0xDEADBEEF
SECTIONS = [b"hyper", b"\x00\xff" * 3, b"latents!"]
FIELDS = {7: b"\x3e\x80\x00\x00", 200: b"ancillary"}


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8))
def test_varints_are_leb128(values):
    encoded = bitstream_v2.varint_bytes(tf.constant(values, tf.int64)).numpy()
    assert encoded == b"".join(_varint(v) for v in values)


def _pack(sections=SECTIONS, fields=FIELDS, height=71, width=97):
    return bitstream_v2.pack(FINGERPRINT, height, width, sections, fields).numpy()


_GRAPH = {}


def _graph_unpack(data, num_sections, **kwargs):
    key = (num_sections, tuple(sorted(kwargs.items(), key=str)))
    if key not in _GRAPH:
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def run(bitstring):
            h = bitstream_v2.unpack(bitstring, num_sections, **kwargs)
            flat = [h.fingerprint, h.height, h.width] + h.sections
            for tag in sorted(h.fields):
                flat += list(h.fields[tag])
            return flat
        _GRAPH[key] = run
    return _GRAPH[key](tf.constant(data))


def _eager_unpack(data, num_sections, **kwargs):
    h = bitstream_v2.unpack(tf.constant(data), num_sections, **kwargs)
    flat = [h.fingerprint, h.height, h.width] + h.sections
    for tag in sorted(h.fields):
        flat += list(h.fields[tag])
    return flat


UNPACKERS = {"eager": _eager_unpack, "graph": _graph_unpack}
KNOWN = dict(known_fields=(7,), fields=(7, 9, 200))


@pytest.mark.parametrize("unpacker", sorted(UNPACKERS))
def test_round_trip_with_fields(unpacker):
    data = _pack()
    out = [t.numpy() for t in UNPACKERS[unpacker](data, 3, expected_fingerprint=FINGERPRINT,
                                                  **KNOWN)]
    assert out[:3] == [FINGERPRINT, 71, 97]
    assert out[3:6] == SECTIONS
    # Field 7 present, 9 absent, 200 (ancillary) present.
    assert out[6:] == [True, FIELDS[7], False, b"", True, FIELDS[200]]


def test_layout_and_overhead():
    data = _pack(sections=[b"x" * 300, b"y" * 25000], fields=None, height=512, width=768)
    assert data[:5] == b"TFNQ\x02" and int.from_bytes(data[5:9], "big") == FINGERPRINT
    # 13 fixed bytes, 2 + 2 for the sides, 1 for the count, 2 for the first length,
    # 1 for the end of the fields: 21 bytes (version 1: 31).
    assert len(data) - 25300 == 21
    v1 = bitstream.pack(1, FINGERPRINT, 512, 768, [b"x" * 300, b"y" * 25000]).numpy()
    assert len(v1) - 25300 == 31
    one = _pack(sections=[b"z" * 1000], fields=None, height=512, width=768)
    assert len(one) - 1000 == 19
    info = bitstream_v2.parse_header(data)
    assert info["height"] == 512 and info["width"] == 768 and info["checksum_ok"]
    assert info["section_lengths"] == [300, 25000] and info["header_bytes"] == 21


def test_empty_sections_and_large_sizes():
    data = _pack(sections=[b"", b""], fields=None, height=2**31 - 1, width=1)
    out = [t.numpy() for t in _eager_unpack(data, 2)]
    assert out == [FINGERPRINT, 2**31 - 1, 1, b"", b""]


@pytest.mark.parametrize("unpacker", sorted(UNPACKERS))
def test_every_byte_flip_is_rejected(unpacker):
    data = _pack()
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            damaged = data[:i] + bytes([data[i] ^ flip]) + data[i + 1:]
            with pytest.raises(ERROR, match="tfnq: "):
                UNPACKERS[unpacker](damaged, 3, expected_fingerprint=FINGERPRINT, **KNOWN)


@pytest.mark.parametrize("unpacker", sorted(UNPACKERS))
def test_every_truncation_and_extension_is_rejected(unpacker):
    data = _pack()
    for n in range(len(data)):
        with pytest.raises(ERROR, match="tfnq: "):
            UNPACKERS[unpacker](data[:n], 3, **KNOWN)
    with pytest.raises(ERROR, match="checksum"):
        UNPACKERS[unpacker](data + b"\0", 3, **KNOWN)


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(st.binary(max_size=80))
def test_arbitrary_bytes_never_crash(data):
    for prefix in (b"", b"TFNQ\x02"):
        try:
            _graph_unpack(prefix + data, 2, **KNOWN)
        except ERROR as e:
            assert bitstream.error_message(e)


def test_messages():
    good = _pack()
    cases = {
        b"TF": "too short",
        b"XXXX" + good[4:]: "bad magic",
        good[:4] + b"\x03" + good[5:]: "unsupported format version 3",
    }
    for data, message in cases.items():
        with pytest.raises(ERROR, match=message):
            _eager_unpack(data, 3, **KNOWN)
    with pytest.raises(ERROR, match="wrong number of sections"):
        _eager_unpack(good, 2, **KNOWN)
    with pytest.raises(ERROR, match="another model"):
        _eager_unpack(good, 3, expected_fingerprint=1, **KNOWN)
    with pytest.raises(ERROR, match=r"needs a newer tfnq \(field 7\)"):
        _eager_unpack(good, 3)  # Field 7 is critical and unknown to this reader.


def test_pack_checks():
    with pytest.raises(ValueError, match="sections"):
        bitstream_v2.pack(1, 2, 2, [])
    with pytest.raises(ValueError, match="fields"):
        bitstream_v2.pack(1, 2, 2, [b""], {0: b""})
    with pytest.raises(ValueError, match="fingerprint"):
        bitstream_v2.pack(2**32, 2, 2, [b""])
    with pytest.raises(ERROR, match="image size"):
        bitstream_v2.pack(1, tf.constant(0), 2, [b""])
    with pytest.raises(ERROR, match="too long"):
        bitstream_v2.pack(1, 2, 2, [b""], {5: b"x" * 257})


def test_graph_and_eager_pack_agree():
    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)] * 2
                 + [tf.TensorSpec([], tf.string)] * 2)
    def graph_pack(h, w, s0, f):
        return bitstream_v2.pack(FINGERPRINT, h, w, [s0], {7: f})
    assert graph_pack(71, 97, b"abc", b"f").numpy() == _pack([b"abc"], {7: b"f"})
    np.testing.assert_equal(len(_pack([b"abc"], {7: b"f"})), 13 + 1 + 1 + 1 + 3 + 1 + 3)
