"""`tfnq.coders.RansCoder`: its format, its two execution forms, its checks.

The conformance suite of every coder is `tests/test_coders.py`; this file holds what
is particular to rANS in core TF ops.
"""

import hashlib

import numpy as np
import pytest
import tensorflow as tf
from conftest import coding_tables
from hypothesis import given, settings
from hypothesis import strategies as st

from tfnq import coders
from tfnq.coders import rans


def _message(seed, count, batch=1, escapes=True):
    rng = np.random.default_rng(seed)
    pmfs = [rng.dirichlet(np.full(int(rng.integers(1, 30)), 0.7)) * 0.99 for _ in range(5)]
    offsets = rng.integers(-10, 10, len(pmfs))
    cdf, offset = coding_tables(pmfs, offsets)
    indexes = rng.integers(0, len(pmfs), (batch, count)).astype(np.int32)
    symbols = np.array([[rng.choice(len(pmfs[i]), p=pmfs[i] / pmfs[i].sum()) + offsets[i]
                         for i in row] for row in indexes], np.int32)
    if escapes:
        far = rng.random(symbols.shape) < 0.02
        symbols[far] += rng.integers(-5000, 5000, int(far.sum())).astype(np.int32)
    return symbols, indexes, cdf, offset


def test_each_form_reads_what_either_writes():
    symbols, indexes, cdf, offset = _message(1, 9000, batch=3)
    plain, xla = coders.RansCoder(), coders.RansCoder(jit_compile=True)
    for encoder, lanes in [(plain, 5), (xla, 2)]:  # 9,000 symbols at 2,048 / 8,192 a lane
        strings = encoder.encode(symbols, indexes, cdf, offset, 1).numpy()
        assert [s[0] for s in strings] == [lanes] * 3
        for decoder in (plain, xla):
            decoded, ok = decoder.decode(strings, indexes, cdf, offset)
            np.testing.assert_array_equal(decoded.numpy(), symbols)
            assert np.all(ok.numpy())


def test_a_form_flag_tensor_picks_the_form_at_run_time():
    symbols, indexes, cdf, offset = _message(9, 9000)
    coder = coders.RansCoder()

    @tf.function(input_signature=[tf.TensorSpec([], tf.bool)])
    def encode(xla):
        with rans.compiled(xla):
            return coder.encode(symbols, indexes, cdf, offset, 1)

    for xla in (False, True):
        expected = coders.RansCoder(jit_compile=xla).encode(symbols, indexes, cdf, offset, 1)
        np.testing.assert_array_equal(encode(tf.constant(xla)).numpy(), expected.numpy())


def test_the_format_is_stable():
    """A golden digest: a change of the format must be a deliberate one."""
    symbols, indexes, cdf, offset = _message(2, 5000)
    string = coders.RansCoder().encode(symbols[0], indexes[0], cdf, offset, 1).numpy()
    assert string[0] == 3  # lanes: 5,000 symbols at 2,048 a lane (plain form)
    assert len(string) == 2020
    assert hashlib.sha256(string).hexdigest()[:16] == "cbfa23bdb536a8fd"


def test_the_lane_count_comes_from_the_string():
    """The decoder reads the lane count, so encoders with other lane settings are read."""
    symbols, indexes, cdf, offset = _message(3, 2000)
    decoder = coders.RansCoder()
    for lanes, per_lane in [(1, 1), (7, 10), (255, 1)]:
        string = coders.RansCoder(max_lanes=lanes, symbols_per_lane=per_lane,
                                  bytes_per_lane=1 << 30).encode(
            symbols, indexes, cdf, offset, 1)
        assert string.numpy()[0][0] == lanes
        decoded, ok = decoder.decode(string, indexes, cdf, offset)
        np.testing.assert_array_equal(decoded.numpy(), symbols)
        assert ok.numpy().all()


def test_lanes_beyond_the_symbols_are_refused():
    symbols, indexes, cdf, offset = _message(4, 10, escapes=False)
    string = coders.RansCoder().encode(symbols, indexes, cdf, offset, 1).numpy()[0]
    for forged in [bytes([11]) + string[1:] + bytes(40), bytes([0]) + string[1:]]:
        decoded, ok = coders.RansCoder().decode(tf.constant([forged]), indexes, cdf, offset)
        assert decoded.shape == symbols.shape
        assert not ok.numpy().any()


