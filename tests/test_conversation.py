"""Follow-up questions: one fast test per resolution rule, the dialogue set, and the Answerer
using a conversation on the sample index (the previous article preferred, a new topic left alone)."""

import json

import pytest

from newsqa.qa.conversation import Resolution, Rule, Turn, resolve, statement, topic
from testbed import DIALOGUES

GDP = Turn("柳州上半年地区生产总值是多少？", answer="1472.3亿元", article_id="gdp")
SECRETARY = Turn("柳州市委书记是谁？", answer="张晓钦", article_id="meeting")


def resolved(question: str, *history: Turn) -> Resolution:
    return resolve(question, list(history))


# ---------------------------------------------------------------- the rules, one by one
def test_without_history_nothing_changes():
    assert resolve("那同比增长多少？", []) == Resolution("那同比增长多少？")


@pytest.mark.parametrize(
    "question,expected",
    [
        ("那同比增长多少？", "柳州上半年地区生产总值同比增长多少？"),
        ("同比增长多少？", "柳州上半年地区生产总值同比增长多少？"),
        ("按不变价格计算呢", None),  # not a predicate with a question word: a substitution, see below
    ],
)
def test_ellipsis_takes_the_previous_topic(question, expected):
    got = resolved(question, GDP)
    if expected is None:
        assert got.rule is not Rule.ELLIPSIS
        return
    assert got.rule is Rule.ELLIPSIS and got.question == expected
    assert got.prefer_article == "gdp"


def test_ellipsis_says_shared_words_once():
    again = Turn("那同比增长多少？", resolved_question="柳州上半年地区生产总值同比增长多少？")
    assert resolved("那同比增长多少？", again).question == "柳州上半年地区生产总值同比增长多少？"


def test_topic_is_what_the_question_is_about():
    assert topic("柳州上半年地区生产总值是多少？") == "柳州上半年地区生产总值"
    assert topic("全区商会调解观摩交流活动举行了几天？") == "全区商会调解观摩交流活动"
    assert (
        topic("《柳州市新能源汽车充电基础设施条例》从什么时候开始施行？")
        == "《柳州市新能源汽车充电基础设施条例》"
    )
    assert topic("谁是柳州市委书记？") == "柳州市委书记"


@pytest.mark.parametrize(
    "question,expected",
    [
        ("那下半年呢？", "柳州下半年地区生产总值是多少？"),  # a time for a time
        ("南宁呢？", "南宁上半年地区生产总值是多少？"),  # a place for a place
    ],
)
def test_substitution_replaces_the_word_of_the_same_kind(question, expected):
    got = resolved(question, GDP)
    assert got.rule is Rule.SUBSTITUTION and got.question == expected


def test_substitution_of_a_noun_needs_a_resemblance_else_takes_the_topic():
    assert resolved("那市长呢？", SECRETARY).question == "柳州市长是谁？"
    assert (
        resolved("那加勒比海艦隊呢?", Turn("第一志願騎兵團是由誰帶領的?")).question
        == "加勒比海艦隊是由誰帶領的?"
    )


@pytest.mark.parametrize(
    "question,expected",
    [
        ("他出席了什么会议？", "张晓钦出席了什么会议？"),
        ("她的职务是什么？", "张晓钦的职务是什么？"),
    ],
)
def test_a_person_pronoun_is_the_previous_answer_when_it_was_a_person(question, expected):
    got = resolved(question, SECRETARY)
    assert got.rule is Rule.PRONOUN and got.question == expected


def test_a_person_pronoun_never_becomes_a_number():
    # The previous answer is an amount: 他 can't be it, and no person was named.
    got = resolved("他是谁？", GDP)
    assert "1472.3" not in got.question


def test_a_place_pronoun_is_the_place_named_before():
    got = resolved("该市是哪一年建城的？", Turn("瓦士本市的地理位置在哪儿？", answer="威斯康辛州的北部"))
    assert got.question == "瓦士本市是哪一年建城的？"


def test_this_noun_is_the_phrase_that_ends_in_it_or_the_answer_it_asked_for():
    rule = Turn("《柳州市新能源汽车充电基础设施条例》从什么时候开始施行？", answer="2024年8月1日")
    assert (
        resolved("这个条例共有多少条？", rule).question == "《柳州市新能源汽车充电基础设施条例》共有多少条？"
    )
    treaty = Turn("西班牙完全放棄古巴是因為哪一個條約?", answer="《巴黎和約》")
    assert resolved("這個條約是哪一年簽訂的?", treaty).question == "《巴黎和約》是哪一年簽訂的?"
    meeting = Turn("柳州市委书记是谁？", answer="张晓钦", title="市委市政府召开全市年中工作会议")
    assert "年中工作会议" in resolved("这次会议在哪里召开？", meeting).question


def test_it_is_the_previous_topic():
    got = resolved("它是哪天通过的？", Turn("《柳州市新能源汽车充电基础设施条例》从什么时候开始施行？"))
    assert got.question == "《柳州市新能源汽车充电基础设施条例》是哪天通过的？"


@pytest.mark.parametrize("question", ["为什么？", "为什么呢", "那为什么？", "這是為什麼？"])
def test_why_asks_about_the_previous_answer(question):
    got = resolved(question, GDP)
    assert got.rule is Rule.REASON
    assert got.question == "为什么柳州上半年地区生产总值是1472.3亿元？"


def test_statement_puts_the_answer_in_place_of_the_question_word():
    assert (
        statement(Turn("柳州开通的征兵宣传公交专线是几路车？", answer="3路"))
        == "柳州开通的征兵宣传公交专线是3路车"
    )


