"""Container format of tfnq compressed files, built and parsed with core TensorFlow ops.

Everything here uses only stock TensorFlow ops (no tensorflow_compression ops, no
`tf.py_function`), so `pack` and `unpack` can run inside a SavedModel `tf.function`
served by stock TensorFlow Serving; they also work eagerly.

Layout (big-endian, all fields fixed-size):

```
offset size field
0      4    magic b"TFNQ"
4      1    format version (uint8), FORMAT_VERSION
5      1    coding mode id (uint8)
6      4    model fingerprint (uint32)
10     4    image height (uint32, at most 2**31 - 1)
14     4    image width (uint32, at most 2**31 - 1)
18     4    checksum (uint32), see below
22     1    number of sections S (uint8, 1..255)
23     4*S  section lengths (uint32 each)
..          section payloads concatenated
```

`HEADER_SIZE` (22) is the number of bytes before the section table.

The checksum is `tf.strings.to_hash_bucket_fast(covered, 2**32)` (FarmHash
fingerprint, stable across platforms), where `covered` is every byte of the file
except the checksum field itself: bytes `[0, 18)` followed by bytes `[22, end)`.
Covering the header fields as well as the section table and payloads means that any
change to mode, fingerprint or image size is detected too, not only damage to the
payloads.

`unpack` validates a file and raises `tf.errors.InvalidArgumentError` whose message
contains a line starting with `"tfnq: "`; `error_message` extracts that line (in graph
mode TensorFlow wraps it in "assertion failed: [...]" and node information).
"""

import collections
import re

import numpy as np
import tensorflow as tf

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAX_SECTIONS",
    "Header",
    "pack",
    "unpack",
    "parse_header",
    "error_message",
]

MAGIC = b"TFNQ"
FORMAT_VERSION = 1

# The byte layout, written once: (name, offset, size) of each fixed header field.
_FIELDS = (
    ("magic", 0, 4),
    ("version", 4, 1),
    ("mode", 5, 1),
    ("fingerprint", 6, 4),
    ("height", 10, 4),
    ("width", 14, 4),
    ("checksum", 18, 4),
)
_OFFSET = {name: offset for name, offset, _ in _FIELDS}
_SIZE = {name: size for name, _, size in _FIELDS}
HEADER_SIZE = 22
_COUNT_OFFSET = HEADER_SIZE  # uint8 number of sections.
_COUNT_SIZE = 1
_TABLE_OFFSET = _COUNT_OFFSET + _COUNT_SIZE  # uint32 section lengths start here.
_LENGTH_SIZE = 4
MAX_SECTIONS = 255
# Smallest byte count that can be read as a header (fixed fields plus section count).
_MIN_SIZE = _TABLE_OFFSET
# Longest possible header plus section table; `unpack` reads at most this many bytes.
_MAX_TABLE_END = _TABLE_OFFSET + _LENGTH_SIZE * MAX_SECTIONS

assert _OFFSET["checksum"] + _SIZE["checksum"] == HEADER_SIZE
assert all(o1 + s1 == o2 for (_, o1, s1), (_, o2, _) in zip(_FIELDS, _FIELDS[1:], strict=False))
assert len(MAGIC) == _SIZE["magic"]

_UINT32_MAX = 2**32 - 1
_INT32_MAX = 2**31 - 1
_RANGES = {
    "mode": (0, 255),
    "fingerprint": (0, _UINT32_MAX),
    "height": (0, _INT32_MAX),
    "width": (0, _INT32_MAX),
}
# The 256 single-byte strings; gathered and joined to turn byte values into a string.
_BYTE_STRINGS = [bytes([i]) for i in range(256)]

# tfnq messages contain no "]" or newline, so they can be cut out of graph-mode errors.
_ERROR_RE = re.compile(r"tfnq: [^\]\n]*")

