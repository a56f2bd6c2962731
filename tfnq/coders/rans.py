"""Interleaved rANS in core TensorFlow ops, behind tfnq's `Coder` interface.

A SavedModel that codes with `RansCoder` needs no custom op: stock TensorFlow,
TensorFlow Serving and any newer TensorFlow load it (tfc's range coder is a custom
C++ op that only a process importing `tensorflow_compression` has).

The coder is range asymmetric numeral systems (rANS; Duda, "Asymmetric numeral
systems: entropy coding combining speed of Huffman coding with compression rate of
arithmetic coding", 2013) with a 32-bit state in `[2^16, 2^32)`, 16-bit words and the
tables' own precision (at most 16 bits), so that a renormalization moves at most one
word. `K` lanes code interleaved symbols (symbol `i` of a string goes to lane
`i mod K`) into one shared word stream, in the order the decoder reads it (Giesen,
"Interleaved entropy coders", 2014): every step of the loop codes `K` symbols at once
with tensor ops, so the loop runs `N / K` times, not `N`. The same loop runs in two
forms: as a plain `tf.while_loop` (any runtime) or compiled with XLA
(`jit_compile=True`: much faster per step, but stock TF Serving runs XLA functions only
with `--xla_cpu_compilation_enabled`). The encoder picks `K` (per form: the plain one
takes more lanes for a shorter loop) and writes it into the string, so either form
decodes what either wrote. docs/coders.md has the design and the measurements.

A string (one per coding unit; a unit of no symbols is the empty string):

    K (1 byte) | final state of each lane (4 bytes, big-endian) x K
      | words (2 bytes, big-endian), in decoding order | escapes (LEB128 varints)

Symbols outside their table's range are coded as the table's overflow bin, and the
distance past the table's edge, zigzagged (`2d` below the table, `2d + 1` above), goes
to the escape section in symbol order, so any int32 symbol can be coded. The decoder
checks everything it can: the lane count, that every lane ends in the encoder's
initial state (damaged words almost never do), that words and escapes use the string
exactly, and that decoded symbols fit int32.
"""

import contextlib
import functools
import threading

import tensorflow as tf

from tfnq.coders.base import Coder
from tfnq.ops import leb128

__all__ = ["RansCoder", "compiled", "lanes_for"]

_LOW = 1 << 16      # The state's lower bound; also the encoder's initial state.
_WORD_BITS = 16
_MAX_LANES = 255    # The lane count is one byte.


def _table_layout(cdf):
    """Per table of the flat layout: start of its CDF, its intervals, its precision."""
    cdf = tf.convert_to_tensor(cdf, tf.int32)
    starts = tf.cast(tf.where(cdf < 0)[:, 0], tf.int32)  # the `-precision` headers
    ends = tf.concat([starts[1:], tf.shape(cdf)], 0)
    intervals = ends - starts - 2  # [-precision, c_0, ..., c_n]: n intervals
    precision = -tf.gather(cdf, starts)
    check = tf.debugging.assert_less_equal(
        precision, _WORD_BITS, message="tfnq: rANS takes tables of at most 16-bit precision")
    with tf.control_dependencies([check]):
        return cdf, starts + 1, intervals, precision


_MAX_SLOT_ENTRIES = 1 << 26  # Largest slot table (tables x 2^precision; 256 MB).
# The decode index (`decode_index`): each table's slots in 2^5 buckets of 2^w slots
# (w = the tables' precision - 5), each with the bin of its first slot. The XLA
# decoder gathers that bin and searches the bucket's few bins from it: at most 2^w
# (one slot at least each, zero-width bins aside), so 8 steps for tfnq's 12-bit tables
# where the search over a whole table takes 16. (2^7 buckets and 6 steps decode a
# 768x512 UN+UQ image's latents 0.7 ms faster, for 4x the index: +6 MB in the shipped
# models.)
_BUCKETS_LOG2 = 5
_BUCKET_COLUMNS = (1 << _BUCKETS_LOG2) + 1  # One more: the index of slot 2^precision.
_BUCKET_SEARCH_BITS = 8


