"""A short soak: 8 clients against a real server while the index is added to and rebuilt under it.

The 10-minute version with figures is `python -m bench.soak`.
"""

import pytest

from newsqa.index.embedders import HASHING_MODEL
from newsqa.index.sources import read_sources
from newsqa.index.types import Article
from testbed.soak import soak
from tests.helpers import FIXTURES, hashing_writer, write_jsonl


@pytest.mark.slow
def test_no_request_fails_while_the_index_is_rewritten(tmp_path, sample_page, expected):
    articles = [
        a.to_dict()
        for a in read_sources([sample_page, *sorted(FIXTURES.glob("*.txt"))])
        if isinstance(a, Article)
    ]
    half = len(articles) // 2
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([write_jsonl(tmp_path / "base.jsonl", articles[:half])]))
    more = write_jsonl(tmp_path / "more.jsonl", articles[half:])
    everything = write_jsonl(tmp_path / "all.jsonl", articles)
    questions = [q["question"] for q in expected["questions"]]
    result = soak(
        root,
        [["add", str(more)], ["build", str(everything)]],
        questions,
        tmp_path,
        clients=8,
        seconds=20,
        warmup=3,
        gap=2,
        env={"NEWSQA_MODEL": HASHING_MODEL},
    )
    assert result.errors == 0, result.error_samples
    assert result.requests > 50
    assert [w.returncode for w in result.writes] == [0, 0]
    assert all(w.switched is not None for w in result.writes), (
        f"the server did not switch to every new generation: {result.figures()['writes']}"
    )
    assert result.swap_requests > 0
