"""Asymmetric numeral systems with `constriction`, behind tfnq's `StackCoder`.

`constriction` (Bamler, "Understanding Entropy Coding With Asymmetric Numeral
Systems (ANS): a Statistician's Perspective", 2022) provides the ANS coder: 32-bit
words, 24-bit probabilities. Each tfnq table becomes a `Categorical` model of its
integer frequencies (exactly representable; `perfect=False`, the setting encoder and
decoder share). A section is pushed table by table (the elements of one table in
order); a symbol outside its table's range is pushed as the overflow bin followed by
an escape: its distance past the table's edge, zigzagged to `v >= 0`, as the bit
length of `v` (uniform over 0..34) and the bits of `v` below its leading one, in
chunks of at most 16 bits (uniform). Any int32 symbol can thus be coded.
"""

import numpy as np

from tfnq.coders.stack import Message, StackCoder, parse_tables

__all__ = ["AnsCoder"]

_MAX_BITS = 35  # Bit lengths 0..34 of an escape value (distances below 2^33).
_CHUNK = 16


def _constriction():
    try:
        import constriction
    except ImportError as e:  # pragma: no cover - a dependency of tfnq.
        raise ImportError("tfnq's ANS coder needs the `constriction` package") from e
    return constriction


class _Tables:
    """Per-table `Categorical` models, built once."""

    def __init__(self, cdf, cdf_offset):
        model = _constriction().stream.model
        frequencies, self.offsets, self.precision = parse_tables(cdf, cdf_offset)
        self.sizes = np.array([f.size for f in frequencies], np.int64)
        scale = float(1 << self.precision)
        self.models = [model.Categorical(f.astype(np.float64) / scale, perfect=False)
                       for f in frequencies]
        self.length_model = model.Uniform(_MAX_BITS)
        self.chunk_models = {b: model.Uniform(1 << b) for b in range(1, _CHUNK + 1)}

    def check_rows(self, rows):
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.models)):
            raise ValueError(f"table rows outside 0..{len(self.models) - 1}")


def _groups(rows):
    """`(row, element positions)` of each table used, rows ascending."""
    if not rows.size:
        return []
    # A stable sort of small integers is a radix sort in numpy: 16-bit keys when they fit.
    keys = rows.astype(np.int16) if rows.max() < 1 << 15 else rows
    order = np.argsort(keys, kind="stable")
    used, starts = np.unique(rows[order], return_index=True)
    return list(zip(used, np.split(order, starts[1:]), strict=True))


def _chunks(num_bits):
    """Widths of the chunks of `num_bits` bits, most significant first."""
    widths = [_CHUNK] * (num_bits // _CHUNK)
    if num_bits % _CHUNK:
        widths.insert(0, num_bits % _CHUNK)
    return widths


class _AnsMessage(Message):

    def __init__(self, coder):
        self._coder = coder

    def push(self, symbols, rows, tables):
        symbols = np.asarray(symbols, np.int64).ravel()
        rows = np.asarray(rows, np.int64).ravel()
        if symbols.shape != rows.shape:
            raise ValueError(f"{symbols.size} symbols, {rows.size} table rows")
        tables.check_rows(rows)
        for row, where in reversed(_groups(rows)):
            size = tables.sizes[row]
            values = symbols[where] - tables.offsets[row]
            outside = (values < 0) | (values >= size - 1)
            for value in reversed(values[outside]):  # Escapes, popped after the bins.
                self._push_escape(int(value), int(size), tables)
            bins = np.where(outside, size - 1, values).astype(np.int32)
            self._coder.encode_reverse(bins, tables.models[row])

    def _push_escape(self, value, size, tables):
        v = 2 * (-value) - 1 if value < 0 else 2 * (value - (size - 1))
        length = v.bit_length()
        rest = v - (1 << (length - 1)) if length else 0
        shift = 0
        for width in reversed(_chunks(max(length - 1, 0))):  # Least significant first.
            self._coder.encode_reverse(np.array([(rest >> shift) & ((1 << width) - 1)],
                                                np.int32), tables.chunk_models[width])
            shift += width
        self._coder.encode_reverse(np.array([length], np.int32), tables.length_model)

    def _pop_escape(self, size, tables):
        length = int(self._coder.decode(tables.length_model, 1)[0])
        rest = 0
        for width in _chunks(max(length - 1, 0)):
            rest = (rest << width) | int(self._coder.decode(tables.chunk_models[width], 1)[0])
        v = (1 << (length - 1)) + rest if length else 0
        return -(v + 1) // 2 if v % 2 else v // 2 + size - 1

    def pop(self, rows, tables):
        rows = np.asarray(rows, np.int64)
        shape = rows.shape
        rows = rows.ravel()
        tables.check_rows(rows)
        symbols = np.zeros(rows.size, np.int64)
        try:
            for row, where in _groups(rows):
                size = tables.sizes[row]
                values = self._coder.decode(tables.models[row], where.size).astype(np.int64)
                for i in np.flatnonzero(values == size - 1):
                    values[i] = self._pop_escape(int(size), tables)
                symbols[where] = values + tables.offsets[row]
        except (ValueError, RuntimeError, OverflowError) as e:
            raise ValueError(f"ANS decoding failed (damaged data: {e})") from None
        if np.any(symbols < -(1 << 31)) or np.any(symbols >= 1 << 31):
            raise ValueError("ANS decoding failed (damaged data: a symbol beyond int32)")
        return symbols.astype(np.int32).reshape(shape)

    def is_empty(self):
        return self._coder.is_empty()

    def to_bytes(self):
        return self._coder.get_compressed().astype("<u4").tobytes()


class AnsCoder(StackCoder):
    """ANS with `constriction` (see the module docstring)."""

    name_tag = "constriction-ans"

    def prepare_tables(self, cdf, cdf_offset):
        return _Tables(cdf, cdf_offset)

    def message(self, data=b""):
        stack = _constriction().stream.stack
        if not data:
            return _AnsMessage(stack.AnsCoder())
        if len(data) % 4:
            raise ValueError(f"an ANS message is whole 32-bit words, not {len(data)} bytes")
        words = np.frombuffer(bytes(data), "<u4").astype(np.uint32)
        if words[-1] == 0:
            raise ValueError("an ANS message does not end in a zero word")
        try:
            return _AnsMessage(stack.AnsCoder(words, seal=False))
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"not an ANS message ({e})") from None
