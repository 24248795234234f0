"""newsqa: extractive question answering over news."""

__version__ = "0.1.0"