def _slot_tables(cdf, starts, intervals, precision):
    """`[tables, 2^max precision]` int32: the bin of every slot of every table.

    The plain form's one lookup per symbol (the XLA form's is `_bucket_index`):
    `bins[t, s]` is the `b` with `c_b <= s < c_{b+1}` in table `t`, that is the number
    of its inner boundaries `c_1..c_{n-1}` at or below `s`: a scatter of ones and a
    cumulative sum (built per call; 64 tables of 12 bits take 1 MB).
    """
    size = tf.bitwise.left_shift(1, tf.reduce_max(tf.concat([precision, [0]], 0)))
    num_tables = tf.size(starts)
    check = tf.debugging.assert_less_equal(
        tf.cast(num_tables, tf.int64) * tf.cast(size, tf.int64), tf.constant(
            _MAX_SLOT_ENTRIES, tf.int64), message="tfnq: too many rANS tables to decode with")
    entry = tf.range(tf.size(cdf))
    table = tf.maximum(tf.searchsorted(starts, entry, side="right") - 1, 0)
    within = entry - tf.gather(starts, table)  # 0 at c_0
    inner = (within >= 1) & (within < tf.gather(intervals, table))
    where = tf.stack([tf.boolean_mask(table, inner), tf.boolean_mask(cdf, inner)], 1)
    with tf.control_dependencies([check]):
        marks = tf.scatter_nd(where, tf.ones(tf.shape(where)[:1], tf.int32),
                              tf.stack([num_tables, size]))
    return tf.cumsum(marks, axis=1)


def _bucket_width_log2(precision):
    """`w`: bucket `j` of a table holds its slots `[j 2^w, (j + 1) 2^w)`."""
    return tf.maximum(tf.reduce_max(tf.concat([precision, [0]], 0)) - _BUCKETS_LOG2, 0)


def _bucket_index(cdf):
    """The decode index of flat tables (`RansCoder.decode_index`).

    Entry `t * _BUCKET_COLUMNS + j` is the bin of slot `j 2^w` in table `t`: the number
    of the table's inner boundaries `c_1..c_{n-1}` at or below it (every boundary `c`
    counts from column `ceil(c / 2^w)` on: a histogram and a cumulative sum; `c_0 = 0`
    counts everywhere and is subtracted, `c_n` only past the table's last slot, where
    the bins are clipped to `n - 1`).
    """
    cdf, starts, intervals, precision = _table_layout(cdf)
    num_tables = tf.size(starts)
    w = _bucket_width_log2(precision)
    table = tf.cumsum(tf.cast(cdf < 0, tf.int32)) - 1
    column = tf.minimum(tf.bitwise.right_shift(cdf + tf.bitwise.left_shift(1, w) - 1, w),
                        _BUCKET_COLUMNS - 1)
    size = num_tables * _BUCKET_COLUMNS
    key = tf.where(cdf >= 0, table * _BUCKET_COLUMNS + column, size)
    marks = tf.math.bincount(key, minlength=size + 1, maxlength=size + 1)
    counts = tf.cumsum(tf.reshape(marks[:-1], [num_tables, _BUCKET_COLUMNS]), axis=1) - 1
    return tf.reshape(tf.minimum(counts, intervals[:, None] - 1), [-1])


def _search_bins(slot, table, cdf, starts, intervals, index, w, bits):
    """The bin of each slot in its table: the largest `b < n` with `c_b <= slot`
    (zero-width bins are passed over: the next boundary is the same), found bit by bit
    from the top, one gather a bit, from the bin of the first slot of the slot's
    bucket (`_bucket_index`). `bits` must cover the bucket's bins: `_BUCKET_SEARCH_BITS`
    where the index's widest bucket allows, else 16 over the whole table (`w = 16`:
    one bucket, whose first bin is that of slot 0)."""
    start = tf.gather(starts, table)
    n = tf.gather(intervals, table)
    b = tf.gather(index, table * _BUCKET_COLUMNS + tf.bitwise.right_shift(slot, w))
    for bit in reversed(range(bits)):
        candidate = b + (1 << bit)
        inside = candidate < n
        boundary = tf.gather(cdf, start + tf.where(inside, candidate, 0))
        b = tf.where(inside & (boundary <= slot), candidate, b)
    return b


def _sixteenth_bits(freq, precision):
    """About `-16 log2(freq / 2^precision)`, in integers (the same on any machine):
    log2 from the exponent of `freq` as a float32 (exact: `freq <= 2^16`) and the
    first four bits of its mantissa."""
    bits = tf.bitwise.right_shift(
        tf.bitcast(tf.cast(tf.maximum(freq, 1), tf.float32), tf.int32), 19)
    log16 = 16 * (tf.bitwise.right_shift(bits, 4) - 127) + tf.bitwise.bitwise_and(bits, 15)
    return tf.cast(16 * precision - log16, tf.int64)


