"""Container format version 2: compact lengths and typed fields, in core TensorFlow ops.

Like version 1 (`tfnq.bitstream`), files are built and parsed with stock TensorFlow
ops only, inside a SavedModel's signatures or eagerly. Version 2 stores numbers as
unsigned LEB128 varints (7 bits per byte, high bit set on every byte but the last)
and carries what a coding configuration needs to signal (a Latent Shift step, a rate
parameter, a tile grid, side-information lengths) as tag-length-value fields:

```
offset size field
0      4    magic b"TFNQ"
4      1    format version (uint8), 2
5      4    model fingerprint (uint32, big-endian)
9      4    checksum (uint32, big-endian): FarmHash of every other byte of the file
13     ..   varints: height - 1, width - 1, number of sections S (1..255), then the
            lengths of sections 1 .. S-1 (the last section is the rest of the file)
..     ..   fields: tag (1 byte, 1..255), value length (varint), value; tag 0 ends
            the list
..     ..   section payloads concatenated
```

A field's tag says what it holds; tags 128-255 are ancillary (a reader that does not
know one skips it), tags 1-127 critical (a reader that does not know one refuses the
file: "tfnq: the file needs a newer tfnq (field ...)"). At most `MAX_FIELDS` fields.

The mode byte of version 1 is gone: the fingerprint identifies the model *and* its
coding configuration (`tfnq.fingerprint`). Overhead: 13 fixed bytes, 1-3 bytes
per side (up to 16384 pixels: 2 each), 1 for the count, 1-3 per section length but
the last, 1 for the end of the fields, plus the fields: 21 bytes for a typical
two-section hyperprior file (version 1: 31), 19 for one section (version 1: 27).

`unpack` refuses any file it cannot parse exactly, with the messages of version 1
where they apply (too short, bad magic, version, truncated/corrupted, checksum,
section count, fingerprint); every read is clamped, so arbitrary bytes never index
out of range.
"""

import collections

import numpy as np
import tensorflow as tf

from tfnq import bitstream as v1
from tfnq.ops import leb128

__all__ = [
    "FORMAT_VERSION",
    "FIXED_SIZE",
    "MAX_FIELDS",
    "Header",
    "pack",
    "unpack",
    "parse_header",
    "varint_bytes",
]

FORMAT_VERSION = 2
FIXED_SIZE = 13  # Magic, version, fingerprint, checksum.
_CHECKSUM_OFFSET, _CHECKSUM_SIZE = 9, 4
MAX_FIELDS = 16
_MAX_VARINT = leb128.MAX_BYTES  # Bytes of a uint32 varint.
_MAX_FIELD_LENGTH = 256
# Longest header: fixed part, 3 + 254 varints, `MAX_FIELDS` fields and the end tag.
# `unpack` reads at most this many bytes for the header.
_MAX_VARINTS = 3 + v1.MAX_SECTIONS - 1
_MAX_HEADER = (FIXED_SIZE + _MAX_VARINT * _MAX_VARINTS
               + MAX_FIELDS * (1 + _MAX_VARINT + _MAX_FIELD_LENGTH) + 1)

Header = collections.namedtuple("Header", ["fingerprint", "height", "width", "sections",
                                           "fields"])
Header.__doc__ = """Validated contents of a version-2 file, as returned by `unpack`.

Attributes:
  fingerprint: int64 scalar.
  height: int32 scalar.
  width: int32 scalar.
  sections: Python list of scalar tf.string tensors.
  fields: Dict tag -> `(present, value)`: bool scalar and scalar tf.string tensor, for
    the tags the caller asked for.
"""


def varint_bytes(values):
    """Unsigned LEB128 encoding of int64 values in [0, 2**32) (a scalar string)."""
    byte_values, used = leb128.leb128_encode(values)
    return tf.strings.reduce_join(tf.gather(v1._byte_table(), tf.boolean_mask(byte_values, used)))


def _read_varints(byte_values, count):
    """The first `count` varints of `byte_values` (int64 vector) and where each ends.

    Vectorized: the k-th varint is the k-th run of bytes ending at a byte below 0x80.

    Returns:
      `(values, ends, ok)`: int64 `[count]` values and the offset after each, and
      whether all `count` were complete and at most 5 bytes long.
    """
    n = byte_values.shape[0]
    values, lengths, segment = leb128.leb128_decode(byte_values)
    values, lengths = values[:count], lengths[:count]
    position = tf.range(n, dtype=tf.int64)
    # (An empty segment's maximum is the smallest int64: clamped, and `ok` is False.)
    ends = tf.clip_by_value(tf.math.unsorted_segment_max(position, segment, n + 1)[:count] + 1,
                            0, n)
    complete = tf.reduce_sum(tf.cast(byte_values < 0x80, tf.int64)) >= count
    ok = tf.logical_and(complete, tf.reduce_all(lengths <= _MAX_VARINT))
    return values, ends, tf.logical_and(ok, tf.reduce_all(values < 2**32))


