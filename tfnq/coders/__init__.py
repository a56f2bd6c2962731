"""Entropy-coding backends behind two interfaces: in-graph coders (one string per
section) and stack coders (one message for a file, outside the graph)."""

from tfnq.coders.ans import AnsCoder
from tfnq.coders.base import Coder
from tfnq.coders.range_coder import RangeCoder
from tfnq.coders.rans import RansCoder
from tfnq.coders.stack import Message, StackCoder, parse_tables

__all__ = [
    "CODERS",
    "AnsCoder",
    "Coder",
    "Message",
    "RangeCoder",
    "RansCoder",
    "StackCoder",
    "get_coder",
    "is_stack_coder",
    "parse_tables",
]

# The coders a `tfnq.CodingConfig` names (`coder`): in the graph (tfc's custom range
# coder, or rANS in core TF ops), or on a stack.
CODERS = {"range": RangeCoder, "rans": RansCoder, "ans": AnsCoder}


def _coder_class(name):
    if name not in CODERS:
        raise ValueError(f"Unknown coder {name!r}; choose one of {sorted(CODERS)}")
    return CODERS[name]


def get_coder(name):
    """A new coder of this name (`CODERS`)."""
    return _coder_class(name)()


def is_stack_coder(name):
    """Whether the coder of this name runs outside the graph (`StackCoder`)."""
    return issubclass(_coder_class(name), StackCoder)
