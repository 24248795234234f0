"""The feature reader's parts, one table per concern: each feature family, the candidate
spans, the date and number growing, the short forms (aliases), and the confidence model.

Removing any one feature family from qa/readers/features/families.py turns a row here red.
Passages are built in memory; no index and no embedder are needed.
"""

import numpy as np
import pytest

from newsqa.index.types import ArticleRef, Passage
from newsqa.qa.questions import analyze
from newsqa.qa.readers.features.candidates import CandidateBuilder, Candidates
from newsqa.qa.readers.features.columns import COLUMN, FEATURE_NAMES
from newsqa.qa.readers.features.model import ReaderWeights, confidence, confidence_features
from newsqa.qa.readers.features.reader import FeatureReader, complete_date, complete_number
from newsqa.qa.readers.features.sentences import article_aliases, expand, occurrences, select_sentences
from newsqa.qa.types import Hit


def hit(text: str, score: float = 1.0, article_id: str = "a1") -> Hit:
    passage = Passage(f"{article_id}:0", article_id, 0, text, 0, len(text))
    return Hit(passage, ArticleRef(article_id, "标题", None, None, None), score)


def candidates(question: str, *texts: str) -> Candidates:
    return CandidateBuilder().build(
        analyze(question), [hit(t, article_id=f"a{i}") for i, t in enumerate(texts)]
    )


def feature(cands: Candidates, span: str, column: str) -> float:
    texts = [cands.text(i) for i in range(len(cands.spans))]
    assert span in texts, f"{span!r} is not a candidate; candidates: {texts[:40]}"
    return float(cands.features[texts.index(span), COLUMN[column]])


PERSON = ("江城市委书记是谁？", "今天天气很好。江城市委书记王大明出席会议并讲话。")
COUNT = ("有多少支队伍参加决赛？", "共有22支队伍参加决赛，约35万人观看。")
PLACE = ("会议在哪里举行？", "会议在北京举行，为期两天。")
YEAR = ("条例哪一年开始施行？", "条例于2024年8月1日起施行。")
NATION = ("哪个民族人口最多？", "汉族人口最多，其次是壮族。")
TITLES = ("什么法规获得通过？", "《江城市充电设施条例》、《停车条例》获得通过。")

# (family, (question, passage), span, column, value)
EXACT = [
    ("sentence", PERSON, "王大明", "sent_best", 1.0),
    ("sentence", PERSON, "王大明", "sent_cover", 1.0),
    ("sentence", PERSON, "今天天气很好", "sent_cover", 0.0),
    ("sentence", PERSON, "王大明", "passage_first", 1.0),
    ("sentence", PERSON, "王大明", "bias", 1.0),
    ("alignment", PERSON, "王大明", "left_align", 0.75),  # "江城市委书记" (less 是) ends right before it
    ("alignment", PERSON, "出席会议", "left_align", 0.0),
    ("alignment", COUNT, "22", "right_align", 0.875),  # "支队伍参加决赛" starts right after it
    ("proximity", PERSON, "王大明", "near", 1.0),
    ("proximity", PERSON, "出席会议", "near", 0.5),
    ("proximity", PERSON, "王大明", "after_match", 1.0),
    ("overlap", PERSON, "市委书记", "q_overlap", 1.0),
    ("overlap", PERSON, "市委书记", "q_term_inside", 1.0),
    ("overlap", PERSON, "王大明", "q_overlap", 0.0),
    ("unit and category", COUNT, "22支", "unit_match", 1.0),
    ("unit and category", COUNT, "35万人", "unit_match", 0.0),
    ("unit and category", NATION, "汉族", "cat_last_char", 1.0),
    ("unit and category", NATION, "人口最多", "cat_inside", 0.0),
    ("sides", PLACE, "北京", "left_terms_before", 1.0),
    ("sides", PLACE, "北京", "right_terms_after", 1.0),
    ("sides", PLACE, "为期两天", "right_terms_wrong_side", 1.0),
    ("sides", PLACE, "北京", "right_term_gap", 1.0),
    ("number and date", COUNT, "22支", "type_number", 1.0),
    ("number and date", COUNT, "22支队伍", "type_number", 0.0),
    ("number and date", COUNT, "22支", "has_digit", 1.0),
    ("number and date", YEAR, "2024年8月1日", "type_date", 1.0),
    ("number and date", YEAR, "2024年", "year_q*year_span", 1.0),
    ("number and date", YEAR, "2024年", "year_q*entity_part", 1.0),
    ("number and date", YEAR, "2024年8月1日", "year_q*day_span", 1.0),
    ("surface", TITLES, "《江城市充电设施条例》", "is_title", 1.0),
    ("surface", TITLES, "《江城市充电设施条例》、《停车条例》", "has_soft_mark", 1.0),
    ("surface", PLACE, "为期两天", "edge_function_word", 1.0),
    ("word", PERSON, "王大明", "type_person", 1.0),
    ("word", PERSON, "王大明", "last_pos=nr", 1.0),
    ("word", PERSON, "出席会议", "type_person", 0.0),
    ("word", PLACE, "北京", "type_place", 1.0),
    ("shape", PLACE, "会议在北京举行", "clause_whole", 1.0),
    ("shape", PLACE, "为期两天", "ends_sentence", 1.0),
    ("shape", PLACE, "北京", "len<=2", 1.0),
    ("shape", PLACE, "北京", "kind=token", 1.0),
    ("shape", TITLES, "《江城市充电设施条例》", "log_len", pytest.approx(np.log(12) / 4)),
    ("question type", PERSON, "王大明", "person*type_person", 1.0),
    ("question type", PERSON, "王大明", "number*type_person", 0.0),
    ("question type", COUNT, "22支", "number*unit_match", 1.0),
    ("question type", COUNT, "22支", "number*bias", 1.0),
]