Header = collections.namedtuple("Header", ["mode", "fingerprint", "height", "width", "sections"])
Header.__doc__ = """Validated contents of a tfnq file, as returned by `unpack`.

Attributes:
  mode: int32 scalar, coding mode id.
  fingerprint: int64 scalar, model fingerprint in [0, 2**32 - 1].
  height: int32 scalar, image height.
  width: int32 scalar, image width.
  sections: Python list of scalar tf.string tensors, the section payloads.
"""


def _byte_table():
    return tf.constant(_BYTE_STRINGS, dtype=tf.string)


def _uints_to_bytes(values, size):
    """Big-endian encoding of non-negative int64 values, `size` bytes each, as a string."""
    values = tf.reshape(tf.cast(values, tf.int64), [-1, 1])
    shifts = tf.constant([[8 * (size - 1 - i) for i in range(size)]], dtype=tf.int64)
    byte_values = tf.bitwise.bitwise_and(tf.bitwise.right_shift(values, shifts), 255)
    return tf.strings.reduce_join(tf.gather(_byte_table(), tf.reshape(byte_values, [-1])))


def _bytes_to_uint(byte_values, offset, size):
    """Big-endian unsigned integer (int64) from `byte_values[offset:offset + size]`."""
    value = tf.constant(0, dtype=tf.int64)
    for i in range(size):
        value = value * 256 + byte_values[offset + i]
    return value


def _checksum(header_bytes, rest):
    """Checksum (int64 in [0, 2**32)) of the 18 header bytes before it and the rest."""
    return tf.strings.to_hash_bucket_fast(
        tf.strings.join([header_bytes, rest]), num_buckets=_UINT32_MAX + 1)


def _check(condition, message, previous):
    """Raises InvalidArgumentError(message) unless `condition`; ordered after `previous`.

    Eagerly, raises right away with `message` as the whole error message. In a graph,
    creates an Assert op with a control dependency on `previous` (so that checks fire in
    the order they are made) and returns it, to be used as `previous` of the next check.

    Args:
      condition: Scalar bool tensor.
      message: Python str, or a callable returning a scalar tf.string tensor (so that
        formatting is only done when needed eagerly).
      previous: The op returned by the previous `_check` call, or None.

    Returns:
      The assert op in graph mode, else None.
    """
    if tf.executing_eagerly():
        if not bool(condition):
            text = message if isinstance(message, str) else message().numpy().decode()
            raise tf.errors.InvalidArgumentError(None, None, text)
        return None
    deps = [] if previous is None else [previous]
    with tf.control_dependencies(deps):
        data = [message if isinstance(message, str) else message()]
        return tf.debugging.Assert(condition, data)


def _with_deps(tensors, check):
    """Returns `tensors` (a list) made dependent on the last check op, if any."""
    if check is None:
        return list(tensors)
    with tf.control_dependencies([check]):
        return [tf.identity(t) for t in tensors]


