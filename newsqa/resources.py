"""Files that ship inside the package."""

from importlib.resources import files
from pathlib import Path


def sample_dir() -> Path:
    """The bundled sample: one front page of a Chinese city daily, as plain text."""
    return Path(str(files("newsqa") / "sample"))