@pytest.mark.parametrize(
    "family, case, span, column, value", EXACT, ids=[f"{r[0]}:{r[2]}:{r[3]}" for r in EXACT]
)
def test_feature_values(family, case, span, column, value):
    question, passage = case
    assert feature(candidates(question, passage), span, column) == value


def test_every_family_has_a_row_and_every_row_names_a_real_column():
    from newsqa.qa.readers.features.families import FAMILIES

    named = {row[0] for row in EXACT}
    for family in FAMILIES:
        assert family.__name__.removesuffix("_family").replace("_", " ") in named
    assert all(row[3] in COLUMN for row in EXACT)


def test_only_the_question_type_of_the_question_is_crossed():
    cands = candidates(*COUNT)
    others = [n for n in FEATURE_NAMES if "*" in n and not n.startswith(("number*",)) and "_q*" not in n]
    assert not cands.features[:, [COLUMN[n] for n in others]].any()


# ---------------------------------------------------------------- candidate spans
def test_candidates_are_words_entities_clauses_heads_and_tails():
    long_clause = "江城市人民政府今天上午在市政府大楼隆重召开全市上半年经济工作会议，会议由市长主持。"
    kinds_of = candidates("会议由谁主持？", long_clause)
    kinds = {
        FEATURE_NAMES[c].removeprefix("kind=")
        for c in np.flatnonzero(kinds_of.features.any(axis=0))
        if FEATURE_NAMES[c].startswith("kind=")
    }
    assert {"token", "clause", "sentence", "head", "tail"} <= kinds
    cands = candidates(*PLACE)
    texts = {cands.text(i) for i in range(len(cands.spans))}
    assert {"北京", "会议在北京举行", "为期两天"} <= texts
    assert "北京举行" in texts  # a clause's tail from a word boundary


def test_candidates_keep_brackets_balanced_and_never_cross_a_comma_inside_words():
    cands = candidates("谁宣布了消息？", "他说：“我们（江城队）赢了，”随后宣布消息。")
    for i in range(len(cands.spans)):
        text = cands.text(i)
        assert text.count("（") == text.count("）")
        assert text.count("“") == text.count("”")
        assert not text[0].isspace() and not text[-1].isspace()


def test_numbers_and_dates_are_cut_out_of_words():
    cands = candidates("从几月几日起施行？", "新规定8月1日起施行。")
    texts = {cands.text(i) for i in range(len(cands.spans))}
    assert "8月1日" in texts  # the segmenter joins "1日起"; the date pattern cuts it


# ---------------------------------------------------------------- growing to the whole fact
def _index(cands: Candidates, text: str) -> int:
    return [cands.text(i) for i in range(len(cands.spans))].index(text)


def test_a_bare_number_grows_to_its_unit_for_a_how_many_question():
    question, passage = "有多少人观看？", "约35万人观看了比赛。"
    cands = candidates(question, passage)
    texts = [cands.text(i) for i in range(len(cands.spans))]
    grown = complete_number(analyze(question), cands, texts, _index(cands, "35"))
    assert texts[grown] == "35万人"


def test_part_of_a_date_grows_to_the_whole_date_for_a_when_question():
    question, passage = "条例什么时候施行？", "条例于2024年8月1日起施行。"
    cands = candidates(question, passage)
    texts = [cands.text(i) for i in range(len(cands.spans))]
    grown = complete_date(analyze(question), cands, texts, _index(cands, "2024年"))
    assert texts[grown] == "2024年8月1日"
    # "which year" keeps the year
    year_q = analyze("条例哪一年施行？")
    assert complete_date(year_q, cands, texts, _index(cands, "2024年")) == _index(cands, "2024年")


