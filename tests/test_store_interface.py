"""The store interface keeps the backends apart: only the milvus backend knows pymilvus, and
answering from a local index never loads it."""

import ast
import subprocess
import sys
from pathlib import Path

import newsqa
from newsqa.config import Settings
from newsqa.index.backend import LocalBackend, open_backend
from newsqa.index.sources import read_sources
from tests.helpers import hashing_writer, write_jsonl

PACKAGE = Path(newsqa.__file__).parent
MILVUS_MODULES = ("pymilvus", "milvus_lite")


def test_only_the_milvus_backend_imports_the_milvus_client():
    for path in PACKAGE.rglob("*.py"):
        if "milvus" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not [n for n in names if n.split(".")[0] in MILVUS_MODULES], path


def test_answering_from_a_local_index_does_not_load_the_milvus_client(tmp_path):
    root = tmp_path / "ix"
    records = [
        {"id": f"a{i}", "title": f"第{i}篇", "text": f"第{i}篇报道的正文，港口编号{i * 7919}。"}
        for i in range(3)
    ]
    hashing_writer(root).build(read_sources([write_jsonl(tmp_path / "a.jsonl", records)]))
    assert isinstance(open_backend(Settings(index_dir=root)), LocalBackend)
    code = (
        "import sys\n"
        "import newsqa.web.app\n"
        "from newsqa.qa.answerer import Answerer\n"
        f"assert Answerer.load({str(root)!r}).ask('第1篇报道').hits\n"
        "assert not {'pymilvus', 'milvus_lite'} & set(sys.modules), 'the Milvus client was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