def pack(mode, fingerprint, height, width, sections):
    """Builds a tfnq file.

    Works eagerly and inside `tf.function`. Python ints are range-checked right away
    (ValueError); tensor arguments are checked by assert ops (InvalidArgumentError).

    Args:
      mode: Coding mode id, int in [0, 255] (Python int or integer scalar tensor).
      fingerprint: Model fingerprint, int in [0, 2**32 - 1] (Python int or integer
        scalar tensor; use int64 for values above 2**31 - 1).
      height: Image height, int in [0, 2**31 - 1].
      width: Image width, int in [0, 2**31 - 1].
      sections: Python list or tuple of 1 to 255 scalar tf.string tensors (or bytes),
        the section payloads, each shorter than 2**32 bytes.

    Returns:
      Scalar tf.string tensor with the file's bytes.

    Raises:
      ValueError: If the number of sections or a Python int argument is out of range.
      tf.errors.InvalidArgumentError: If a tensor argument is out of range.
    """
    if not isinstance(sections, (list, tuple)):
        raise ValueError("tfnq: sections must be a Python list of scalar string tensors")
    if not 1 <= len(sections) <= MAX_SECTIONS:
        raise ValueError(
            f"tfnq: number of sections must be between 1 and {MAX_SECTIONS}, "
            f"got {len(sections)}")
    args = {"mode": mode, "fingerprint": fingerprint, "height": height, "width": width}
    values = {}
    check = None
    for name, value in args.items():
        low, high = _RANGES[name]
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if not low <= int(value) <= high:
                raise ValueError(
                    f"tfnq: {name} must be between {low} and {high}, got {int(value)}")
            values[name] = tf.constant(int(value), dtype=tf.int64)
        else:
            value = tf.cast(tf.convert_to_tensor(value), tf.int64)
            value = tf.ensure_shape(value, [])
            check = _check(
                tf.logical_and(value >= low, value <= high),
                lambda name=name, value=value, low=low, high=high: tf.strings.format(
                    "tfnq: " + name + " must be between {} and {}, got {}", [low, high, value]),
                check)
            values[name] = value
    sections = [tf.ensure_shape(tf.convert_to_tensor(s, dtype=tf.string), [])
                for s in sections]
    lengths = tf.cast(tf.strings.length(tf.stack(sections)), tf.int64)
    check = _check(
        tf.reduce_all(lengths <= _UINT32_MAX),
        "tfnq: a section is too long (2**32 bytes or more)", check)
    values["version"] = tf.constant(FORMAT_VERSION, dtype=tf.int64)

    fields = []
    for name, _, size in _FIELDS:
        if name == "magic":
            fields.append(tf.constant(MAGIC))
        elif name != "checksum":
            fields.append(_uints_to_bytes(values[name], size))
    header = tf.strings.join(fields)  # Bytes [0, 18): everything before the checksum.
    rest = tf.strings.join([
        _uints_to_bytes(len(sections), _COUNT_SIZE),
        _uints_to_bytes(lengths, _LENGTH_SIZE),
    ] + sections)
    checksum = _uints_to_bytes(_checksum(header, rest), _SIZE["checksum"])
    (bitstring,) = _with_deps([tf.strings.join([header, checksum, rest])], check)
    return bitstring