# ---------------------------------------------------------------- short forms
def test_a_short_form_stands_for_its_full_name():
    text = "《江城市电动汽车充电基础设施管理条例》（以下简称《条例》）今天通过。《条例》自明年起施行。"
    aliases = article_aliases([hit(text)], [text])["a1"]
    assert aliases == {"《条例》": "《江城市电动汽车充电基础设施管理条例》"}
    assert expand("《条例》自明年起施行。", aliases).endswith("《江城市电动汽车充电基础设施管理条例》")
    assert occurrences("《条例》自明年起施行。", "充电基础设施", aliases) == [(0, 4)]


def test_the_sentence_using_a_short_form_covers_the_question():
    text = (
        "《江城市电动汽车充电基础设施管理条例》（以下简称《条例》）今天通过。天气晴。《条例》自明年起施行。"
    )
    q = analyze("电动汽车充电基础设施管理条例什么时候施行？")
    sentences = select_sentences(q, [hit(text)], dict.fromkeys(q.terms, 1.0))
    using = next(s for s in sentences if s.text.startswith("《条例》自"))
    weather = next(s for s in sentences if s.text.startswith("天气"))
    assert using.cover > weather.cover


# ---------------------------------------------------------------- confidence
def test_confidence_features_measure_the_margin_over_a_different_runner_up():
    scores = np.array([3.0, 2.5, 1.0])
    texts = ["王大明", "王大明出席", "李四"]  # the runner-up that merely contains the best is skipped
    stats = [{"cover": 1.0}]
    feats = confidence_features(scores, texts, stats, [0, 0, 0], 0)
    assert feats["margin"] == pytest.approx(2.0)
    assert feats["score"] == 3.0
    assert feats["share"] == pytest.approx(1 / (1 + np.exp(-0.5) + np.exp(-2.0)))
    assert feats["cover"] == 1.0
    alone = confidence_features(np.array([3.0]), ["王大明"], stats, [0], 0)
    assert alone["margin"] == 5.0  # capped


def test_a_clear_winner_is_more_confident_than_a_near_tie():
    weights = ReaderWeights.load().confidence
    stats = [
        {
            "cover": 1.0,
            "bigram": 0.5,
            "lcs": 0.5,
            "passage_score": 1.0,
            "lexical": 1.0,
            "dense": 0.3,
            "passage_cover": 1.0,
            "max_missing": 0.0,
        }
    ]
    clear = confidence(weights, confidence_features(np.array([4.0, 0.0]), ["甲", "乙"], stats, [0, 0], 0))
    tie = confidence(weights, confidence_features(np.array([4.0, 3.9]), ["甲", "乙"], stats, [0, 0], 0))
    assert clear > tie


def test_corrupt_weights_are_a_one_line_error_naming_the_file(tmp_path):
    from newsqa.errors import ModelUnavailable

    broken = tmp_path / "weights.json"
    broken.write_text('{"feature_names": [', encoding="utf-8")
    with pytest.raises(ModelUnavailable, match=str(broken)) as info:
        ReaderWeights.load(broken)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the reader
def test_the_reader_ranks_distinct_verbatim_answers_with_confidences():
    reader = FeatureReader()
    hits = [hit(PERSON[1]), hit("江城市市长李小华主持会议。", article_id="a2", score=0.5)]
    answers = reader.read(PERSON[0], hits)
    assert answers and answers[0].text == "王大明"
    assert len({a.text for a in answers}) == len(answers)
    for answer in answers:
        assert 0.0 <= answer.confidence <= 1.0
        assert (
            answer.passage.text[answer.start - answer.passage.start : answer.end - answer.passage.start]
            == answer.text
        )
        assert answer.text in answer.sentence


def _weights_favouring(*columns: str) -> ReaderWeights:
    """Weights that rank spans by a few columns alone, so a test can choose what the reader picks first."""
    span = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    span[[COLUMN[c] for c in columns]] = 5.0
    shipped = ReaderWeights.load()
    return ReaderWeights(span, None, shipped.confidence, shipped.threshold, {})


@pytest.mark.parametrize(
    "question, passage, favoured, whole",
    [
        ("有多少人观看？", "约35万人观看了比赛。", ("type_number", "len<=2"), "35万人"),
        ("条例什么时候施行？", "条例于2024年8月1日起施行。", ("when_q*year_span",), "2024年8月1日"),
    ],
)
def test_the_reader_answers_with_the_whole_number_or_date(question, passage, favoured, whole):
    reader = FeatureReader(weights=_weights_favouring(*favoured))
    assert reader.read(question, [hit(passage)])[0].text == whole
