"""Sentence splitting, normalisation and passage chunking."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsqa.index.chunking import PassageSplitter
from newsqa.index.text import normalize, sentence_spans
from newsqa.index.types import Article


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("今天下雨。明天晴！后天呢？", ["今天下雨。", "明天晴！", "后天呢？"]),
        ("他说：“我们赢了！”大家鼓掌。", ["他说：“我们赢了！”", "大家鼓掌。"]),
        ("增长1.4%，好于预期。其次；再次", ["增长1.4%，好于预期。", "其次；", "再次"]),
        ("真的吗？！是的……好吧", ["真的吗？！", "是的……", "好吧"]),
        (
            "Mr. Smith went to Washington. He won 3.5 million votes!",
            ["Mr. Smith went to Washington.", "He won 3.5 million votes!"],
        ),
        ('He said "yes." Then left.', ['He said "yes."', "Then left."]),
        ("第一段没有句号\n第二段", ["第一段没有句号", "第二段"]),
        ("全角标点。ASCII stop. 混排.结束", ["全角标点。", "ASCII stop.", "混排.", "结束"]),
    ],
)
def test_sentence_spans(text, want):
    assert sentences(text) == want


def test_normalize_keeps_length_and_folds():
    for text in ("在歐洲，梵語的學術研究", "ＡＢＣ１２３　全角", "Mixed İstanbul 乾燥"):
        assert len(normalize(text)) == len(text)
    assert normalize("歐洲ＡＢＣ１２３") == "欧洲abc123"


def test_splitter_validates_its_arguments():
    with pytest.raises(ValueError, match="overlap_chars"):
        PassageSplitter(100, 100)
    with pytest.raises(ValueError, match="max_chars"):
        PassageSplitter(5, 0)


# Random mixed Chinese/English text: words, numbers, punctuation of both widths, line breaks.
_pieces = st.sampled_from(
    [
        "柳州",
        "经济",
        "增长",
        "百分之",
        "地区生产总值",
        "市委",
        "会议",
        "强调",
        "news",
        "Liuzhou",
        "GDP",
        "rose",
        "Mr.",
        "the",
        "3.14",
        "1472.3亿元",
        "2024年8月1日",
        " ",
        " ",
        "，",
        ",",
        "、",
        "。",
        "！",
        "？",
        ".",
        "!",
        "?",
        "；",
        ";",
        "…",
        "“",
        "”",
        '"',
        "（",
        "）",
        "(",
        ")",
        "\n",
        "\n\n",
        "　",
    ]
)
mixed_text = st.lists(_pieces, min_size=0, max_size=400).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=mixed_text, size=st.integers(20, 200), overlap_ratio=st.floats(0, 0.9))
def test_passage_offsets_are_exact(text, size, overlap_ratio):
    overlap = int(size * overlap_ratio)
    splitter = PassageSplitter(size, overlap)
    article = Article(id="a", title="t", text=text)
    passages = splitter.split(article)
    previous_end = 0
    for i, p in enumerate(passages):
        assert article.text[p.start : p.end] == p.text
        assert p.ordinal == i and p.article_id == "a"
        assert 0 < len(p.text) <= size
        assert p.text == p.text.strip()
        if i:
            assert p.start > passages[i - 1].start  # always moves on
            assert passages[i - 1].end - p.start <= overlap  # overlap is bounded
        previous_end = max(previous_end, p.end)
    # Nothing but whitespace is left out.
    covered = [False] * len(text)
    for p in passages:
        covered[p.start : p.end] = [True] * (p.end - p.start)
    assert all(c or ch.isspace() for c, ch in zip(covered, text, strict=True))


@settings(max_examples=200, deadline=None)
@given(text=mixed_text, size=st.integers(20, 200))
def test_passages_cut_only_at_sentence_ends_unless_a_sentence_is_too_long(text, size):
    spans = sentence_spans(text)
    starts = {s for s, _ in spans}
    ends = {e for _, e in spans}
    long_sentence = any(e - s > size for s, e in spans)
    for p in PassageSplitter(size, size // 4).split(Article(id="a", title="t", text=text)):
        if not long_sentence:
            assert p.start in starts and p.end in ends


def test_a_cut_long_sentence_leaves_no_whitespace_at_the_cut():
    # Found by the property test above: a cut right after spaces kept them in the passage.
    text = "2024年8月1日2024年8月1日 \u3000柳州"
    for p in PassageSplitter(20, 0).split(Article(id="a", title="t", text=text)):
        assert p.text == p.text.strip() and text[p.start : p.end] == p.text