def test_every_single_byte_change_is_flagged_or_decodes_wrong():
    symbols, indexes, cdf, offset = _message(5, 400)
    coder = coders.RansCoder(max_lanes=2, symbols_per_lane=200)
    good = coder.encode(symbols[0], indexes[0], cdf, offset, 1).numpy()
    decode = tf.function(lambda s: coder.decode(s, indexes[0], cdf, offset),
                         input_signature=[tf.TensorSpec([], tf.string)])
    flagged = 0
    for i in range(len(good)):
        damaged = good[:i] + bytes([good[i] ^ 0x5A]) + good[i + 1:]
        decoded, ok = decode(tf.constant(damaged))
        assert not (ok.numpy() and np.array_equal(decoded.numpy(), symbols[0]))
        flagged += int(not ok.numpy())
    # The final-state check catches most changes; a changed escape byte (no
    # redundancy there) decodes to another value.
    assert flagged >= 0.8 * len(good)


def test_tables_above_16_bits_are_refused():
    cdf, offset = tf.constant([-17, 0, 1 << 16, 1 << 17]), tf.constant([0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 16-bit"):
        coders.RansCoder().encode(np.zeros([4], np.int32), np.zeros([4], np.int32), cdf,
                                  offset, 1)


def test_16_bit_tables_round_trip():
    symbols, indexes, _, _ = _message(6, 1000, escapes=False)
    rng = np.random.default_rng(6)
    pmfs = [rng.dirichlet(np.full(30, 0.7)) * 0.99 for _ in range(5)]
    cdf, offset = coding_tables(pmfs, [0] * 5, precision=16)
    symbols = np.clip(symbols - symbols.min(), 0, 29).astype(np.int32)
    coder = coders.RansCoder()
    strings = coder.encode(symbols, indexes, cdf, offset, 1)
    decoded, ok = coder.decode(strings, indexes, cdf, offset)
    np.testing.assert_array_equal(decoded.numpy(), symbols)
    assert ok.numpy().all()


def test_both_lookups_find_the_same_bin_for_every_slot():
    # The plain form looks bins up in slot tables, the XLA form searches the CDF from
    # the decode index (a few steps in a bucket, or 16 over the whole table): every
    # slot of every table, for tables of 1 to 3,000 (12 bits) or 40,000 bins (16 bits)
    # and hand-made tables with zero-width bins (a slot on a repeated boundary belongs
    # to the bin after the repeats), one with a bucket too wide for the short search.
    rng = np.random.default_rng(11)
    for precision, largest in ((12, 3000), (16, 40000)):
        pmfs = [rng.dirichlet(np.full(n, 0.3)) * 0.999 for n in (1, 2, 7, 300, largest)]
        cdf, _ = coding_tables(pmfs, [0] * len(pmfs), precision=precision)
        searches = _assert_same_bins(cdf)
        assert precision == 16 or searches == 2  # 12 bits: the short search applies.
    _assert_same_bins(tf.constant([-4, 0, 3, 3, 10, 10, 10, 16, -2, 0, 4], tf.int32))
    wide = [-12, 0] + [5] * 300 + [4096]  # 300 zero-width bins in one bucket.
    assert _assert_same_bins(tf.constant(wide + [-12, 0, 4096], tf.int32)) == 1


def test_the_decode_index_holds_the_bin_of_each_buckets_first_slot():
    cdf, _ = coding_tables([[0.5, 0.25, 0.125], [0.001] * 500], [0, 0], precision=12)
    index = coders.RansCoder().decode_index(cdf).numpy().reshape(2, -1)
    assert index.shape == (2, 33)  # 2^5 buckets of 128 slots, and slot 4096.
    flat, starts, intervals, _ = (v.numpy() for v in rans._table_layout(cdf))
    for t in range(2):
        boundaries = flat[starts[t] + 1:starts[t] + intervals[t]]  # c_1 .. c_{n-1}
        expected = [min(np.searchsorted(boundaries, 128 * j, side="right"), intervals[t] - 1)
                    for j in range(33)]
        np.testing.assert_array_equal(index[t], expected)
    assert coders.RangeCoder().decode_index(cdf) is None


def _assert_same_bins(flat_cdf):
    cdf, starts, intervals, precision = rans._table_layout(flat_cdf)
    slots = rans._slot_tables(cdf, starts, intervals, precision).numpy()
    index = rans._bucket_index(cdf)
    widest = int(tf.reduce_max(index[1:] - index[:-1]))
    searches = [(16, 16)]  # The whole table.
    if widest < 1 << rans._BUCKET_SEARCH_BITS:
        searches.append((rans._bucket_width_log2(precision), rans._BUCKET_SEARCH_BITS))
    for w, bits in searches:
        for t, p in enumerate(precision.numpy()):
            slot = tf.range(1 << int(p), dtype=tf.int32)
            table = tf.fill(tf.shape(slot), t)
            found = rans._search_bins(slot, table, cdf, starts, intervals, index, w,
                                      bits).numpy()
            np.testing.assert_array_equal(found, slots[t, :1 << p])
            c = cdf.numpy()[starts.numpy()[t] + found]
            assert np.all(c <= slot.numpy()) and np.all(found < intervals.numpy()[t])
    return len(searches)  # 1: the index's widest bucket needs the whole search.


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_any_symbols_round_trip(data):
    num_tables = data.draw(st.integers(1, 4))
    pmfs = [np.array(data.draw(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=12)))
            for _ in range(num_tables)]
    pmfs = [p / p.sum() * data.draw(st.floats(0.5, 1.0)) for p in pmfs]
    offsets = data.draw(st.lists(st.integers(-100, 100), min_size=num_tables,
                                 max_size=num_tables))
    cdf, offset = coding_tables(pmfs, offsets)
    count = data.draw(st.integers(0, 120))
    symbols = np.array(data.draw(st.lists(st.integers(-2**31, 2**31 - 1) | st.integers(-3, 15),
                                          min_size=count, max_size=count)), np.int32)
    indexes = np.array(data.draw(st.lists(st.integers(0, num_tables - 1), min_size=count,
                                          max_size=count)), np.int32)
    lanes = data.draw(st.integers(1, 255))
    coder = coders.RansCoder(max_lanes=lanes, symbols_per_lane=data.draw(st.integers(1, 50)),
                             bytes_per_lane=data.draw(st.integers(1, 100)))
    string = coder.encode(symbols, indexes, cdf, offset, 1)
    for form in (False, True):  # Each form decodes (XLA: its own bin lookup).
        with rans.compiled(form):
            decoded, ok = coder.decode(string, indexes, cdf, offset)
        np.testing.assert_array_equal(decoded.numpy(), symbols)
        assert ok.numpy()
    assert len(string.numpy()) <= (1 + 4 * lanes + 2 * (count + 1) + 5 * count)


def test_lanes_for():
    assert int(rans.lanes_for(0, 0, 32, 8192, 1024)) == 1
    assert int(rans.lanes_for(8192, 1024, 32, 8192, 1024)) == 1
    assert int(rans.lanes_for(8193, 0, 32, 8192, 1024)) == 2
    assert int(rans.lanes_for(100, 5000, 32, 8192, 1024)) == 5
    assert int(rans.lanes_for(10**7, 0, 32, 8192, 1024)) == 32


def test_the_lane_count_follows_the_output_size():
    """Lanes cost four bytes each: a string gets about one per 2 KB it takes, or one
    per 2,048 symbols (plain form) if that is more."""
    for seed, count in [(7, 300), (8, 20000), (10, 60000)]:
        symbols, indexes, cdf, offset = _message(seed, count, escapes=False)
        string = coders.RansCoder().encode(symbols[0], indexes[0], cdf, offset, 1).numpy()
        by_size = -(-len(string) // 2048)
        assert string[0] in {max(by_size + d, -(-count // 2048)) for d in (-1, 0, 1)}


def test_bit_estimate():
    freq = tf.constant([1, 2, 3, 1000, 4095, 4096])
    estimate = rans._sixteenth_bits(freq, tf.fill([6], 12)).numpy() / 16
    exact = -np.log2(freq.numpy() / 4096)
    np.testing.assert_allclose(estimate, exact, atol=0.1)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_lanes"):
        coders.RansCoder(max_lanes=256)
    with pytest.raises(ValueError, match="symbols_per_lane"):
        coders.RansCoder(symbols_per_lane=0)
    with pytest.raises(ValueError, match="bytes_per_lane"):
        coders.RansCoder(bytes_per_lane=0)
