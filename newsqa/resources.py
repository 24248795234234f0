"""Files that ship inside the package."""

from importlib.resources import files
from pathlib import Path


def sample_dir() -> Path:
    """The bundled sample: one front page of a Chinese city daily, as plain text."""
    return Path(str(files("newsqa") / "sample"))


# The bundled sample page carries no masthead data: these are what `newsqa demo`
# (and the tests and benches that index the sample) give it.
SAMPLE_SOURCE = "柳州日报"
SAMPLE_PUBLISHED = "2024-08-02"
