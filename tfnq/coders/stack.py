"""Stack coders: one message that several sections push symbols onto and pop them off.

A `tfnq.coders.Coder` codes each section into its own string inside the graph. A
stack coder (asymmetric numeral systems, ANS) keeps one message for a whole file,
last in first out: the encoder pushes the sections in reverse order and the decoder
pops them in order, each with the tables the sections before it determine. Decoding
from a stack is also sampling from it, which is what bits-back coding needs (Townsend,
Bird & Barber, "Practical Lossless Compression with Latent Variables using Bits Back
Coding", ICLR 2019; the lossy bits-back coding of Yang, Marino & Mandt, ICML 2021).

Stack coders run outside the graph, in Python (`constriction` is a Python package),
so a model exported with one has symbol-level signatures, and `tfnq.load` drives the
coder between them (`tfnq.client`). Tables use the layout of
`tfnq.entropy_models.CodingTables` ("tfc-flat"); symbols outside a table go through
its overflow bin and an escape code, as with the range coder.
"""

import abc

import numpy as np

__all__ = ["Message", "StackCoder", "parse_tables"]


def parse_tables(cdf, cdf_offset):
    """Splits flat "tfc-flat" tables into per-table integer frequencies.

    Args:
      cdf: int32 vector, `[-precision, c_0, ..., c_n]` for each table in turn.
      cdf_offset: int32 vector, the first symbol of each table.

    Returns:
      `(frequencies, offsets, precision)`: a list of int64 arrays (one per table, its
      last entry the overflow bin's), the offsets as int64, and the precision.

    Raises:
      ValueError: If the tables are malformed.
    """
    cdf = np.asarray(cdf, np.int64).ravel()
    offsets = np.asarray(cdf_offset, np.int64).ravel()
    if cdf.size == 0 or cdf[0] >= 0:
        raise ValueError("malformed coding tables: no precision header")
    precision = int(-cdf[0])
    starts = np.flatnonzero(cdf < 0)
    if starts.size != offsets.size or np.any(cdf[starts] != -precision):
        raise ValueError(f"malformed coding tables: {starts.size} tables, "
                         f"{offsets.size} offsets")
    ends = np.append(starts[1:], cdf.size)
    frequencies = []
    for start, end in zip(starts, ends, strict=True):
        table = cdf[start + 1:end]
        counts = np.diff(table)
        if (table.size < 2 or table[0] != 0 or table[-1] != 1 << precision
                or np.any(counts < 0)):
            raise ValueError("malformed coding tables: a table is not a CDF")
        frequencies.append(counts)
    return frequencies, offsets, precision


class Message(abc.ABC):
    """The state of one stack-coded file: push sections, pop them in reverse."""

    @abc.abstractmethod
    def push(self, symbols, rows, tables):
        """Pushes int32 `symbols`, each with the table of its `rows` entry (of `tables`,
        what `prepare_tables` returned)."""

    @abc.abstractmethod
    def pop(self, rows, tables):
        """Pops symbols of the shape of `rows` (the tables they were pushed with).

        Raises:
          ValueError: If the message does not hold such symbols (damaged data).
        """

    @abc.abstractmethod
    def is_empty(self):
        """Whether every pushed bit has been popped again."""

    @abc.abstractmethod
    def to_bytes(self):
        """The message as bytes (what the file holds)."""


class StackCoder(abc.ABC):
    """A coder of `Message`s (see the module docstring)."""

    name_tag = None  # Stored in model metadata.
    table_layout = "tfc-flat"

    @abc.abstractmethod
    def prepare_tables(self, cdf, cdf_offset):
        """The coder's form of "tfc-flat" tables (built once per model, then reused).

        Raises:
          ValueError: If the tables are malformed.
        """

    @abc.abstractmethod
    def message(self, data=b""):
        """A new message (`data=b""`), or the message that `data` holds.

        Raises:
          ValueError: If `data` cannot be a message of this coder.
        """