def unpack(bitstring, num_sections, expected_fingerprint=None, expected_modes=None):
    """Validates and parses a tfnq file.

    Works eagerly and inside `tf.function` with a scalar string of any length: all ops
    are safe on arbitrary input, and the checks run in this order, the first failing one
    raising `tf.errors.InvalidArgumentError`:

    1. too short to hold a header: "tfnq: not a tfnq file (too short)";
    2. magic: "tfnq: not a tfnq file (bad magic)";
    3. version: "tfnq: unsupported format version ...";
    4. size not matching the section table: "tfnq: file is truncated or corrupted
       (size ...)", then checksum: "tfnq: file is truncated or corrupted (checksum
       mismatch)";
    5. section count: "tfnq: wrong number of sections ...";
    6. fingerprint, if `expected_fingerprint` is given: "tfnq: file was made by another
       model (fingerprint mismatch)";
    7. mode, if `expected_modes` is given: "tfnq: unsupported coding mode ...";
    8. image size above 2**31 - 1: "tfnq: image size out of range".

    All returned tensors have control dependencies on all checks.

    Args:
      bitstring: Scalar tf.string tensor (or bytes), the file.
      num_sections: Python int, the number of sections the caller expects.
      expected_fingerprint: Optional int (Python int or integer scalar tensor), the
        fingerprint the file must have.
      expected_modes: Optional Python list of ints, the accepted coding modes.

    Returns:
      A `Header`.

    Raises:
      tf.errors.InvalidArgumentError: If the file is invalid (see above).
      ValueError: If `num_sections` is not in [1, 255].
    """
    num_sections = int(num_sections)
    if not 1 <= num_sections <= MAX_SECTIONS:
        raise ValueError(
            f"tfnq: num_sections must be between 1 and {MAX_SECTIONS}, got {num_sections}")
    bitstring = tf.ensure_shape(tf.convert_to_tensor(bitstring, dtype=tf.string), [])
    size = tf.cast(tf.strings.length(bitstring), tf.int64)

    # Header and section table, zero-padded so that every read below is in range.
    prefix = tf.strings.join([
        tf.strings.substr(bitstring, 0, _MAX_TABLE_END),
        tf.constant(b"\0" * _MAX_TABLE_END),
    ])
    byte_values = tf.cast(
        tf.io.decode_raw(tf.strings.substr(prefix, 0, _MAX_TABLE_END), tf.uint8), tf.int64)
    byte_values = tf.ensure_shape(byte_values, [_MAX_TABLE_END])
    field = {name: _bytes_to_uint(byte_values, offset, size_)
             for name, offset, size_ in _FIELDS if name != "magic"}
    magic = tf.strings.substr(prefix, _OFFSET["magic"], _SIZE["magic"])
    count = _bytes_to_uint(byte_values, _COUNT_OFFSET, _COUNT_SIZE)
    table = tf.reshape(byte_values[_TABLE_OFFSET:], [MAX_SECTIONS, _LENGTH_SIZE])
    weights = tf.constant([256**(_LENGTH_SIZE - 1 - i) for i in range(_LENGTH_SIZE)],
                          dtype=tf.int64)
    lengths = tf.reduce_sum(table * weights, axis=1)  # [255] int64
    in_table = tf.range(MAX_SECTIONS, dtype=tf.int64) < count
    expected_size = (_TABLE_OFFSET + _LENGTH_SIZE * count
                     + tf.reduce_sum(tf.where(in_table, lengths, tf.zeros_like(lengths))))
    covered = tf.strings.join([
        tf.strings.substr(bitstring, 0, _OFFSET["checksum"]),
        tf.strings.substr(bitstring, tf.minimum(size, HEADER_SIZE), -1),
    ])
    checksum = tf.strings.to_hash_bucket_fast(covered, num_buckets=_UINT32_MAX + 1)

    check = _check(size >= _MIN_SIZE, "tfnq: not a tfnq file (too short)", None)
    check = _check(tf.equal(magic, MAGIC), "tfnq: not a tfnq file (bad magic)", check)
    check = _check(
        tf.equal(field["version"], FORMAT_VERSION),
        lambda: tf.strings.format(
            "tfnq: unsupported format version {} (this version of tfnq reads version {})",
            [field["version"], FORMAT_VERSION]),
        check)
    check = _check(
        tf.equal(size, expected_size),
        lambda: tf.strings.format(
            "tfnq: file is truncated or corrupted (size is {} bytes, section table says {})",
            [size, expected_size]),
        check)
    check = _check(
        tf.equal(checksum, field["checksum"]),
        "tfnq: file is truncated or corrupted (checksum mismatch)", check)
    check = _check(
        tf.equal(count, num_sections),
        lambda: tf.strings.format(
            "tfnq: wrong number of sections (file has {}, expected {})", [count, num_sections]),
        check)
    if expected_fingerprint is not None:
        if isinstance(expected_fingerprint, (int, np.integer)):
            expected = tf.constant(int(expected_fingerprint), dtype=tf.int64)
        else:
            expected = tf.cast(expected_fingerprint, tf.int64)
        check = _check(
            tf.equal(field["fingerprint"], expected),
            "tfnq: file was made by another model (fingerprint mismatch)", check)
    if expected_modes is not None:
        modes = [int(m) for m in expected_modes]
        accepted = tf.reduce_any(
            tf.equal(field["mode"], tf.constant(modes, shape=[len(modes)], dtype=tf.int64)))
        check = _check(
            accepted,
            lambda: tf.strings.format(
                "tfnq: unsupported coding mode {} (expected one of "
                + ", ".join(str(m) for m in modes) + ")",
                [field["mode"]]),
            check)
    check = _check(
        tf.logical_and(field["height"] <= _INT32_MAX, field["width"] <= _INT32_MAX),
        "tfnq: image size out of range", check)

    # Section payloads; positions and lengths are clamped so that slicing never fails.
    sections = []
    position = tf.constant(_TABLE_OFFSET + _LENGTH_SIZE * num_sections, dtype=tf.int64)
    for i in range(num_sections):
        start = tf.minimum(position, size)
        length = tf.minimum(lengths[i], size - start)
        sections.append(tf.strings.substr(bitstring, start, length))
        position += lengths[i]

    outputs = _with_deps([
        tf.cast(field["mode"], tf.int32),
        field["fingerprint"],
        tf.cast(field["height"], tf.int32),
        tf.cast(field["width"], tf.int32),
    ] + sections, check)
    return Header(*outputs[:4], sections=outputs[4:])


