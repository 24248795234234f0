"""Answering over a real index of the sample page: exact facts, citations, abstention, the API and CLI."""

import json
import re

import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.config import Settings
from newsqa.errors import EmptyQuestion, IndexMismatch, QuestionTooLong
from newsqa.index.sources import read_sources
from newsqa.qa.answerer import Answerer
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.questions import QType, analyze
from newsqa.qa.types import Answer, AskResult
from tests.helpers import hashing_writer, write_jsonl


@pytest.fixture(scope="module")
def answerer(sample_index) -> Answerer:
    return Answerer.load(sample_index)


def check_verbatim(answerer: Answerer, answer: Answer) -> None:
    assert answer.text and answer.text in answer.passage.text
    assert answer.text in answer.sentence
    article = answerer.snapshot.article(answer.article.id)
    assert article.text[answer.start : answer.end] == answer.text
    assert article.text[answer.sentence_start : answer.sentence_end] == answer.sentence
    assert 0.0 <= answer.confidence <= 1.0


def test_each_sample_question_gets_the_exact_fact_and_its_article(answerer, expected):
    for item in expected["questions"]:
        result = answerer.ask(item["question"])
        assert isinstance(result, AskResult)
        answer = result.answer
        assert answer is not None, item["question"]
        # The first listed answer is the whole fact: the number with its unit, the full date.
        assert answer.text == item["answers"][0], (item["question"], answer.text)
        assert re.search(item["article"], answer.article.title), (item["question"], answer.article.title)
        check_verbatim(answerer, answer)
        assert answer.article.source == "柳州日报" and answer.article.published == "2024-08-02"
        # the cited passage comes first among the supporting passages
        assert result.hits[0].passage.id == answer.passage.id


def test_unanswerable_question_gets_no_answer_but_passages(answerer, expected):
    for question in expected["unanswerable"]:
        result = answerer.ask(question)
        assert result.answer is None, result.answer
        assert result.hits, "the best passages are still returned"


def test_traditional_chinese_and_full_width_questions_match(answerer):
    result = answerer.ask("柳州市委書記是誰？")
    assert result.answer is not None and result.answer.text == "张晓钦"
    result = answerer.ask("柳州开通的征兵宣传公交专线是几路车?")
    assert result.answer is not None and result.answer.text == "3路"


def test_english_question_finds_the_chinese_article(answerer):
    result = answerer.ask("How many teams took part in the final of the civility etiquette contest?", top_k=3)
    assert any("礼仪大赛" in h.article.title for h in result.hits)


def test_top_k_and_one_passage_per_article(answerer):
    result = answerer.ask("柳州螺蛳粉产业", top_k=3)
    assert 1 <= len(result.hits) <= 3
    assert len({h.article.id for h in result.hits}) == len(result.hits)
    with pytest.raises(ValueError, match="top_k"):
        answerer.ask("柳州", top_k=0)


def test_bad_questions_are_clear_errors(answerer):
    with pytest.raises(EmptyQuestion):
        answerer.ask("   ")
    with pytest.raises(QuestionTooLong, match="501 characters"):
        answerer.ask("问" * 501)


def test_result_serialises_to_the_documented_shape(answerer):
    data = answerer.ask("柳州市委书记是谁？").to_dict()
    assert set(data) == {"question", "resolved_question", "answer", "alternatives", "passages", "took_ms"}
    assert set(data["answer"]) == {
        "sentence_start",
        "sentence_end",
        "text",
        "sentence",
        "confidence",
        "article_id",
        "passage_id",
        "title",
        "url",
        "published",
        "source",
        "also_in",
        "start",
        "end",
    }
    assert set(data["passages"][0]) == {
        "passage_id",
        "article_id",
        "title",
        "url",
        "published",
        "source",
        "also_in",
        "text",
        "score",
        "start",
        "end",
    }
    json.dumps(data, ensure_ascii=False)


def test_asking_with_another_model_is_a_mismatch(sample_index):
    with pytest.raises(IndexMismatch, match="use-multilingual-v3.*hashing-test"):
        Answerer.load(sample_index, model="hashing-test")


