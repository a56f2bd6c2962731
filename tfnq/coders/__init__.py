"""Entropy-coding backends behind two interfaces: in-graph coders (one string per
section) and stack coders (one message for a file, outside the graph)."""

from tfnq.coders.ans import AnsCoder
from tfnq.coders.base import Coder
from tfnq.coders.range_coder import RangeCoder
from tfnq.coders.stack import Message, StackCoder, parse_tables

__all__ = [
    "CODERS",
    "AnsCoder",
    "Coder",
    "Message",
    "RangeCoder",
    "StackCoder",
    "get_coder",
    "parse_tables",
]

# The coders a `tfnq.CodingConfig` names (`coder`): in the graph, or on a stack.
CODERS = {"range": RangeCoder, "ans": AnsCoder}


def get_coder(name):
    """A new coder of this name (`CODERS`)."""
    if name not in CODERS:
        raise ValueError(f"Unknown coder {name!r}; choose one of {sorted(CODERS)}")
    return CODERS[name]()
