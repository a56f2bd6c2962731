"""The conformance suite every `tfnq.coders.StackCoder` passes.

Sections pushed in reverse pop in order with the tables they were pushed with; any
int32 symbol round trips (in range, or through the overflow bin and the escape); the
message costs close to the information content of what it holds; empty sections and
messages work; and damaged, truncated or foreign data gives a `ValueError`, a
message that is not empty at the end, or other symbols, never a crash or a hang.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfnq import coders

CODERS = [coders.AnsCoder()]
PRECISION = 12


def _tables(frequencies, offsets, precision=PRECISION):
    """Flat "tfc-flat" tables from integer frequencies (each table summing to 2^precision,
    its last entry the overflow bin's)."""
    cdf = []
    for f in frequencies:
        cdf += [-precision] + list(np.cumsum([0] + list(f)))
    return np.array(cdf, np.int32), np.array(offsets, np.int32)


def _random_frequencies(rng, count, precision=PRECISION):
    tables = []
    for _ in range(count):
        n = int(rng.integers(1, min(40, (1 << precision) - 2)))
        p = rng.dirichlet(np.full(n, rng.uniform(0.1, 3.0)))
        f = np.maximum(1, np.floor(p * ((1 << precision) - n - 1))).astype(np.int64)
        tables.append(list(f) + [(1 << precision) - int(f.sum())])  # + overflow bin
    return tables


def _sample(rng, frequencies, offsets, rows):
    symbols = np.empty(rows.shape, np.int64)
    for pos in np.ndindex(*rows.shape):
        f = np.asarray(frequencies[rows[pos]][:-1], np.float64)
        symbols[pos] = rng.choice(f.size, p=f / f.sum()) + offsets[rows[pos]]
    return symbols.astype(np.int32)


def _information_bits(frequencies, offsets, symbols, rows, precision=PRECISION):
    bits = 0.0
    for s, r in zip(symbols.ravel(), rows.ravel(), strict=True):
        bits += precision - np.log2(frequencies[r][s - offsets[r]])
    return bits


def _push_all(coder, tables, sections):
    message = coder.message()
    for symbols, rows in reversed(sections):
        message.push(symbols, rows, tables)
    return message.to_bytes()


def _pop_all(coder, tables, data, rows_list):
    message = coder.message(data)
    popped = [message.pop(rows, tables) for rows in rows_list]
    return popped, message.is_empty()


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name_tag)
@pytest.mark.parametrize("shapes", [[(500,)], [(3, 40), (7,)], [(2, 6, 7), (1,), (4, 4)]])
def test_sections_round_trip_near_the_information_content(coder, shapes):
    rng = np.random.default_rng(sum(sum(s) for s in shapes))
    frequencies = _random_frequencies(rng, 9)
    offsets = rng.integers(-20, 20, len(frequencies))
    tables = coder.prepare_tables(*_tables(frequencies, offsets))
    sections = []
    for shape in shapes:
        rows = rng.integers(0, len(frequencies), shape).astype(np.int32)
        sections.append((_sample(rng, frequencies, offsets, rows), rows))
    data = _push_all(coder, tables, sections)
    popped, empty = _pop_all(coder, tables, data, [rows for _, rows in sections])
    for (symbols, _), decoded in zip(sections, popped, strict=True):
        assert decoded.shape == symbols.shape and decoded.dtype == np.int32
        np.testing.assert_array_equal(decoded, symbols)
    assert empty
    information = sum(_information_bits(frequencies, offsets, s, r) for s, r in sections)
    # One message for all sections: within 1% and two 32-bit words of the content.
    assert 8 * len(data) <= 1.01 * information + 64


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name_tag)
def test_edge_and_escaped_symbols(coder):
    frequencies = [[2048, 1228, 778, 42], [4095, 1], [1024, 1024, 1024, 1024]]
    offsets = [-1, 0, 5]
    tables = coder.prepare_tables(*_tables(frequencies, offsets))
    int32 = np.iinfo(np.int32)
    cases = [
        (0, -1), (0, 1), (1, 0), (2, 5), (2, 7),                # first and last symbols
        (0, 2), (0, -2), (1, 1), (1, -1), (2, 4), (2, 8),       # just outside: escape
        (0, 1000), (0, -1000), (1, 65536), (2, -(1 << 20)),     # far outside
        (0, int32.max), (0, int32.min), (2, int32.max), (1, int32.min),  # int32's ends
    ]
    rows = np.array([c[0] for c in cases], np.int32)
    symbols = np.array([c[1] for c in cases], np.int32)
    data = _push_all(coder, tables, [(symbols, rows)])
    (decoded,), empty = _pop_all(coder, tables, data, [rows])
    np.testing.assert_array_equal(decoded, symbols)
    assert empty


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name_tag)
def test_empty_sections_and_messages(coder):
    tables = coder.prepare_tables(*_tables([[3000, 1000, 96]], [0]))
    nothing = np.zeros((0, 4), np.int32)
    data = _push_all(coder, tables, [(nothing, nothing)])
    (decoded,), empty = _pop_all(coder, tables, data, [nothing])
    assert decoded.shape == (0, 4) and empty
    one = np.ones(3, np.int32)
    data = _push_all(coder, tables, [(nothing, nothing), (one, 0 * one), (nothing, nothing)])
    popped, empty = _pop_all(coder, tables, data, [nothing, 0 * one, nothing])
    np.testing.assert_array_equal(popped[1], one)
    assert empty


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name_tag)
def test_bad_tables_and_rows_are_refused(coder):
    cdf, offsets = _tables([[3000, 1000, 96]], [0])
    for bad_cdf, bad_offsets in [(cdf[1:], offsets), (cdf, np.array([0, 1], np.int32)),
                                 (np.append(cdf[:-1], 5000), offsets),
                                 (np.array([-12, 0, 100, 50, 4096], np.int32), offsets)]:
        with pytest.raises(ValueError, match="malformed coding tables"):
            coder.prepare_tables(bad_cdf, bad_offsets)
    tables = coder.prepare_tables(cdf, offsets)
    with pytest.raises(ValueError, match="table rows outside"):
        coder.message().push(np.zeros(2, np.int32), np.array([0, 1], np.int32), tables)
    with pytest.raises(ValueError, match="symbols"):
        coder.message().push(np.zeros(2, np.int32), np.zeros(3, np.int32), tables)


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name_tag)
def test_damaged_messages_never_crash(coder):
    rng = np.random.default_rng(5)
    frequencies = _random_frequencies(rng, 4)
    tables = coder.prepare_tables(*_tables(frequencies, [0, 0, 0, 0]))
    rows = [rng.integers(0, 4, (300,)).astype(np.int32), rng.integers(0, 4, (20,)).astype(
        np.int32)]
    sections = [(_sample(rng, frequencies, [0] * 4, r), r) for r in rows]
    good = _push_all(coder, tables, sections)
    damaged = [good[:4], good[:len(good) // 2 // 4 * 4], good[4:], good[:-4],
               good + bytes(4) + b"\x01\0\0\0", bytes(len(good) - 4) + b"\x01\0\0\0",
               bytes([255]) * len(good), rng.bytes(len(good)), rng.bytes(3 * len(good)),
               bytes([good[0] ^ 0x80]) + good[1:], good[:-1], b"\x00" * 8]
    noticed = 0
    for data in damaged:
        try:
            popped, empty = _pop_all(coder, tables, data, rows)
        except ValueError:
            noticed += 1
            continue
        same = all(np.array_equal(p, s) for p, (s, _) in zip(popped, sections, strict=True))
        assert not (same and empty), "a damaged message decoded to the original"
        noticed += int(not empty)
    assert noticed >= len(damaged) // 2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_sections=st.integers(1, 4),
       precision=st.integers(4, 16), far=st.booleans())
def test_round_trip_property(seed, num_sections, precision, far):
    """Any tables of any precision, any symbols (some far outside) in any sections."""
    rng = np.random.default_rng(seed)
    frequencies = _random_frequencies(rng, int(rng.integers(1, 6)), precision)
    offsets = rng.integers(-1000, 1000, len(frequencies))
    coder = CODERS[0]
    tables = coder.prepare_tables(*_tables(frequencies, offsets, precision))
    sections = []
    for _ in range(num_sections):
        rows = rng.integers(0, len(frequencies), int(rng.integers(0, 50))).astype(np.int32)
        symbols = _sample(rng, frequencies, offsets, rows)
        if far and symbols.size:
            symbols[rng.integers(0, symbols.size)] = rng.integers(-2**31, 2**31)
        sections.append((symbols, rows))
    data = _push_all(coder, tables, sections)
    popped, empty = _pop_all(coder, tables, data, [r for _, r in sections])
    for (symbols, _), decoded in zip(sections, popped, strict=True):
        np.testing.assert_array_equal(decoded, symbols)
    assert empty
