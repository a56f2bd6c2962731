"""The conformance suite every `tfnq.coders.Coder` passes.

A coder takes integer symbols with a table index per symbol and the tables in the
layout of `Coder`'s docstring (per table `[-precision, c_0, ..., c_n]`, the last
interval the overflow bin; `cdf_offset` the value of each table's first symbol). Any
int32 symbol must round trip, in range or not (escape), for any batch and coding
shape, empty ones included; the bits must be close to the information content; and a
damaged string must give an error flag or wrong symbols of the right shape, never a
crash or a hang.
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import coding_tables

from tfnq import coders

CODERS = {"range": coders.RangeCoder(), "rans": coders.RansCoder(),
          "rans-3-lanes": coders.RansCoder(max_lanes=3, symbols_per_lane=5),
          "rans-xla": coders.RansCoder(jit_compile=True)}


def _random_pmfs(rng, count, tail=1e-3):
    pmfs = []
    for _ in range(count):
        p = rng.dirichlet(np.full(int(rng.integers(1, 40)), rng.uniform(0.1, 3.0)))
        pmfs.append(p * (1 - tail))
    return pmfs


def _round_trip(coder, symbols, indexes, cdf, offset, coding_rank):
    strings = coder.encode(symbols, indexes, cdf, offset, coding_rank)
    decoded, ok = coder.decode(strings, indexes, cdf, offset)
    return strings, decoded.numpy(), ok.numpy()


def _information_bits(pmfs, offsets, symbols, indexes):
    bits = 0.0
    for s, i in zip(symbols.ravel(), indexes.ravel(), strict=True):
        bits -= np.log2(pmfs[i][s - offsets[i]])
    return bits


@pytest.mark.parametrize("coder", CODERS.values(), ids=CODERS.keys())
@pytest.mark.parametrize("shape,coding_rank", [((500,), 1), ((3, 40), 1), ((2, 6, 7), 2),
                                               ((2, 3, 4, 5), 3)])
def test_random_tables_round_trip_near_the_information_content(coder, shape, coding_rank):
    rng = np.random.default_rng(sum(shape) + coding_rank)
    pmfs = _random_pmfs(rng, 7)
    offsets = rng.integers(-20, 20, len(pmfs))
    cdf, offset = coding_tables(pmfs, offsets)
    indexes = rng.integers(0, len(pmfs), shape)
    symbols = np.empty(shape, np.int64)
    for pos in np.ndindex(*shape):
        p = pmfs[indexes[pos]]
        symbols[pos] = rng.choice(len(p), p=p / p.sum()) + offsets[indexes[pos]]
    strings, decoded, ok = _round_trip(coder, symbols.astype(np.int32), indexes.astype(np.int32),
                                       cdf, offset, coding_rank)
    assert strings.shape == shape[:len(shape) - coding_rank]
    np.testing.assert_array_equal(decoded, symbols)
    assert np.all(ok)
    bits = 8 * sum(len(s) for s in np.ravel(strings.numpy()).tolist())
    information = _information_bits(pmfs, offsets, symbols, indexes)
    # 12-bit tables and the coder's flush: within 2% and its overhead per string.
    per_string = np.prod(shape[len(shape) - coding_rank:])
    flush = 8 * coder.overhead_bytes(per_string, 1.05 * information / 8)
    assert bits <= 1.02 * information + flush * max(np.size(strings.numpy()), 1)


@pytest.mark.parametrize("coder", CODERS.values(), ids=CODERS.keys())
def test_edge_and_escaped_symbols(coder):
    pmfs = [[0.5, 0.3, 0.19], [0.999], [0.25] * 3]
    offsets = [-1, 0, 5]
    cdf, offset = coding_tables(pmfs, offsets)
    cases = [
        (0, -1), (0, 1), (1, 0), (2, 5), (2, 7),               # first and last symbols
        (0, 2), (0, -2), (1, 1), (1, -1), (2, 4), (2, 8),      # just outside: escape
        (0, 1000), (0, -1000), (1, 65536), (2, -(1 << 20)),    # far outside
        (0, (1 << 30) - 2), (2, -(1 << 30) + 6),               # the escape's limits
    ]
    indexes = np.array([c[0] for c in cases], np.int32)
    symbols = np.array([c[1] for c in cases], np.int32)
    _, decoded, ok = _round_trip(coder, symbols, indexes, cdf, offset, 1)
    np.testing.assert_array_equal(decoded, symbols)
    assert ok
    extremes = [(0, np.iinfo(np.int32).max), (2, np.iinfo(np.int32).min), (0, 1 << 30)]
    if coder.max_offset is None:  # Any int32 symbol is coded.
        indexes = np.array([c[0] for c in extremes], np.int32)
        symbols = np.array([c[1] for c in extremes], np.int32)
        _, decoded, ok = _round_trip(coder, symbols, indexes, cdf, offset, 1)
        np.testing.assert_array_equal(decoded, symbols)
        assert ok
        return
    # Beyond what the escape can code: an error, not a hang or a wrong file.
    for index, symbol in extremes:
        with pytest.raises(tf.errors.InvalidArgumentError, match="too far from its table"):
            coder.encode(np.array([symbol], np.int32), np.array([index], np.int32), cdf,
                         offset, 1)


@pytest.mark.parametrize("coder", CODERS.values(), ids=CODERS.keys())
@pytest.mark.parametrize("shape,coding_rank", [((0,), 1), ((3, 0), 1), ((0, 4), 1),
                                               ((2, 0, 3), 2)])
def test_empty_shapes(coder, shape, coding_rank):
    cdf, offset = coding_tables([[0.6, 0.4]], [0])
    symbols = np.zeros(shape, np.int32)
    strings, decoded, ok = _round_trip(coder, symbols, symbols, cdf, offset, coding_rank)
    assert strings.shape == shape[:len(shape) - coding_rank]
    assert decoded.shape == shape
    assert np.all(ok)


@pytest.mark.parametrize("coder", CODERS.values(), ids=CODERS.keys())
def test_damaged_strings_never_crash(coder):
    rng = np.random.default_rng(5)
    pmfs = _random_pmfs(rng, 4)
    cdf, offset = coding_tables(pmfs, [0, 0, 0, 0])
    indexes = rng.integers(0, 4, (300,)).astype(np.int32)
    symbols = np.array([rng.choice(len(pmfs[i]), p=pmfs[i] / pmfs[i].sum())
                        for i in indexes], np.int32)
    good = coder.encode(symbols, indexes, cdf, offset, 1).numpy()
    damaged = [b"", good[:1], good[:len(good) // 2], good[:-1], good + b"\x00" * 8,
               bytes(len(good)), bytes([255]) * len(good), rng.bytes(len(good)),
               rng.bytes(3 * len(good)),
               bytes([good[0] ^ 0x80]) + good[1:]]
    flagged = 0
    for data in damaged:
        decoded, ok = coder.decode(tf.constant(data), indexes, cdf, offset)
        assert decoded.shape == symbols.shape
        wrong = not np.array_equal(decoded.numpy(), symbols)
        flagged += int(not ok.numpy())
        assert wrong or data.startswith(good), "a damaged string decoded to the message"
    # Truncation is detected as such by every coder.
    assert flagged >= 1
