"""Helpers the tests import (fixtures stay in conftest.py)."""

import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from newsqa.index.builder import IndexWriter
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.sources import read_sources

FIXTURES = Path(__file__).parent / "fixtures"

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


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


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n",
        encoding="utf-8",
    )
    return path


def hashing_writer(root: Path) -> IndexWriter:
    return IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20))


def build_xss_index(root):
    """An index (hashing embedder: fast) whose articles carry markup and a javascript: link."""
    source = write_jsonl(
        root.parent / f"{root.name}.jsonl",
        [
            {
                "id": "xss-1",
                "title": f"{SCRIPT}市长视察{IMG}",
                "url": "javascript:alert(1)",
                "source": f"{IMG}日报",
                "published": "2024-08-02",
                "text": f"市长{SCRIPT}今天视察了新港口。{IMG}港口投资十二亿元。\n第二段{SCRIPT}还有更多内容。",
            },
            {
                "id": "safe-1",
                "title": "港口新闻",
                "url": "https://example.org/port",
                "source": "港口报",
                "published": "2024-08-03",
                "text": "新港口今天开工。港口投资十二亿元，预计明年完工。",
            },
        ],
    )
    hashing_writer(root).build(read_sources([source]))
    return root


def app_client(index_dir: Path, **settings: object) -> "TestClient":
    """The web app over `index_dir` in process (no admin token unless given)."""
    from fastapi.testclient import TestClient

    from newsqa.config import Settings
    from newsqa.web.app import create_app

    settings.setdefault("reload_token", None)
    return TestClient(create_app(Settings(index_dir=index_dir, **settings)))  # type: ignore[arg-type]
