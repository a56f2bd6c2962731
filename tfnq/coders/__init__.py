"""Entropy-coding backends behind one interface."""

from tfnq.coders.base import Coder
from tfnq.coders.range_coder import RangeCoder

__all__ = [
    "Coder",
    "RangeCoder",
]
