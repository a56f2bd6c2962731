"""Tests for tfnq.bitstream: the container format of compressed files."""

import pytest
import tensorflow as tf

from tfnq import bitstream

ALL_BYTES = bytes(range(256))
MODE = 3
FINGERPRINT = 0xDEADBEEF
SMALL_SECTIONS = [b"", b"\x00\xff", b"ab"]  # A small file to damage byte by byte.

ERROR = tf.errors.InvalidArgumentError
SCALAR_STRING = tf.TensorSpec([], tf.string)


def _header_as_tuple(header):
    return (header.mode, header.fingerprint, header.height, header.width,
            *header.sections)


def _make_graph_unpack(num_sections, **kwargs):
    @tf.function(input_signature=[SCALAR_STRING])
    def graph_unpack(bitstring):
        return _header_as_tuple(bitstream.unpack(bitstring, num_sections, **kwargs))

    return graph_unpack


_GRAPH_UNPACK = {}


def graph_unpack(bitstring, num_sections, expected_fingerprint=None, expected_modes=None):
    """Runs `unpack` in a cached `tf.function` with an unknown-length string input."""
    key = (num_sections, expected_fingerprint,
           None if expected_modes is None else tuple(expected_modes))
    if key not in _GRAPH_UNPACK:
        _GRAPH_UNPACK[key] = _make_graph_unpack(
            num_sections, expected_fingerprint=expected_fingerprint,
            expected_modes=expected_modes)
    outputs = _GRAPH_UNPACK[key](tf.constant(bitstring))
    return bitstream.Header(*outputs[:4], sections=list(outputs[4:]))


def eager_unpack(bitstring, num_sections, **kwargs):
    return bitstream.unpack(tf.constant(bitstring), num_sections, **kwargs)


UNPACKERS = {"eager": eager_unpack, "graph": graph_unpack}


@tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                              tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32),
                              SCALAR_STRING, SCALAR_STRING, SCALAR_STRING])
def graph_pack3(mode, fingerprint, height, width, s0, s1, s2):
    return bitstream.pack(mode, fingerprint, height, width, [s0, s1, s2])


@tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                              tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32),
                              SCALAR_STRING])
def graph_pack1(mode, fingerprint, height, width, s0):
    return bitstream.pack(mode, fingerprint, height, width, [s0])


def eager_pack(mode, fingerprint, height, width, sections):
    return bitstream.pack(mode, fingerprint, height, width, sections).numpy()


def graph_pack(mode, fingerprint, height, width, sections):
    fn = {1: graph_pack1, 3: graph_pack3}[len(sections)]
    args = [tf.constant(mode, tf.int32), tf.constant(fingerprint, tf.int64),
            tf.constant(height, tf.int32), tf.constant(width, tf.int32)]
    return fn(*args, *[tf.constant(s) for s in sections]).numpy()


PACKERS = {"eager": eager_pack, "graph": graph_pack}


def small_file(mode=MODE, fingerprint=FINGERPRINT, sections=None):
    sections = SMALL_SECTIONS if sections is None else sections
    return eager_pack(mode, fingerprint, 5, 7, sections)


def expect_error(fn, substring):
    with pytest.raises(ERROR) as info:
        fn()
    message = bitstream.error_message(info.value)
    assert message is not None, info.value.message
    assert substring in message, message
    return message


CASES = [
    (0, 0, 1, 1, [b""]),
    (255, 2**32 - 1, 2**31 - 1, 2**31 - 1, [ALL_BYTES]),
    (7, 2**32 - 1, 768, 512, [b"", ALL_BYTES, b"tail"]),
    (0, 0, 2**31 - 1, 1, [ALL_BYTES, b"", b""]),
]