def parse_header(bitstring):
    """Reads the header of a tfnq file into Python values, for display (eager only).

    A version-2 file is read by `tfnq.bitstream_v2.parse_header` (no `mode`; `fields`).

    Does not validate beyond what is needed to read the header: a damaged file is
    reported through the `*_ok` entries rather than by raising.

    Args:
      bitstring: The file, as bytes or an eager scalar tf.string tensor.

    Returns:
      A dict with keys `magic_ok` (bool, always True as a bad magic raises),
      `version` (int), `version_ok` (bool), `mode` (int), `fingerprint` (int), `height`
      (int), `width` (int), `num_sections` (int), `section_lengths` (list of ints, the
      entries present in the file), `total_size` (int, bytes in the file),
      `expected_size` (int or None if the section table is cut off), `size_ok` (bool),
      `checksum` (int, stored), `computed_checksum` (int) and `checksum_ok` (bool).

    Raises:
      ValueError: "tfnq: not a tfnq file (too short)" or "tfnq: not a tfnq file (bad
        magic)".
    """
    if isinstance(bitstring, tf.Tensor):
        bitstring = bitstring.numpy()
    data = bytes(bitstring)
    if len(data) < _MIN_SIZE:
        raise ValueError("tfnq: not a tfnq file (too short)")
    if data[_OFFSET["magic"]:_OFFSET["magic"] + _SIZE["magic"]] != MAGIC:
        raise ValueError("tfnq: not a tfnq file (bad magic)")
    if data[_OFFSET["version"]] == 2:
        from tfnq import bitstream_v2
        return bitstream_v2.parse_header(data)

    def read(offset, size):
        return int.from_bytes(data[offset:offset + size], "big")

    info = {"magic_ok": True}
    for name, offset, size in _FIELDS:
        if name != "magic":
            info[name] = read(offset, size)
    info["version_ok"] = info["version"] == FORMAT_VERSION
    count = read(_COUNT_OFFSET, _COUNT_SIZE)
    info["num_sections"] = count
    lengths = []
    for i in range(count):
        offset = _TABLE_OFFSET + _LENGTH_SIZE * i
        if offset + _LENGTH_SIZE > len(data):
            break
        lengths.append(read(offset, _LENGTH_SIZE))
    info["section_lengths"] = lengths
    info["total_size"] = len(data)
    if len(lengths) == count:
        info["expected_size"] = _TABLE_OFFSET + _LENGTH_SIZE * count + sum(lengths)
    else:
        info["expected_size"] = None
    info["size_ok"] = info["expected_size"] == len(data)
    covered = data[:_OFFSET["checksum"]] + data[HEADER_SIZE:]
    computed = tf.strings.to_hash_bucket_fast(covered, num_buckets=_UINT32_MAX + 1)
    info["computed_checksum"] = int(computed.numpy())
    info["checksum_ok"] = info["computed_checksum"] == info["checksum"]
    return info


def error_message(error):
    """The plain "tfnq: ..." message of an error raised by `unpack` or `pack`.

    In graph mode TensorFlow wraps assert messages ("assertion failed: [...]", node
    names); this extracts the tfnq part, e.g. for a command-line tool to print.

    Args:
      error: An exception, typically `tf.errors.InvalidArgumentError`, or its message.

    Returns:
      The message starting with "tfnq: ", or None if there is none.
    """
    if isinstance(error, tf.errors.OpError):
        text = error.message
    else:
        text = str(error)
    match = _ERROR_RE.search(text)
    return match.group(0).rstrip() if match else None