@pytest.mark.parametrize("question", ["还有呢？", "还有吗", "还有谁？", "其他呢？"])
def test_more_asks_again_without_the_answers_given(question):
    got = resolved(question, SECRETARY)
    assert got.rule is Rule.MORE and got.question == SECRETARY.question
    assert got.exclude == ("张晓钦",)


def test_more_after_more_excludes_every_answer_given():
    again = Turn("还有呢？", resolved_question=SECRETARY.question, answer="张壮")
    assert resolved("还有呢？", SECRETARY, again).exclude == ("张壮", "张晓钦")


@pytest.mark.parametrize(
    "question",
    [
        "柳州螺蛳粉上半年全产业链销售收入是多少？",  # names its subject
        "文明市民礼仪大赛决赛有多少支队伍参赛？",  # two nouns before the question word
        "《条例》什么时候施行？",  # a title
    ],
)
def test_a_new_topic_is_not_dragged_into_the_old_one(question):
    got = resolved(question, GDP)
    assert got == Resolution(question)
    assert not got.follow_up and got.prefer_article is None


def test_english_follow_ups():
    who = Turn("Who is the party secretary of Liuzhou?", answer="张晓钦", article_id="meeting")
    assert resolved("What meeting did he attend?", who).question == "What meeting did 张晓钦 attend?"
    assert resolved("Why?", who).rule is Rule.REASON
    assert resolved("What else?", who).exclude == ("张晓钦",)
    gdp = Turn("What was Liuzhou's GDP in the first half of 2024?")
    assert (
        resolved("What about the second half?", gdp).question
        == "What was Liuzhou's GDP in the second half of 2024?"
    )
    assert not resolved("How many teams took part in the final?", who).follow_up


# ---------------------------------------------------------------- the dialogue set
def dialogues() -> list[dict]:
    return json.loads(DIALOGUES.read_text(encoding="utf-8"))["dialogues"]


def right(dialogue: dict) -> bool:
    first = Turn(dialogue["first"]["question"], answer=dialogue["first"]["answer"])
    got = resolve(dialogue["follow_up"], [first])
    return (
        got.rule.value == dialogue["rule"]
        and all(part in got.question for part in dialogue["contains"])
        and not any(part in got.question for part in dialogue["excludes"])
    )


def test_the_dialogue_set_resolves():
    """At least 40 dialogues, most of them right (bench/dialogues.py prints the figures)."""
    items = dialogues()
    assert len(items) >= 40
    wrong = [d["id"] for d in items if not right(d)]
    assert len(wrong) <= len(items) // 10, wrong


# ---------------------------------------------------------------- the Answerer in a conversation
@pytest.fixture(scope="module")
def answerer(sample_index):
    from newsqa.qa.answerer import Answerer

    return Answerer.load(sample_index)


def turn_of(result) -> Turn:
    cited = result.answer.article.id if result.answer else result.hits[0].article.id
    return Turn(
        result.question, result.resolved_question, result.answer.text if result.answer else None, cited
    )


def test_a_follow_up_is_answered_from_the_previous_article(answerer):
    first = answerer.ask("柳州上半年地区生产总值是多少？")
    alone = answerer.ask("那同比增长多少？")
    follow = answerer.ask("那同比增长多少？", context=[turn_of(first)])
    assert follow.resolved_question == "柳州上半年地区生产总值同比增长多少？"
    assert follow.to_dict()["resolved_question"] == follow.resolved_question
    assert alone.resolved_question == "那同比增长多少？"
    cited = follow.answer.article.id if follow.answer else follow.hits[0].article.id
    assert cited == turn_of(first).article_id
    assert follow.answer is not None and "1.4" in follow.answer.text


def test_a_pronoun_follow_up_finds_the_person(answerer):
    first = answerer.ask("柳州市委书记是谁？")
    follow = answerer.ask("他出席了什么会议？", context=[turn_of(first)])
    assert follow.resolved_question.startswith(first.answer.text)
    assert follow.hits[0].article.id == first.answer.article.id


def test_a_new_topic_is_answered_from_its_own_article(answerer):
    first = answerer.ask("柳州上半年地区生产总值是多少？")
    new = answerer.ask("征兵宣传公交专线是几路车？", context=[turn_of(first)])
    assert new.resolved_question == new.question
    assert new.answer is not None and new.answer.article.id != first.answer.article.id


def test_more_does_not_repeat_the_answer(answerer):
    first = answerer.ask("柳州市委书记是谁？")
    more = answerer.ask("还有呢？", context=[turn_of(first)])
    assert more.resolved_question == first.question
    assert more.answer is None or more.answer.text != first.answer.text


def test_the_previous_article_is_preferred_not_forced(answerer):
    from newsqa.qa.retrieval import PREFER_BOOST

    question = "同比增长多少？"
    plain = answerer.retriever.search(question, 20)
    article = plain[-1].article.id  # the least likely article among the candidates
    preferred = answerer.retriever.search(question, 20, prefer_article=article)
    before = {h.passage.id: h.score for h in plain}
    for hit in preferred:
        if hit.passage.id in before:
            boost = PREFER_BOOST if hit.article.id == article else 0.0
            assert hit.score == pytest.approx(before[hit.passage.id] + boost)
    assert {h.article.id for h in preferred} - {article}  # other articles still come back
    unknown = answerer.retriever.search(question, 20, prefer_article="no-such-article")
    assert [h.passage.id for h in unknown] == [h.passage.id for h in plain]