def lanes_for(num_symbols, information_bytes, max_lanes, symbols_per_lane, bytes_per_lane):
    """The encoder's lane count: one per `bytes_per_lane` of (estimated) output, so
    that the lanes' final states stay a small share of a string, and at least one
    per `symbols_per_lane` symbols, so that the loop stays short; 1..`max_lanes`."""
    lanes = tf.maximum((num_symbols + symbols_per_lane - 1) // symbols_per_lane,
                       (information_bytes + bytes_per_lane - 1) // bytes_per_lane)
    return tf.clip_by_value(lanes, 1, max_lanes)


def _blocks(values, lanes, fill):
    """`[B, N]` -> `[B, T, K]`, padded: symbol `i` at step `i // K`, lane `i % K`
    (at least one step: XLA takes no loop over nothing)."""
    count = tf.shape(values)[1]
    steps = tf.maximum((count + lanes - 1) // lanes, 1)
    values = tf.pad(values, [[0, 0], [0, steps * lanes - count]], constant_values=fill)
    return tf.reshape(values, [tf.shape(values)[0], steps, lanes])


def _active(shape, count):
    """`[B, T, K]` bool: the positions that hold one of the `count` symbols."""
    steps, lanes = shape[1], shape[2]
    index = tf.range(steps)[:, None] * lanes + tf.range(lanes)[None, :]
    return tf.broadcast_to((index < count)[None], shape)


def _symbol_coding(symbols, rows, cdf, cdf_offset, starts, intervals, precision):
    """What the encoder needs of each symbol (`[B, N]`), from its table.

    Returns:
      `(low, freq, prec, escapes, overflow, information)`: the start and size of its
      interval (int32), its table's precision, its zigzagged escape value (int64) and
      whether it has one (outside its table's range: coded as the overflow bin); and
      the information content of the largest string in bytes (int32, from
      `_sixteenth_bits`), which sets the lane count.
    """
    n = tf.gather(intervals, rows)
    distance = tf.cast(symbols, tf.int64) - tf.cast(tf.gather(cdf_offset, rows), tf.int64)
    top = tf.cast(n - 1, tf.int64)
    overflow = (distance < 0) | (distance >= top)
    position = tf.gather(starts, rows) + tf.where(overflow, n - 1, tf.cast(distance, tf.int32))
    low = tf.gather(cdf, position)
    freq = tf.gather(cdf, position + 1) - low
    escapes = tf.where(distance < 0, 2 * (-distance - 1), 2 * (distance - top) + 1)
    prec = tf.gather(precision, rows)
    information = tf.reduce_max(tf.concat(
        [tf.reduce_sum(_sixteenth_bits(freq, prec), axis=1) // 128, [0]], 0))
    return low, freq, prec, escapes, overflow, tf.cast(information, tf.int32)


def _symbol_values(bins, rows, cdf_offset):
    """The decoded symbols `[B, N]` from their bins (escapes aside: `_escaped_values`),
    and whether all of a string's fit int32 (`[B]`)."""
    values = tf.cast(tf.gather(cdf_offset, rows), tf.int64) + tf.cast(bins, tf.int64)
    fits = (values >= tf.int32.min) & (values <= tf.int32.max)
    return tf.cast(tf.where(fits, values, 0), tf.int32), tf.reduce_all(fits, axis=1)


def _escaped_values(table, escapes, intervals, cdf_offset):
    """The int64 values of overflow bins in these tables from their escapes
    (zigzagged distances past the table's edge)."""
    top = tf.cast(tf.gather(intervals, table) - 1, tf.int64)
    half = tf.bitwise.right_shift(escapes, 1)
    distance = tf.where(tf.equal(tf.bitwise.bitwise_and(escapes, 1), 0), -half - 1, top + half)
    return tf.cast(tf.gather(cdf_offset, table), tf.int64) + distance


def _encode_steps(low, freq, prec, count, xla=False):
    """The rANS encoder, last step first.

    Args:
      low, freq, prec: `[B, T, K]` int32 interval start, size and precision of each
        symbol (`_symbol_coding`, `_blocks`).
      count: Number of symbols per string (the rest is padding).
      xla: Whether XLA compiles the loop: its quotient `x // f` is then a float64
        division (exact: `x < 2^32` and `f <= 2^16`, so the quotient's fraction is at
        least `2^-16` away from the next integer, far more than float64's rounding
        error; CPUs divide float64 vectors, not int64 ones); the plain form keeps
        int64's one op.

    Returns:
      `(header, words, emitted)`: the lane count and final states as bytes
      `[B, 1 + 4K]`; the 16-bit words `[B, TK]` (int32) in decoding order (steps first
      to last, lanes in order) and which of them were emitted.
    """
    shape = tf.shape(low)
    batch, steps, lanes = shape[0], shape[1], shape[2]
    active = _active(shape, count)
    low = tf.where(active, tf.cast(low, tf.int64), 0)
    freq = tf.where(active, tf.cast(freq, tf.int64), 1)
    prec = tf.cast(prec, tf.int64)

    def by_step(values):
        return tf.transpose(values, [1, 0, 2])

    low, freq, prec, on = by_step(low), by_step(freq), by_step(prec), by_step(active)
    words = tf.TensorArray(tf.int64, size=steps, element_shape=low.shape[1:])
    emitted = tf.TensorArray(tf.bool, size=steps, element_shape=low.shape[1:])

    def body(t, x, words, emitted):
        c, f, p, a = low[t], freq[t], prec[t], on[t]
        emit = a & (x >= tf.bitwise.left_shift(f, 32 - p))
        words = words.write(t, tf.bitwise.bitwise_and(x, 0xFFFF))
        emitted = emitted.write(t, emit)
        x = tf.where(emit, tf.bitwise.right_shift(x, _WORD_BITS), x)
        if xla:
            q = tf.cast(tf.math.floor(tf.cast(x, tf.float64) / tf.cast(f, tf.float64)),
                        tf.int64)
        else:
            q = x // f
        coded = tf.bitwise.left_shift(q, p) + (x - q * f) + c
        return t - 1, tf.where(a, coded, x), words, emitted

    x0 = tf.fill([batch, lanes], tf.constant(_LOW, tf.int64))
    _, x, words, emitted = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, x0, words, emitted))

    state_bytes = tf.bitwise.right_shift(x[:, :, None], tf.constant([24, 16, 8, 0], tf.int64))
    header = tf.concat([tf.fill([batch, 1], tf.cast(lanes, tf.int64)),
                        tf.reshape(state_bytes, [batch, 4 * lanes])], 1)
    words = tf.cast(tf.reshape(tf.transpose(words.stack(), [1, 0, 2]), [batch, -1]), tf.int32)
    emitted = tf.reshape(tf.transpose(emitted.stack(), [1, 0, 2]), [batch, -1])
    return tf.cast(tf.bitwise.bitwise_and(header, 255), tf.uint8), words, emitted


def _decode_steps(states, data, lengths, rows, count, cdf, starts, intervals, precision,
                  lookup, xla=False):
    """The rANS decoder, first step first.

    Args:
      states: `[B, K]` int64 initial states (the encoder's final ones).
      data: `[B, bytes]` int64 bytes of the strings from their first word on
        (zero-padded).
      lengths: `[B]` int32 lengths of these bytes.
      rows: `[B, T, K]` int32 table of each symbol (`_blocks`).
      count: Number of symbols per string (the rest is padding).
      cdf, starts, intervals, precision: the tables (`_table_layout`).
      lookup: How a symbol's bin is found from its slot: `[tables, 2^precision]`
        the bin of each slot (`_slot_tables`: one gather a step, after building the
        tables on every call; the plain form), or `(index, w, bits)`: a search of
        `bits` steps from the bin of the slot's bucket (`_search_bins`; the XLA form,
        with the stored `_bucket_index`). Both give the same bins.
      xla: Whether XLA compiles the loop: the word offsets of the lanes are then
        prefix sums by doubling (`_exclusive_sums`; XLA makes a cumulative sum a
        quadratic reduction), a cumulative sum op in the plain form.

    Returns:
      `(bins, overflow, states, words_read, overrun, overflows)`: bins `[B, T, K]`
      and which of them are overflow bins (escapes to read); the lanes' final states;
      words read, whether a string ran out of them, and the number of its overflow
      bins, per string.
    """
    shape = tf.shape(rows)
    batch, steps = shape[0], shape[1]
    on = tf.transpose(_active(shape, count), [1, 0, 2])
    table = tf.transpose(rows, [1, 0, 2])
    prec = tf.cast(tf.gather(precision, table), tf.int64)
    bins = tf.TensorArray(tf.int32, size=steps, element_shape=table.shape[1:])
    # The words (16 bits each, from the bytes' pairs); reads past the end see a zero,
    # and `overrun` says so.
    data = tf.pad(data, [[0, 0], [0, 2 + tf.shape(data)[1] % 2]])
    words = tf.bitwise.bitwise_or(tf.bitwise.left_shift(data[:, 0::2], 8), data[:, 1::2])
    last = tf.shape(words)[1] - 1
    available = lengths // 2
    slot_tables = not isinstance(lookup, tuple)
    if slot_tables:  # Bins by one gather from the slot tables, flattened.
        size = tf.shape(lookup, out_type=tf.int64)[1]
        slot_bins = tf.reshape(lookup, [-1])
    exclusive_sums = _exclusive_sums if xla else (
        lambda v: tf.cumsum(v, axis=1, exclusive=True))

    def body(t, x, read, overrun, bins):
        r, p, a = table[t], prec[t], on[t]
        slot = tf.bitwise.bitwise_and(x, tf.bitwise.left_shift(tf.ones_like(x), p) - 1)
        if slot_tables:
            b = tf.gather(slot_bins, tf.cast(r, tf.int64) * size + slot)
        else:
            b = _search_bins(tf.cast(slot, tf.int32), r, cdf, starts, intervals, *lookup)
        b = tf.where(a, b, 0)
        position = tf.gather(starts, r) + b
        c = tf.cast(tf.gather(cdf, position), tf.int64)
        f = tf.cast(tf.gather(cdf, position + 1), tf.int64) - c
        x = tf.where(a, f * tf.bitwise.right_shift(x, p) + slot - c, x)
        need = a & (x < _LOW)
        index = read[:, None] + exclusive_sums(tf.cast(need, tf.int32))
        overrun |= tf.reduce_any(need & (index >= available[:, None]), axis=1)
        word = tf.gather(words, tf.minimum(index, last), batch_dims=1)
        x = tf.where(need, tf.bitwise.bitwise_or(tf.bitwise.left_shift(x, _WORD_BITS), word), x)
        read += tf.reduce_sum(tf.cast(need, tf.int32), axis=1)
        return t + 1, x, read, overrun, bins.write(t, b)

    _, x, read, overrun, bins = tf.while_loop(
        lambda t, *_: t < steps, body,
        (0, states, tf.zeros([batch], tf.int32), tf.zeros([batch], tf.bool), bins))
    bins = tf.transpose(bins.stack(), [1, 0, 2])
    overflow = tf.equal(bins, tf.gather(intervals, rows) - 1) & _active(shape, count)
    return (bins, overflow, x, read, overrun,
            tf.reduce_sum(tf.cast(overflow, tf.int32), axis=[1, 2]))


def _exclusive_sums(values):
    """`tf.cumsum(values, axis=1, exclusive=True)` of a `[B, K]` tensor, K <= 255, by
    doubling (Hillis and Steele, "Data parallel algorithms", 1986): log2(K) shifted
    additions, which XLA fuses (it lowers a cumulative sum to a quadratic window
    reduction)."""
    total = values
    width = tf.shape(values)[1]
    shift = 1
    while shift < (values.shape[1] or _MAX_LANES):
        keep = tf.maximum(width - shift, 0)
        total += tf.pad(total[:, :keep], [[0, 0], [width - keep, 0]])
        shift *= 2
    return total - values


def _cut(data, lengths):
    """Strings of `lengths[i]` bytes each, cut in order from the uint8 vector `data`.

    `tf.io.serialize_tensor` writes a uint8 tensor as a `TensorProto` whose last
    field is the tensor's raw bytes (`tensor_content`), so the serialization ends
    with exactly `data`: one core op turns bytes into a string.
    """
    serialized = tf.io.serialize_tensor(data)
    head = tf.strings.length(serialized) - tf.size(data)
    return tf.strings.substr(serialized, head + tf.cumsum(lengths, exclusive=True), lengths)


def _read_varints(data, first, lengths):
    """Decodes the LEB128 varints in `data[b, first[b]:lengths[b]]` of every row.

    Returns:
      `(values, counts, clean)`: the values of all rows one after another, the
      number of each row, and whether each row's bytes are whole varints of at most
      five bytes.
    """
    column = tf.range(tf.shape(data)[1])[None, :]
    region = (column >= first[:, None]) & (column < lengths[:, None])
    ends = tf.reduce_sum(tf.cast(region & (data < 128), tf.int32), axis=1)
    # Each row's region must end with a terminal byte (varints never span rows).
    last_byte = tf.gather(data, tf.maximum(lengths - 1, 0), batch_dims=1)
    whole = (lengths <= first) | (last_byte < 128)
    values, sizes, _ = leb128.leb128_decode(tf.boolean_mask(data, region))
    short = tf.reduce_all(sizes <= leb128.MAX_BYTES)
    return values[:tf.reduce_sum(ends)], ends, whole & short


# The loops compiled with XLA (module level: not part of any SavedModel's objects).
_symbol_coding_xla = tf.function(_symbol_coding, jit_compile=True, autograph=False)
_symbol_values_xla = tf.function(_symbol_values, jit_compile=True, autograph=False)
_encode_steps_xla = tf.function(functools.partial(_encode_steps, xla=True),
                                jit_compile=True, autograph=False)
_decode_steps_xla = tf.function(functools.partial(_decode_steps, xla=True),
                                jit_compile=True, autograph=False)
_FORM = threading.local()


@contextlib.contextmanager
def compiled(enabled=True):
    """Within this context, `RansCoder`s built with `jit_compile=None` run in the XLA
    form if `enabled` (a Python bool, or a bool tensor: both loops are then traced
    and the value picks one at run time; an export's signatures share one function
    this way)."""
    before = getattr(_FORM, "xla", False)
    _FORM.xla = enabled if tf.is_tensor(enabled) else bool(enabled)
    try:
        yield
    finally:
        _FORM.xla = before


class RansCoder(Coder):
    """Interleaved rANS in core TF ops (see the module docstring for the format).

    The encoder picks the lane count of each string (the decoder reads it from the
    string, so any encoder's files decode in either form): one lane per
    `bytes_per_lane` of estimated output, so that the lanes' final states stay a
    small share of a string (4 bytes a lane: 0.2% at the default), and at least one
    per `symbols_per_lane` symbols, so that the loop stays short. The plain form pays
    for each step of its loop (some 35 ops), so it takes more lanes, and more bytes,
    than the XLA form, whose steps cost almost nothing:
    `symbols_per_lane=(plain, xla)`.

    Args:
      max_lanes: Most lanes a string is coded with (1..255).
      symbols_per_lane: `(plain, xla)`: at least one lane per this many symbols.
      bytes_per_lane: At least one lane per this many bytes of estimated output.
      jit_compile: Compile the coding loops with XLA (much faster; the runtime must
        allow XLA); None: as the enclosing `compiled()` context says (plain by
        default).
    """

    name_tag = "tf-rans"
    max_offset = None  # Any int32 symbol is coded (escapes up to 2^33 past a table).

    def __init__(self, max_lanes=64, symbols_per_lane=(2048, 8192), bytes_per_lane=2048,
                 jit_compile=None, name=None):
        super().__init__(name=name)
        if not 1 <= int(max_lanes) <= _MAX_LANES:
            raise ValueError(f"max_lanes must be in 1..{_MAX_LANES}, not {max_lanes}")
        if isinstance(symbols_per_lane, int):
            symbols_per_lane = (symbols_per_lane, symbols_per_lane)
        if len(symbols_per_lane) != 2 or min(symbols_per_lane) < 1:
            raise ValueError(f"symbols_per_lane must be two positive counts (plain, xla), "
                             f"not {symbols_per_lane}")
        if int(bytes_per_lane) < 1:
            raise ValueError(f"bytes_per_lane must be positive, not {bytes_per_lane}")
        self.max_lanes = int(max_lanes)
        self.symbols_per_lane = tuple(int(n) for n in symbols_per_lane)
        self.bytes_per_lane = int(bytes_per_lane)
        self.jit_compile = None if jit_compile is None else bool(jit_compile)

    @property
    def _xla(self):
        return getattr(_FORM, "xla", False) if self.jit_compile is None else self.jit_compile

    def _in_form(self, plain, xla, *args):
        form = self._xla
        if tf.is_tensor(form):
            return tf.cond(form, lambda: xla(*args), lambda: plain(*args))
        return xla(*args) if form else plain(*args)

    def lanes(self, num_symbols, information_bytes, xla):
        """The lane count of a string (`xla`: for the XLA form)."""
        return lanes_for(num_symbols, information_bytes, self.max_lanes,
                         self.symbols_per_lane[int(bool(xla))], self.bytes_per_lane)

    def overhead_bytes(self, num_symbols, information_bytes=0):
        """The lane count and the lanes' final states (their first 16 bits carry no
        information: every lane starts at `2^16`), in the plain form (more lanes)."""
        return 1 + 4 * int(self.lanes(num_symbols, int(information_bytes) + 1, xla=False))

    def get_config(self):
        return dict(max_lanes=self.max_lanes, symbols_per_lane=self.symbols_per_lane,
                    bytes_per_lane=self.bytes_per_lane,
                    jit_compile=self.jit_compile)

    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        symbols = tf.convert_to_tensor(symbols, tf.int32)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        cdf_offset = tf.convert_to_tensor(cdf_offset, tf.int32)
        cdf, starts, intervals, precision = _table_layout(cdf)
        rank = symbols.shape.rank
        batch_shape = tf.shape(symbols)[:rank - coding_rank]
        batch = tf.reduce_prod(batch_shape)
        count = tf.reduce_prod(tf.shape(symbols)[rank - coding_rank:])
        symbols = tf.reshape(symbols, [batch, count])
        rows = tf.reshape(indexes, [batch, count])

        def form(coding, loop, xla):  # The XLA form compiles the per-symbol work too.
            def run():
                low, freq, prec, escapes, overflow, information = coding(
                    symbols, rows, cdf, cdf_offset, starts, intervals, precision)
                lanes = self.lanes(count, information, xla)
                return (*loop(_blocks(low, lanes, 0), _blocks(freq, lanes, 1),
                              _blocks(prec, lanes, 16), count), escapes, overflow)
            return run

        header, words, emitted, escapes, overflow = self._in_form(
            form(_symbol_coding, _encode_steps, False),
            form(_symbol_coding_xla, _encode_steps_xla, True))
        # Escapes, in symbol order.
        escape_bytes, keep = leb128.leb128_encode(tf.boolean_mask(escapes, overflow))
        escape_rows = tf.repeat(tf.where(overflow)[:, 0],
                                tf.reduce_sum(tf.cast(keep, tf.int64), 1))
        escape_bytes = tf.boolean_mask(escape_bytes, keep)
        # Each string is its header, its emitted words and its escapes, in place in
        # one byte vector that all strings are cut from.
        head = tf.shape(header)[1]
        word_rows = tf.where(emitted)[:, 0]
        words = tf.boolean_mask(words, emitted)
        word_bytes = tf.reshape(tf.stack([tf.bitwise.right_shift(words, 8),
                                          tf.bitwise.bitwise_and(words, 255)], 1), [-1])
        num_words = tf.math.bincount(tf.cast(word_rows, tf.int32), minlength=batch,
                                     maxlength=batch)
        num_escape = tf.math.bincount(tf.cast(escape_rows, tf.int32), minlength=batch,
                                      maxlength=batch)
        lengths = head + 2 * num_words + num_escape
        begin = tf.cumsum(lengths, exclusive=True)

        def rank(rows, counts):  # Position of each element among those of its row.
            return (tf.range(tf.size(rows))
                    - tf.gather(tf.cumsum(counts, exclusive=True), rows))

        target = tf.concat([
            tf.reshape(begin[:, None] + tf.range(head)[None, :], [-1]),
            tf.reshape(tf.gather(begin + head, word_rows)[:, None]
                       + 2 * rank(word_rows, num_words)[:, None] + [[0, 1]], [-1]),
            tf.gather(begin + head + 2 * num_words, escape_rows) + rank(escape_rows, num_escape),
        ], 0)
        data = tf.concat([tf.reshape(header, [-1]), tf.cast(word_bytes, tf.uint8),
                          tf.cast(escape_bytes, tf.uint8)], 0)
        strings = _cut(tf.scatter_nd(target[:, None], data, tf.reduce_sum(lengths)[None]),
                       lengths)
        strings = tf.where(count > 0, strings, "")
        return tf.reshape(strings, batch_shape)

    def decode_index(self, cdf):
        """The XLA decoder's index of the tables' slots (`_bucket_index`): 33 int32
        entries a table, built with the tables and stored beside them (`decode`
        builds it on every call otherwise)."""
        return _bucket_index(cdf)

    def decode(self, strings, indexes, cdf, cdf_offset, decode_index=None):
        strings = tf.convert_to_tensor(strings, tf.string)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        cdf_offset = tf.convert_to_tensor(cdf_offset, tf.int32)
        cdf, starts, intervals, precision = _table_layout(cdf)
        shape = tf.shape(indexes)
        string_shape = tf.shape(strings)
        batch = tf.size(strings)
        count = tf.reduce_prod(shape[strings.shape.rank:])
        rows = tf.reshape(indexes, [batch, count])
        strings = tf.reshape(strings, [batch])

        lengths = tf.strings.length(strings)
        width = tf.reduce_max(tf.concat([lengths, [0]], 0)) + 1
        data = tf.io.decode_raw(tf.strings.join([strings, "\0"]), tf.uint8, fixed_length=width)
        data = tf.cast(tf.reshape(data, [batch, width]), tf.int64)

        lanes = tf.cast(data[:1, 0], tf.int32)
        lanes = tf.reduce_max(tf.concat([lanes, [1]], 0))
        lanes_ok = tf.equal(data[:, 0], tf.cast(lanes, tf.int64)) & (lanes <= tf.maximum(count, 1))
        lanes = tf.minimum(lanes, tf.maximum(count, 1))
        header = 1 + 4 * lanes
        shifts = tf.constant([24, 16, 8, 0], tf.int64)
        state_bytes = tf.reshape(
            tf.gather(data, tf.minimum(tf.range(1, header), width - 1), axis=1),
            [batch, lanes, 4])
        states = tf.reduce_sum(tf.bitwise.left_shift(state_bytes, shifts), axis=2)

        # (The first word's offset is not passed in: XLA compiles a slower loop then.)
        # The plain form looks bins up in slot tables (one op a step), the XLA form
        # searches from the decode index (stored with the tables, or built here): a few
        # fused gathers a step, where building slot tables on every call would cost
        # more than its whole loop (16 MB for the 960 tables of a UN+UQ model).
        def xla_form(*args):
            index = _bucket_index(cdf) if decode_index is None else tf.convert_to_tensor(
                decode_index, tf.int32)
            widest = tf.reduce_max(tf.concat([index[1:] - index[:-1], [0]], 0))
            return tf.cond(
                widest < (1 << _BUCKET_SEARCH_BITS),
                lambda: _decode_steps_xla(*args, (index, _bucket_width_log2(precision),
                                                  _BUCKET_SEARCH_BITS)),
                lambda: _decode_steps_xla(*args, (index, 16, 16)))

        bins, overflow, states, read, overrun, overflow_count = self._in_form(
            lambda *args: _decode_steps(*args, _slot_tables(cdf, starts, intervals, precision)),
            xla_form, states, data[:, header:], lengths - header, _blocks(rows, lanes, 0),
            count, cdf, starts, intervals, precision)
        bins = tf.reshape(bins, [batch, -1])[:, :count]
        escapes, num_escapes, escapes_clean = _read_varints(data, header + 2 * read, lengths)

        symbols, fits = self._in_form(_symbol_values, _symbol_values_xla,
                                      bins, rows, cdf_offset)

        def with_escapes():  # Each overflow bin's value from its string's k-th escape.
            positions = tf.where(tf.reshape(overflow, [batch, -1])[:, :count])
            string = positions[:, 0]
            k = tf.range(tf.shape(positions, out_type=tf.int64)[0]) - tf.gather(
                tf.cumsum(tf.cast(overflow_count, tf.int64), exclusive=True), string)
            have = k < tf.cast(tf.gather(num_escapes, string), tf.int64)
            source = tf.gather(tf.cumsum(tf.cast(num_escapes, tf.int64), exclusive=True),
                               string) + k
            positions = tf.boolean_mask(positions, have)
            values = _escaped_values(tf.gather_nd(rows, positions),
                                     tf.gather(escapes, tf.boolean_mask(source, have)),
                                     intervals, cdf_offset)
            inside = (values >= tf.int32.min) & (values <= tf.int32.max)
            all_inside = tf.math.unsorted_segment_min(
                tf.cast(inside, tf.int32), positions[:, 0], batch) > 0
            return (tf.tensor_scatter_nd_update(
                symbols, positions, tf.cast(tf.where(inside, values, 0), tf.int32)),
                fits & all_inside)

        # (Overflow bins are looked for only where a string has any.)
        symbols, fits = tf.cond(tf.reduce_any(overflow_count > 0), with_escapes,
                                lambda: (symbols, fits))
        ok = (lanes_ok & ~overrun & escapes_clean & tf.equal(num_escapes, overflow_count)
              & tf.reduce_all(tf.equal(states, _LOW), axis=1) & fits)
        ok = tf.where(count > 0, ok, tf.equal(lengths, 0))
        return tf.reshape(symbols, shape), tf.reshape(ok, string_shape)