@pytest.mark.parametrize("packer", PACKERS)
@pytest.mark.parametrize("unpacker", UNPACKERS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_round_trip(packer, unpacker, case):
    mode, fingerprint, height, width, sections = CASES[case]
    packed = PACKERS[packer](mode, fingerprint, height, width, sections)
    assert isinstance(packed, bytes)
    assert len(packed) == (bitstream.HEADER_SIZE + 1 + 4 * len(sections)
                           + sum(len(s) for s in sections))
    header = UNPACKERS[unpacker](packed, len(sections), expected_fingerprint=fingerprint,
                                 expected_modes=[mode, 200])
    assert header.mode.dtype == tf.int32 and int(header.mode) == mode
    assert header.fingerprint.dtype == tf.int64 and int(header.fingerprint) == fingerprint
    assert header.height.dtype == tf.int32 and int(header.height) == height
    assert header.width.dtype == tf.int32 and int(header.width) == width
    assert [s.numpy() for s in header.sections] == sections


def test_eager_and_graph_pack_agree_and_layout():
    sections = [b"", ALL_BYTES, b"xyz"]
    packed = eager_pack(9, 2**32 - 1, 300, 400, sections)
    assert packed == graph_pack(9, 2**32 - 1, 300, 400, sections)
    assert packed[:4] == bitstream.MAGIC == b"TFNQ"
    assert packed[4] == bitstream.FORMAT_VERSION == 1
    assert packed[5] == 9
    assert packed[6:10] == b"\xff\xff\xff\xff"
    assert int.from_bytes(packed[10:14], "big") == 300
    assert int.from_bytes(packed[14:18], "big") == 400
    assert packed[22] == 3
    assert [int.from_bytes(packed[23 + 4 * i:27 + 4 * i], "big") for i in range(3)] == [
        0, 256, 3]
    assert packed[35:] == ALL_BYTES + b"xyz"


def test_pack_accepts_tensor_sections_and_python_scalars():
    packed = bitstream.pack(tf.constant(1), 2, 3, tf.constant(4, tf.int64),
                            [tf.constant(b"a"), b"bc"])
    header = bitstream.unpack(packed, 2)
    assert [int(header.mode), int(header.fingerprint), int(header.height),
            int(header.width)] == [1, 2, 3, 4]
    assert [s.numpy() for s in header.sections] == [b"a", b"bc"]


def test_pack_rejects_out_of_range():
    with pytest.raises(ValueError, match="tfnq: mode"):
        bitstream.pack(256, 0, 1, 1, [b""])
    with pytest.raises(ValueError, match="tfnq: fingerprint"):
        bitstream.pack(0, 2**32, 1, 1, [b""])
    with pytest.raises(ValueError, match="tfnq: height"):
        bitstream.pack(0, 0, -1, 1, [b""])
    with pytest.raises(ValueError, match="tfnq: width"):
        bitstream.pack(0, 0, 1, 2**31, [b""])
    with pytest.raises(ValueError, match="tfnq: number of sections"):
        bitstream.pack(0, 0, 1, 1, [])
    with pytest.raises(ValueError, match="tfnq: number of sections"):
        bitstream.pack(0, 0, 1, 1, [b""] * 256)
    expect_error(lambda: bitstream.pack(tf.constant(-1), 0, 1, 1, [b""]), "tfnq: mode")
    expect_error(lambda: graph_pack(256, 0, 1, 1, [b""]),
                 "tfnq: mode must be between 0 and 255, got 256")
    expect_error(lambda: graph_pack(0, -1, 1, 1, [b""]), "tfnq: fingerprint")


@pytest.mark.parametrize("unpacker", UNPACKERS)
def test_every_byte_flip_is_rejected(unpacker):
    unpack = UNPACKERS[unpacker]
    packed = small_file()
    assert len(packed) == 22 + 1 + 4 * 3 + 4
    unpack(packed, 3)  # The undamaged file is fine.
    for position in range(len(packed)):
        for flip in (0x01, 0xFF):
            damaged = bytearray(packed)
            damaged[position] ^= flip
            with pytest.raises(ERROR) as info:
                unpack(bytes(damaged), 3)
            assert bitstream.error_message(info.value) is not None, (position, flip)


@pytest.mark.parametrize("unpacker", UNPACKERS)
def test_every_truncation_is_rejected(unpacker):
    unpack = UNPACKERS[unpacker]
    packed = small_file()
    for length in range(len(packed)):
        with pytest.raises(ERROR) as info:
            unpack(packed[:length], 3)
        message = bitstream.error_message(info.value)
        if length < 23:
            assert message == "tfnq: not a tfnq file (too short)", (length, message)
        else:
            assert message.startswith("tfnq: file is truncated or corrupted"), (length, message)


@pytest.mark.parametrize("unpacker", UNPACKERS)
def test_appended_garbage_is_rejected(unpacker):
    unpack = UNPACKERS[unpacker]
    packed = small_file()
    for garbage in (b"\x00", b"garbage", ALL_BYTES):
        expect_error(lambda g=garbage: unpack(packed + g, 3),
                     "tfnq: file is truncated or corrupted")


@pytest.mark.parametrize("unpacker", UNPACKERS)
def test_error_messages(unpacker):
    unpack = UNPACKERS[unpacker]
    packed = small_file()
    expect_error(lambda: unpack(b"", 3), "tfnq: not a tfnq file (too short)")
    expect_error(lambda: unpack(b"PNG\x89" + b"\0" * 100, 3),
                 "tfnq: not a tfnq file (bad magic)")
    expect_error(lambda: unpack(b"TFNX" + packed[4:], 3), "tfnq: not a tfnq file (bad magic)")
    message = expect_error(lambda: unpack(packed[:4] + b"\x02" + packed[5:], 3),
                           "tfnq: unsupported format version")
    assert "2" in message
    message = expect_error(lambda: unpack(packed, 2), "tfnq: wrong number of sections")
    assert "file has 3, expected 2" in message
    expect_error(lambda: unpack(packed, 3, expected_fingerprint=FINGERPRINT + 1),
                 "tfnq: file was made by another model (fingerprint mismatch)")
    message = expect_error(lambda: unpack(packed, 3, expected_modes=[0, 1]),
                           "tfnq: unsupported coding mode")
    assert f"coding mode {MODE} (expected one of 0, 1)" in message
    expect_error(lambda: unpack(packed, 3, expected_modes=[]), "tfnq: unsupported coding mode")
    corrupted = packed[:-1] + bytes([packed[-1] ^ 0x20])
    expect_error(lambda: unpack(corrupted, 3),
                 "tfnq: file is truncated or corrupted (checksum mismatch)")
    expect_error(lambda: unpack(packed[:-1], 3), "tfnq: file is truncated or corrupted")
    # Checks run in the documented order: version before checksum, checksum before count.
    expect_error(lambda: unpack(b"TFNQ\x07" + b"\0" * 40, 1), "tfnq: unsupported format version")
    expect_error(lambda: unpack(corrupted, 2), "(checksum mismatch)")
    expect_error(lambda: unpack(packed, 2, expected_fingerprint=0),
                 "tfnq: wrong number of sections")


def test_eager_messages_start_with_tfnq():
    with pytest.raises(ERROR) as info:
        eager_unpack(b"short", 1)
    assert info.value.message == "tfnq: not a tfnq file (too short)"
    with pytest.raises(ERROR) as info:
        eager_unpack(small_file(), 3, expected_fingerprint=1)
    assert info.value.message == "tfnq: file was made by another model (fingerprint mismatch)"


def test_expected_fingerprint_as_tensor():
    packed = small_file(fingerprint=2**32 - 1)
    header = bitstream.unpack(packed, 3, expected_fingerprint=tf.constant(2**32 - 1, tf.int64))
    assert int(header.fingerprint) == 2**32 - 1
    expect_error(
        lambda: bitstream.unpack(packed, 3, expected_fingerprint=tf.constant(5, tf.int64)),
        "fingerprint mismatch")


def test_graph_outputs_depend_on_checks():
    # Only one section is used; the checks must still run.
    @tf.function(input_signature=[SCALAR_STRING])
    def first_section(bitstring):
        return bitstream.unpack(bitstring, 3).sections[1]

    packed = small_file()
    assert first_section(packed).numpy() == b"\x00\xff"
    expect_error(lambda: first_section(packed[:-1] + b"x"), "tfnq: file is truncated")
    expect_error(lambda: first_section(b"TF"), "tfnq: not a tfnq file (too short)")


def test_unpack_rejects_bad_num_sections():
    with pytest.raises(ValueError):
        bitstream.unpack(small_file(), 0)
    with pytest.raises(ValueError):
        bitstream.unpack(small_file(), 256)


def test_max_sections():
    sections = [bytes([i]) for i in range(255)]
    packed = eager_pack(1, 2, 3, 4, sections)
    header = eager_unpack(packed, 255)
    assert [s.numpy() for s in header.sections] == sections


def test_parse_header_good_file():
    packed = eager_pack(4, 2**32 - 1, 480, 640, [b"", ALL_BYTES, b"xy"])
    for value in (packed, tf.constant(packed)):
        info = bitstream.parse_header(value)
        assert info["magic_ok"] and info["version_ok"] and info["size_ok"]
        assert info["checksum_ok"]
        assert info["version"] == 1
        assert info["mode"] == 4
        assert info["fingerprint"] == 2**32 - 1
        assert (info["height"], info["width"]) == (480, 640)
        assert info["num_sections"] == 3
        assert info["section_lengths"] == [0, 256, 2]
        assert info["total_size"] == info["expected_size"] == len(packed)
        assert info["checksum"] == info["computed_checksum"]


def test_parse_header_damaged_files():
    packed = small_file()
    info = bitstream.parse_header(packed[:-1] + b"?")
    assert info["size_ok"] and not info["checksum_ok"]
    info = bitstream.parse_header(packed[:-2])
    assert not info["size_ok"] and not info["checksum_ok"]
    assert info["total_size"] == len(packed) - 2
    info = bitstream.parse_header(packed[:25])  # Section table cut off.
    assert info["section_lengths"] == [] and info["expected_size"] is None
    assert not info["size_ok"] and not info["checksum_ok"]
    info = bitstream.parse_header(packed + b"junk")
    assert not info["size_ok"] and not info["checksum_ok"]
    info = bitstream.parse_header(packed[:4] + b"\x09" + packed[5:])
    assert info["version"] == 9 and not info["version_ok"] and not info["checksum_ok"]
    for position in range(len(packed)):
        damaged = bytearray(packed)
        damaged[position] ^= 0x80
        if position < 4:
            with pytest.raises(ValueError, match="tfnq: not a tfnq file"):
                bitstream.parse_header(bytes(damaged))
        else:
            assert not bitstream.parse_header(bytes(damaged))["checksum_ok"], position
    with pytest.raises(ValueError, match=r"tfnq: not a tfnq file \(too short\)"):
        bitstream.parse_header(packed[:22])
    with pytest.raises(ValueError, match=r"tfnq: not a tfnq file \(bad magic\)"):
        bitstream.parse_header(b"GIF89a" + packed[6:])


def test_error_message():
    assert bitstream.error_message(
        "Graph execution error:\n\nassertion failed: [tfnq: bad thing (x)]\n\t [[{{node A}}]]"
    ) == "tfnq: bad thing (x)"
    assert bitstream.error_message(ValueError("tfnq: plain")) == "tfnq: plain"
    assert bitstream.error_message("something else") is None