def test_cli_ask(sample_index):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["ask", "柳州市委书记是谁？", "--index", str(sample_index), "--json", "-k", "2"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"]["text"] == "张晓钦" and len(data["passages"]) <= 2
    result = runner.invoke(cli, ["ask", "柳州上半年的房价涨了多少？", "--index", str(sample_index)])
    assert result.exit_code == 0 and "没有找到答案" in result.stdout
    result = runner.invoke(cli, ["ask", " ", "--index", str(sample_index)])
    assert result.exit_code == 1 and "the question is empty" in result.stderr


@pytest.mark.parametrize(
    ("question", "qtype", "unit"),
    [
        ("柳州上半年地区生产总值是多少？", QType.NUMBER, ""),
        ("征兵宣传公交专线是几路车？", QType.NUMBER, "路"),
        ("条例从什么时候开始施行？", QType.DATE, ""),
        ("柳州市委书记是谁？", QType.PERSON, ""),
        ("决赛在哪里举行？", QType.PLACE, ""),
        ("阿瓦王国是由哪一个民族建立的？", QType.ENTITY, ""),
        ("When did the regulation take effect?", QType.DATE, ""),
    ],
)
def test_question_typing(question, qtype, unit):
    analysed = analyze(question)
    assert analysed.qtype is qtype and analysed.unit == unit


def test_cmrc_style_metrics():
    assert exact_match("1472.3亿元。", ["1472.3亿元"]) == 1.0
    assert exact_match("1472.3", ["1472.3亿元"]) == 0.0
    # 11 tokens predicted (8 characters, "1472.3", 亿, 元), 3 gold, all 3 shared: P 3/11, R 1
    assert f1("全市地区生产总值1472.3亿元", ["1472.3亿元"]) == pytest.approx(2 * (3 / 11) / (3 / 11 + 1))
    assert f1("无关", ["张晓钦"]) == 0.0


def test_eval_on_a_small_squad_file(tmp_path, sample_page):
    from newsqa.index.newspaper import split_page

    articles = split_page(sample_page.read_text(encoding="utf-8"))
    data = {
        "data": [
            {"title": a.title, "paragraphs": [{"context": p, "qas": []} for p in a.paragraphs]}
            for a in articles
        ]
    }
    meeting = data["data"][0]
    meeting["paragraphs"][0]["qas"] = [
        {"id": "q1", "question": "柳州市委书记是谁？", "answers": [{"text": "张晓钦", "answer_start": 0}]}
    ]
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(path), "--json", "--index", str(tmp_path / "ix")])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["questions"] == 1
    for system in ("newsqa", "baseline"):
        assert set(figures[system]) >= {
            "hit_at_1",
            "hit_at_5",
            "em",
            "f1",
            "answered",
            "abstained",
            "latency_p50_ms",
            "latency_p95_ms",
        }
    assert figures["newsqa"]["em"] == 1.0 and figures["newsqa"]["hit_at_1"] == 1.0
    table = CliRunner().invoke(cli, ["eval", str(path), "--index", str(tmp_path / "ix")]).stdout
    assert "newsqa" in table and "baseline" in table and "hit@5" in table


def test_settings_choose_the_reader():
    with pytest.raises(ValueError, match="reader must be"):
        Settings(reader="bert")


def test_names_written_with_interpuncts_are_answered_whole(tmp_path):
    records = [
        {
            "title": "新片开机",
            "text": "这部纪录片由法国导演保罗·塞里诺执导，将于明年春天在里昂首映。影片讲述一座老港口的变迁。",
        },
        {
            "title": "篮球新闻",
            "text": "球队昨晚以一百零二比九十八获胜。全场得分最高的是前锋米高‧佐敦，他独得三十一分。",
        },
        {"title": "天气", "text": "本周后半段全市以晴到多云天气为主，最高气温三十四度。"},
    ]
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([write_jsonl(tmp_path / "news.jsonl", records)]))
    answerer = Answerer.load(root)
    for question, name in [("这部纪录片的导演是谁？", "保罗·塞里诺"), ("全场得分最高的是谁？", "米高‧佐敦")]:
        answer = answerer.ask(question).answer
        assert answer is not None, question
        check_verbatim(answerer, answer)
        assert answer.text == name


def test_the_default_embedder_matches_english_questions_to_chinese_text_by_meaning(sample_index):
    # Dense search alone: the fused score leans on BM25, which cannot match across languages.
    answerer = Answerer.load(sample_index)
    vector = answerer.embedder.embed_queries(
        ["How many teams took part in the final of the etiquette contest?"]
    )[0]
    ranked = answerer.snapshot.dense_search(vector, 1)
    (best,) = answerer.snapshot.passages(key for key, _ in ranked).values()
    assert "礼仪" in best.article.title
