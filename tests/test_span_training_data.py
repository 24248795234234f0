"""The span reader's training data (tools/span_data.py), which needs no torch: a break here
stops `python -m tools.train_reader` before it trains anything."""

import json
import random
from pathlib import Path

import pytest

from newsqa.index.text import terms
from newsqa.qa.readers.span.features import Featurizer
from newsqa.qa.readers.span.tokens import PieceTokenizer
from newsqa.qa.readers.span.vectors import PieceVectors
from tools.span_data import bm25_over, build_examples, load_corpus, read_corpus

PORT = "今年上半年，港口货物吞吐量达到1.2亿吨，同比增长5%。新码头将于2025年投入使用。"
MARKET = "夜市开放时间为每晚六点至十二点，共有摊位三百个。"


def _squad(path: Path) -> Path:
    data = {
        "data": [
            {
                "title": "港口",
                "paragraphs": [
                    {
                        "context": PORT,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "上半年港口货物吞吐量是多少？",
                                # answer_start is off by two, as in real files: the nearest match is taken
                                "answers": [{"text": "1.2亿吨", "answer_start": PORT.index("1.2亿吨") + 2}],
                            }
                        ],
                    },
                    {
                        "context": "  码头由市港务集团建设。",
                        "qas": [
                            {
                                "id": "q3",
                                "question": "码头由谁建设？",
                                "answers": [{"text": "市港务集团", "answer_start": 5}],
                            }
                        ],
                    },
                ],
            },
            {
                "title": "夜市",
                "paragraphs": [
                    {
                        "context": MARKET,
                        "qas": [
                            {
                                "id": "q2",
                                "question": "夜市有多少摊位？",
                                "answers": [{"text": "三百个", "answer_start": MARKET.index("三百个")}],
                            }
                        ],
                    }
                ],
            },
        ]
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_gold_answers_are_offsets_into_the_article(tmp_path: Path) -> None:
    corpus = load_corpus([_squad(tmp_path / "tiny.json")])
    assert [a.title for a in corpus.articles] == ["港口", "夜市"]
    for q in corpus.questions:
        text = corpus.articles[q.article].text
        assert [text[s:e] for s, e in q.spans] == q.answers
    assert {q.qid for q in corpus.questions} == {"q1", "q2", "q3"}


def test_the_bm25_over_the_passages_finds_the_right_one(tmp_path: Path) -> None:
    corpus = load_corpus([_squad(tmp_path / "tiny.json")])
    rows, scores = bm25_over(corpus).search(terms("夜市摊位"), 3)
    assert corpus.passages[int(rows[0])][0] == 1 and scores[0] > 0


def test_each_question_gets_a_gold_example_and_negatives(tmp_path: Path) -> None:
    corpus = load_corpus([_squad(tmp_path / "tiny.json")])
    bm25 = bm25_over(corpus)
    read = read_corpus(corpus, Featurizer(PieceTokenizer.load(), bm25.term_weights, PieceVectors.load()))
    examples = build_examples(read, list(range(len(corpus.questions))), bm25, random.Random(0))
    gold = [e for e in examples if e.kind == "gold"]
    assert {e.question for e in gold} == set(range(len(corpus.questions)))
    for e in gold:
        atoms = read.passages[e.passage].atoms
        (first, last), *_ = e.spans
        passage = corpus.passage_text(e.passage)
        # snapped out to whole words: rjieba may glue a neighbour on (由市 + 港务集团)
        snapped = passage[atoms.starts[first] : atoms.ends[last]]
        assert any(a in snapped and len(snapped) <= len(a) + 2 for a in corpus.questions[e.question].answers)
    negatives = [e for e in examples if e.kind != "gold"]
    assert negatives and all(e.spans == [] for e in negatives)
    for e in negatives:
        assert not any(a in corpus.passage_text(e.passage) for a in corpus.questions[e.question].answers)


@pytest.mark.parametrize("broken", ['{"data": 3}', "not json"])
def test_a_broken_training_file_fails_naming_it(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(Exception, match="broken.json"):
        load_corpus([path])
