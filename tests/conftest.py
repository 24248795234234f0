"""Fixtures shared by the tests: the bundled sample page, its answer key, a real index of it."""

import json
import os
from pathlib import Path

import pytest

from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import USEEmbedder
from newsqa.index.sources import SourceDefaults, read_sources
from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir
from testbed import SAMPLE_EXPECTED, SHARED_QA


@pytest.fixture(scope="session")
def sample_page() -> Path:
    (page,) = sorted(sample_dir().glob("*.txt"))
    return page


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads(SAMPLE_EXPECTED.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shared_qa() -> Path:
    if not SHARED_QA.is_dir():
        pytest.skip("../shared/data/qa is not here")
    return SHARED_QA


@pytest.fixture(scope="session")
def use_embedder() -> USEEmbedder:
    embedder = USEEmbedder(threads=os.cpu_count())
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, sample_page, use_embedder) -> Path:
    """A real index of the bundled sample page, built once with the default embedder."""
    root = tmp_path_factory.mktemp("sample-index")
    IndexWriter(root, use_embedder).build(
        read_sources([sample_page], SourceDefaults(source=SAMPLE_SOURCE, published=SAMPLE_PUBLISHED))
    )
    return root


@pytest.fixture
def website():
    """The fixture news site (testbed/site) on a free port of 127.0.0.1; tests put feeds and pages on it."""
    from testbed.website import serving

    with serving() as site:
        yield site


@pytest.fixture
def web():
    """A fetcher with short timeouts and no pause between requests (the site is local)."""
    from newsqa.index.fetch import Fetcher, FetchPolicy

    with Fetcher(FetchPolicy(timeout=1.0, retries=1, backoff=0.01, host_interval=0.0)) as fetcher:
        yield fetcher
