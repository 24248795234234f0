import importlib
import json
import os
from pathlib import Path

import pytest

from newsqa.index.builder import IndexWriter
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HashingEmbedder, USEEmbedder
from newsqa.index.sources import SourceDefaults, read_sources
from newsqa.resources import sample_dir

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_QA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"


def missing(reason: str) -> None:
    """Skip a test whose optional tool is absent; with NEWSQA_REQUIRE_ALL=1 (CI) fail instead."""
    if os.environ.get("NEWSQA_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (NEWSQA_REQUIRE_ALL=1: every optional test must run)")
    pytest.skip(reason)


def optional_import(module: str):
    """Import an optional test dependency, or skip (fail in CI) saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed: pip install -e '.[test,st]'")


@pytest.fixture(scope="session")
def sample_page() -> Path:
    (page,) = sorted(sample_dir().glob("*.txt"))
    return page


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((FIXTURES / "liuzhou_daily_2024-08_page1.expected.json").read_text(encoding="utf-8"))


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
        read_sources([sample_page], SourceDefaults(source="柳州日报", published="2024-08-02"))
    )
    return root


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n",
        encoding="utf-8",
    )
    return path


def hashing_writer(root: Path) -> IndexWriter:
    return IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20))