def _uint32(name, value, check):
    """Range-checked int64 scalar of a Python int or tensor."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) < 2**32:
            raise ValueError(f"tfnq: {name} must be between 0 and {2**32 - 1}, got {value}")
        return tf.constant(int(value), tf.int64), check
    value = tf.ensure_shape(tf.cast(tf.convert_to_tensor(value), tf.int64), [])
    check = v1._check(tf.logical_and(value >= 0, value < 2**32),
                      f"tfnq: {name} out of range", check)
    return value, check


def pack(fingerprint, height, width, sections, fields=None):
    """Builds a version-2 tfnq file (eagerly or inside `tf.function`).

    Args:
      fingerprint: Model fingerprint, int in [0, 2**32 - 1].
      height: Image height, 1 .. 2**31 - 1.
      width: Image width, 1 .. 2**31 - 1.
      sections: Python list of 1 to 255 scalar string tensors (or bytes).
      fields: Optional dict tag (1..255) -> scalar string tensor (or bytes) of at most
        256 bytes, at most `MAX_FIELDS` of them.

    Returns:
      Scalar tf.string tensor.

    Raises:
      ValueError: For a bad number of sections or fields, a bad tag, or a Python int
        out of range. Tensor arguments are checked by assert ops.
    """
    if not isinstance(sections, (list, tuple)) or not 1 <= len(sections) <= v1.MAX_SECTIONS:
        raise ValueError(f"tfnq: sections must be a list of 1 to {v1.MAX_SECTIONS} strings")
    fields = dict(fields or {})
    if len(fields) > MAX_FIELDS or not all(
            isinstance(t, int) and 1 <= t <= 255 for t in fields):
        raise ValueError(f"tfnq: at most {MAX_FIELDS} fields with tags in 1..255")
    check = None
    fingerprint, check = _uint32("fingerprint", fingerprint, check)
    height, check = _uint32("height", height, check)
    width, check = _uint32("width", width, check)
    check = v1._check(
        tf.logical_and(tf.logical_and(height >= 1, width >= 1),
                       tf.logical_and(height <= v1._INT32_MAX, width <= v1._INT32_MAX)),
        "tfnq: image size out of range", check)
    sections = [tf.ensure_shape(tf.convert_to_tensor(s, tf.string), []) for s in sections]
    lengths = tf.cast(tf.strings.length(tf.stack(sections)), tf.int64)
    check = v1._check(tf.reduce_all(lengths < 2**32),
                      "tfnq: a section is too long (2**32 bytes or more)", check)
    numbers = tf.concat([tf.stack([height - 1, width - 1, len(sections)]), lengths[:-1]], 0)
    parts = [varint_bytes(numbers)]
    for tag in sorted(fields):
        value = tf.ensure_shape(tf.convert_to_tensor(fields[tag], tf.string), [])
        size = tf.cast(tf.strings.length(value), tf.int64)
        check = v1._check(size <= _MAX_FIELD_LENGTH, "tfnq: a field is too long", check)
        parts += [v1._uints_to_bytes(tag, 1), varint_bytes(size), value]
    parts.append(tf.constant(b"\0"))
    front = tf.strings.join([tf.constant(v1.MAGIC), v1._uints_to_bytes(FORMAT_VERSION, 1),
                             v1._uints_to_bytes(fingerprint, 4)])
    rest = tf.strings.join(parts + sections)
    checksum = v1._uints_to_bytes(v1._checksum(front, rest), _CHECKSUM_SIZE)
    (bitstring,) = v1._with_deps([tf.strings.join([front, checksum, rest])], check)
    return bitstring


def _fields(byte_values, start, limit):
    """Tags, value offsets and lengths of the fields from `start`; and where they end.

    A `tf.while_loop` over at most `MAX_FIELDS` fields; reads are clamped to
    `byte_values`. Returns `(tags, offsets, lengths, end, ok)`.
    """
    n = byte_values.shape[0]

    def varint_at(position):
        window = tf.gather(byte_values, tf.clip_by_value(
            position + tf.range(_MAX_VARINT, dtype=tf.int64), 0, n - 1))
        # A window that runs past the data reads 0x80 (never complete).
        window = tf.where(position + tf.range(_MAX_VARINT, dtype=tf.int64) < limit,
                          window, 0x80)
        value, end, ok = _read_varints(window, 1)
        return value[0], position + end[0], ok

    def body(i, position, tags, offsets, lengths, done, ok):
        tag = tf.gather(byte_values, tf.clip_by_value(position, 0, n - 1))
        in_data = position < limit
        is_end = tf.logical_and(in_data, tf.equal(tag, 0))
        length, value_start, varint_ok = varint_at(position + 1)
        value_end = value_start + length
        field_ok = tf.logical_and(tf.logical_and(in_data, varint_ok), value_end <= limit)
        take = tf.logical_not(tf.logical_or(done, is_end))
        tags = tf.tensor_scatter_nd_update(tags, [[i]], [tf.where(take, tag, 0)])
        offsets = tf.tensor_scatter_nd_update(offsets, [[i]], [value_start])
        lengths = tf.tensor_scatter_nd_update(lengths, [[i]], [length])
        ok = tf.logical_and(ok, tf.logical_or(tf.logical_not(take), field_ok))
        ok = tf.logical_and(ok, tf.logical_or(done, in_data))
        position = tf.where(done, position, tf.where(is_end, position + 1, value_end))
        return i + 1, position, tags, offsets, lengths, tf.logical_or(done, is_end), ok

    zeros = tf.zeros([MAX_FIELDS + 1], tf.int64)
    _, end, tags, offsets, lengths, done, ok = tf.while_loop(
        lambda i, *_: i < MAX_FIELDS + 1, body,
        (tf.constant(0), tf.cast(start, tf.int64), zeros, zeros, zeros, tf.constant(False),
         tf.constant(True)))
    return tags, offsets, lengths, end, tf.logical_and(ok, done)


def unpack(bitstring, num_sections, expected_fingerprint=None, known_fields=(),
           fields=()):
    """Validates and parses a version-2 file (eagerly or inside `tf.function`).

    Args:
      bitstring: Scalar tf.string tensor (or bytes).
      num_sections: Python int, the sections the caller expects.
      expected_fingerprint: Optional int, the fingerprint the file must have.
      known_fields: Tags the caller understands (critical tags not among them are
        refused).
      fields: Tags whose values to return (in `Header.fields`).

    Returns:
      A `Header`; every tensor depends on all checks.

    Raises:
      tf.errors.InvalidArgumentError: For a file that is not a valid version-2 file.
    """
    num_sections = int(num_sections)
    if not 1 <= num_sections <= v1.MAX_SECTIONS:
        raise ValueError(f"tfnq: num_sections must be between 1 and {v1.MAX_SECTIONS}")
    bitstring = tf.ensure_shape(tf.convert_to_tensor(bitstring, tf.string), [])
    size = tf.cast(tf.strings.length(bitstring), tf.int64)
    # The header's bytes, padded to a fixed length so that every read is in range.
    length = _MAX_HEADER + FIXED_SIZE
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(bitstring, 0, _MAX_HEADER),
                                              tf.constant(b"\x80" * length)]), 0, length)
    byte_values = tf.ensure_shape(tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64),
                                  [length])
    limit = tf.minimum(size, _MAX_HEADER)

    magic = tf.strings.substr(head, 0, 4)
    version = byte_values[4]
    fingerprint = v1._bytes_to_uint(byte_values, 5, 4)
    stored = v1._bytes_to_uint(byte_values, _CHECKSUM_OFFSET, _CHECKSUM_SIZE)
    # Bytes past the end of the file read as 0x80: a varint there never completes.
    padded = tf.where(tf.range(length, dtype=tf.int64) < limit, byte_values, 0x80)
    count_needed = 3 + num_sections - 1
    numbers, ends, numbers_ok = _read_varints(
        padded[FIXED_SIZE:FIXED_SIZE + _MAX_VARINT * count_needed], count_needed)
    height, width, count = numbers[0] + 1, numbers[1] + 1, numbers[2]
    lengths = numbers[3:]
    fields_start = FIXED_SIZE + ends[-1]
    tags, offsets, field_lengths, payload_start, fields_ok = _fields(
        padded, fields_start, limit)
    known = tf.constant(sorted({0, *known_fields}), tf.int64)
    unknown_critical = tf.logical_and(
        tf.logical_and(tags > 0, tags < 128),
        tf.logical_not(tf.reduce_any(tf.equal(tags[:, None], known[None]), axis=1)))
    sum_lengths = tf.reduce_sum(lengths)
    last_length = size - payload_start - sum_lengths
    covered = tf.strings.join([tf.strings.substr(bitstring, 0, _CHECKSUM_OFFSET),
                               tf.strings.substr(bitstring, tf.minimum(size, FIXED_SIZE), -1)])
    checksum = tf.strings.to_hash_bucket_fast(covered, num_buckets=2**32)

    check = v1._check(size >= FIXED_SIZE + 4, "tfnq: not a tfnq file (too short)", None)
    check = v1._check(tf.equal(magic, v1.MAGIC), "tfnq: not a tfnq file (bad magic)", check)
    check = v1._check(
        tf.equal(version, FORMAT_VERSION),
        lambda: tf.strings.format(
            "tfnq: unsupported format version {} (this version of tfnq reads versions 1 "
            "and 2)", [version]), check)
    check = v1._check(tf.equal(checksum, stored),
                      "tfnq: file is truncated or corrupted (checksum mismatch)", check)
    check = v1._check(numbers_ok, "tfnq: file is truncated or corrupted (header)", check)
    check = v1._check(
        tf.equal(count, num_sections),
        lambda: tf.strings.format(
            "tfnq: wrong number of sections (file has {}, expected {})", [count, num_sections]),
        check)
    check = v1._check(fields_ok, "tfnq: file is truncated or corrupted (fields)", check)
    check = v1._check(last_length >= 0,
                      "tfnq: file is truncated or corrupted (section lengths)", check)
    check = v1._check(
        tf.logical_not(tf.reduce_any(unknown_critical)),
        lambda: tf.strings.format(
            "tfnq: the file needs a newer tfnq (field {})",
            [tf.reduce_max(tf.where(unknown_critical, tags, 0))]), check)
    if expected_fingerprint is not None:
        check = v1._check(
            tf.equal(fingerprint, tf.cast(expected_fingerprint, tf.int64)),
            "tfnq: file was made by another model (fingerprint mismatch)", check)
    check = v1._check(
        tf.logical_and(height <= v1._INT32_MAX, width <= v1._INT32_MAX),
        "tfnq: image size out of range", check)

    sections, position = [], payload_start
    all_lengths = tf.concat([lengths, [tf.maximum(last_length, 0)]], 0)
    for i in range(num_sections):
        start = tf.clip_by_value(position, 0, size)
        sections.append(tf.strings.substr(bitstring, start,
                                          tf.clip_by_value(all_lengths[i], 0, size - start)))
        position += all_lengths[i]
    values = []
    for tag in fields:
        match = tf.equal(tags, int(tag))
        index = tf.argmax(tf.cast(match, tf.int64))
        present = tf.reduce_any(match)
        length = tf.where(present, tf.clip_by_value(field_lengths[index], 0, size), 0)
        values += [present, tf.strings.substr(
            bitstring, tf.clip_by_value(offsets[index], 0, size), length)]
    outputs = v1._with_deps([fingerprint, tf.cast(height, tf.int32), tf.cast(width, tf.int32)]
                            + sections + values, check)
    field_values = {int(tag): (outputs[3 + num_sections + 2 * k],
                               outputs[4 + num_sections + 2 * k])
                    for k, tag in enumerate(fields)}
    return Header(outputs[0], outputs[1], outputs[2], outputs[3:3 + num_sections],
                  field_values)


def parse_header(data):
    """The header of a version-2 file as Python values, for display (eager only)."""
    data = bytes(data.numpy() if isinstance(data, tf.Tensor) else data)
    if len(data) < FIXED_SIZE + 4:
        raise ValueError("tfnq: not a tfnq file (too short)")
    info = dict(magic_ok=data[:4] == v1.MAGIC, version=data[4], version_ok=data[4] == 2,
                fingerprint=int.from_bytes(data[5:9], "big"),
                checksum=int.from_bytes(data[9:13], "big"))
    position = FIXED_SIZE

    def varint():
        nonlocal position
        value, shift = 0, 0
        while True:
            if position >= len(data) or shift > 28:
                raise ValueError("tfnq: file is truncated or corrupted (header)")
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    numbers = [varint() for _ in range(3)]
    info["height"], info["width"], count = numbers[0] + 1, numbers[1] + 1, numbers[2]
    info["num_sections"] = count
    lengths = [varint() for _ in range(max(count - 1, 0))]
    tags = []
    while True:
        if position >= len(data):
            raise ValueError("tfnq: file is truncated or corrupted (fields)")
        tag = data[position]
        position += 1
        if tag == 0:
            break
        length = varint()
        tags.append(dict(tag=tag, length=length))
        position += length
    info["fields"] = tags
    info["header_bytes"] = position
    info["section_lengths"] = lengths + [len(data) - position - sum(lengths)]
    info["total_size"] = len(data)
    info["size_ok"] = info["section_lengths"][-1] >= 0
    covered = data[:_CHECKSUM_OFFSET] + data[FIXED_SIZE:]
    computed = int(tf.strings.to_hash_bucket_fast(covered, num_buckets=2**32).numpy())
    info["computed_checksum"] = computed
    info["checksum_ok"] = computed == info["checksum"]
    return info
