"""Follow-up questions: what a question means after the turns before it.

People in a chat don't repeat themselves. After "全市上半年地区生产总值是多少？"
they ask "那同比增长多少？", "那下半年呢？", "为什么？" or "还有呢？"; after
"市委书记是谁？" they ask "他出席了什么会议？". `resolve` rewrites such a
follow-up into a question that stands on its own, using the previous turn:

- **more** (还有呢 / 还有谁 / what else): the previous question again, without
  the answers already given;
- **reason** (为什么 / why): why the previous answer holds;
- **substitution** (那下半年呢 / what about 2023): the previous question with the
  new word in place of the one of the same kind (a time, a place, a person, a noun);
- **pronoun** (他 / 该市 / 这个条例 / it): the previous answer or topic, when
  the kinds fit (他 → a person, 该市 → a place, 这个条例 → the phrase ending in 条例);
- **ellipsis** (同比增长多少？ / 在哪里举行？): a predicate without a subject
  gets the previous question's topic in front.

A question that names its own subject is a new topic and is left alone. A
follow-up prefers the previous turn's article (a retrieval boost, not a filter).
Nothing here reads the index or knows about HTTP: the Answerer and the web layer
call `resolve` with the turns they have.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from newsqa.index.text import normalize
from newsqa.qa.questions import QType, analyze


@dataclass(frozen=True)
class Turn:
    """One earlier question of a conversation, as the client or the server kept it."""

    question: str
    resolved_question: str | None = None
    answer: str | None = None
    article_id: str | None = None
    title: str | None = None
    """The cited article's title (the Answerer fills it in from the index)."""

    @property
    def understood(self) -> str:
        """The question as it was understood: the resolved form when there is one."""
        return self.resolved_question or self.question


class Rule(str, Enum):
    NEW = "new"
    MORE = "more"
    REASON = "reason"
    SUBSTITUTION = "substitution"
    PRONOUN = "pronoun"
    ELLIPSIS = "ellipsis"


@dataclass(frozen=True)
class Resolution:
    """How a question was understood in its conversation."""

    question: str
    rule: Rule = Rule.NEW
    prefer_article: str | None = None
    """The previous turn's article, which retrieval should prefer (not require)."""
    exclude: tuple[str, ...] = ()
    """Answers already given (for "还有呢"), which should not be given again."""

    @property
    def follow_up(self) -> bool:
        return self.rule is not Rule.NEW


# ---------------------------------------------------------------- tokens
@dataclass(frozen=True)
class _Tok:
    word: str  # as written in the question
    tag: str  # rjieba's part of speech, from the normalised text
    start: int
    end: int


@lru_cache(maxsize=2048)
def _tokens(text: str) -> tuple[_Tok, ...]:
    """Words with parts of speech and offsets into `text` (tagged on its normalised form, which
    has the same length, so that Traditional Chinese is tagged as well as Simplified)."""
    import rjieba

    norm = normalize(text)
    out: list[_Tok] = []
    at = 0
    for word, tag in rjieba.tag(norm):
        start = norm.find(word, at)
        if start < 0:  # never expected: rjieba covers the text; keep offsets honest anyway
            continue
        end = start + len(word)
        out.append(_Tok(text[start:end], tag, start, end))
        at = end
    return tuple(out)


_NUMERAL = re.compile(r"[0-9０-９零一二三四五六七八九十百千万亿两几多少]")
_TIME_WORD = re.compile(
    r"^(\d+年|\d+月|\d+日|[上下]半年|[一二三四1-4]季度|今年|去年|明年|前年|上月|本月|下月|今天|昨天|明天|"
    r"[春夏秋冬]季|年初|年底|年末|年中|同期)$"
)
_ENTITY_TAGS = frozenset({"nr", "ns", "nt", "nz", "nrt", "nrfg", "eng"})
_NOMINAL_TAGS = frozenset({"n", "l", "j", "vn", "t", "i", "an", "ng", "s"}) | _ENTITY_TAGS
_CLASSIFIERS = frozenset("个 项 次 场 条 家 位 部 所 座 支 件 份 届 名 款 种 批 起 轮".split())


def _is_nominal(tok: _Tok) -> bool:
    if tok.word in ("》", "”", "」", "』"):
        return True
    if tok.tag in _NOMINAL_TAGS or tok.tag.startswith("n"):
        return True
    # rjieba tags some nouns as numerals ("终点站"): a "numeral" with no numeral in it is a noun.
    return tok.tag == "m" and not _NUMERAL.search(tok.word) and len(tok.word) > 1


def _kind(tok: _Tok) -> str:
    """What a word names, for substitution: time, place, person, org, number or noun."""
    if tok.tag == "t" or _TIME_WORD.match(normalize(tok.word)):
        return "time"
    if tok.tag == "ns":
        return "place"
    if tok.tag in ("nr", "nrfg", "nrt"):
        return "person"
    if tok.tag == "nt":
        return "org"
    if tok.tag == "m" and _NUMERAL.search(tok.word):
        return "number"
    return "noun" if _is_nominal(tok) else ""


# ---------------------------------------------------------------- patterns
_MARKS = "?？!！。.，,、 \u3000"
_LEADING = re.compile(r"^(那么|那|请问|所以|然后|而|再问一下|再问|也就是说)[，,\s]*")
_MORE = re.compile(
    r"^(还有呢|还有吗|还有别的吗|还有别的呢|还有其他的?吗|还有什么|还有什么呢|还有谁|还有谁呢|还有哪些|"
    r"还有哪些呢|还有没有|其他呢|其它呢|别的呢|另外呢|另一个呢|下一个呢|还有其他的?呢)$"
)
_MORE_EN = re.compile(r"^(and )?(what|who|anything|anyone|which|where) else|^any others?$|^others?$|^more$")
_REASON = re.compile(
    r"^(为什么|为何|为啥|什么原因|原因是什么|原因呢|怎么回事|这是为什么|这是什么原因|为什么会这样|"
    r"为什么呢|为何呢|这是为何)$"
)
_REASON_EN = re.compile(r"^(why|why is that|why so|how come|for what reason)$")
_SUBSTITUTE = re.compile(r"^(.{1,24}?)(呢|嘞)$")
_SUBSTITUTE_EN = re.compile(r"^(?:and |so )?(?:what|how) about (.+)$|^and (.+)$")

_PERSON_PRONOUNS = frozenset("他 她 他们 她们 此人 这个人 这位 该人 其人".split())
_PLACE_PRONOUNS = frozenset("该市 本市 这座城市 这个城市 该城市 该地 当地 该县 该区 该省 这座城".split())
_DEMONSTRATIVES = frozenset(
    "这 这个 这次 这项 这场 这条 这家 这部 这些 这份 这种 该 此 本 那个 那次 上述 这一".split()
)
_IT_PRONOUNS = frozenset("它 它们 其".split())
_PERSON_EN = re.compile(r"\b(he|she|him|her|his|they|them|their)\b", re.IGNORECASE)


def _strip_leading(text: str) -> str:
    """`text` without a filler at its start ("那", "那么", "请问"), matched on the normalised form."""
    text = text.strip()
    match = _LEADING.match(normalize(text))
    return text[match.end() :] if match else text


def _bare(text: str) -> str:
    """The question without fillers at the start and marks at the end, normalised."""
    norm = normalize(text).strip(_MARKS)
    return _LEADING.sub("", norm).strip(_MARKS)


# ---------------------------------------------------------------- the topic of a question
def topic(question: str) -> str:
    """What a question is about: "全市上半年地区生产总值是多少？" → "全市上半年地区生产总值".

    The words before the question word, up to the last noun among them; when the
    question word comes first, the nouns after it.
    """
    q = analyze(question)
    toks = _tokens(question)
    wh_start = q.wh_start if q.wh else len(question)
    lead = _LEADING.match(normalize(question))
    begin = lead.end() if lead else 0
    clause = max(question.rfind(mark, 0, wh_start) for mark in "，,：:；;")
    begin = max(begin, clause + 1)
    left = [t for t in toks if t.start >= begin and t.end <= wh_start]
    nominal = [i for i, t in enumerate(left) if _is_nominal(t)]
    if nominal:
        first = next(
            i for i, t in enumerate(left) if _is_nominal(t) or t.tag not in ("p", "c", "d", "r", "v")
        )
        return question[left[first].start : left[nominal[-1]].end]
    right = [t for t in toks if t.start >= wh_start + len(q.wh)]
    nominal = [i for i, t in enumerate(right) if _is_nominal(t)]
    if not nominal:
        return ""
    return question[right[nominal[0]].start : right[nominal[-1]].end].strip(_MARKS)


def statement(turn: Turn) -> str:
    """The previous question with its answer put where the question word was."""
    question = turn.understood.strip(_MARKS)
    q = analyze(question)
    if turn.answer and q.wh:
        end = q.wh_start + len(q.wh)
        if q.unit and question[end : end + len(q.unit)] == q.unit:
            end += len(q.unit)  # "几路" + "3路" → "3路", not "3路路"
        return (question[: q.wh_start] + turn.answer + question[end:]).strip(_MARKS)
    return question


# ---------------------------------------------------------------- resolution
def resolve(question: str, history: Sequence[Turn]) -> Resolution:
    """The question as it stands on its own, given the earlier turns (oldest first).

    Args:
        question: the new question, already checked (see `clean_question`).
        history: the earlier turns; only the last one (and, for "还有呢", the run of
            turns that asked the same question) is used.
    """
    if not history:
        return Resolution(question)
    prev = history[-1]
    prefer = prev.article_id
    english = analyze(question).english
    bare = _bare(question)
    written = _strip_leading(question.strip(_MARKS)).strip(_MARKS)  # `bare` as the user wrote it
    if not bare:
        return Resolution(question)

    if (_MORE_EN if english else _MORE).search(bare):
        given = _answers_given(history)
        return Resolution(prev.understood, Rule.MORE, prefer, given)
    if (_REASON_EN if english else _REASON).match(bare):
        return Resolution(_why(prev, english), Rule.REASON, prefer)
    substituted = _substitute_en(bare, prev) if english else _substitute(bare, written, prev)
    if substituted:
        return Resolution(substituted, Rule.SUBSTITUTION, prefer)
    replaced = _replace_pronouns_en(question, prev) if english else _replace_pronouns(question, prev)
    if replaced is not None:
        return Resolution(replaced, Rule.PRONOUN, prefer)
    if not english and _lacks_subject(question):
        subject = topic(prev.understood)
        if subject:
            rest = _strip_leading(question)
            # "…生产总值同比" + "同比增长多少": the words both have are said once.
            overlap = next(
                (n for n in range(min(len(subject), len(rest)), 0, -1) if subject.endswith(rest[:n])), 0
            )
            return Resolution(subject[: len(subject) - overlap] + rest, Rule.ELLIPSIS, prefer)
    return Resolution(question)


def _answers_given(history: Sequence[Turn]) -> tuple[str, ...]:
    """The answers of the last turns that asked the same question ("还有呢" after "还有呢")."""
    asked = history[-1].understood
    given: list[str] = []
    for turn in reversed(history):
        if turn.understood != asked:
            break
        if turn.answer and turn.answer not in given:
            given.append(turn.answer)
    return tuple(given)


def _why(prev: Turn, english: bool) -> str:
    said = statement(prev)
    if english:
        return f"Why {said[:1].lower() + said[1:]}?"
    return f"为什么{said}？"


def _substitute(bare: str, written: str, prev: Turn) -> str | None:
    """ "那下半年呢" after "全市上半年地区生产总值是多少": 下半年 takes the place of 上半年."""
    match = _SUBSTITUTE.match(bare)
    if not match or len(written) != len(bare):
        return None
    new = written[: match.end(1)].strip(_MARKS)
    if not new or analyze(new).wh:
        return None
    new_toks = [t for t in _tokens(new) if t.word.strip()]
    kinds = [_kind(t) for t in new_toks]
    kind = next((k for k in kinds if k and k != "noun"), "noun" if "noun" in kinds else "")
    old = prev.understood
    q = analyze(old)
    wh_end = q.wh_start + len(q.wh) if q.wh else len(old)
    toks = [t for t in _tokens(old) if not (q.wh and t.start < wh_end and t.end > q.wh_start)]
    same = [t for t in toks if _kind(t) == kind] if kind else []
    if kind == "noun":  # a noun replaces the noun it resembles ("市长" for "市委书记") ...
        same = [t for t in same if set(normalize(t.word)) & set(normalize(new))]
    if same:
        target = max(same, key=lambda t: (len(set(normalize(t.word)) & set(normalize(new))), t.start))
        return old[: target.start] + new + old[target.end :]
    subject = topic(old)
    if kind == "time" and subject:
        at = old.find(subject)
        # A time goes after the place that starts the topic ("南宁" + "去年" + ...), else in front.
        first = _tokens(subject)[0]
        if first.tag == "ns":
            at += first.end
        return old[:at] + new + old[at:]
    if subject:  # ... else the whole topic ("那加勒比海舰队呢" after "骑兵团由谁带领")
        at = old.find(subject)
        return old[:at] + new + old[at + len(subject) :]
    return None


def _substitute_en(bare: str, prev: Turn) -> str | None:
    match = _SUBSTITUTE_EN.match(bare)
    if not match:
        return None
    new = re.sub(r"^(the|a|an) ", "", (match.group(1) or match.group(2) or "").strip(_MARKS))
    if not new:
        return None
    old = prev.understood.strip(_MARKS)
    for pattern in (r"\b(19|20)\d\d\b", r"\b(first|second) (half|quarter)\b|\b(q[1-4])\b"):
        if re.search(pattern, new, re.IGNORECASE) and re.search(pattern, old, re.IGNORECASE):
            return re.sub(pattern, lambda _: new, old, count=1, flags=re.IGNORECASE) + "?"
    names = list(re.finditer(r"(?<!^)\b[A-Z][\w-]*(?: [A-Z][\w-]*)*", old))
    if new[:1].isupper() and names:
        last = names[-1]
        return old[: last.start()] + new + old[last.end() :] + "?"
    return f"{old} ({new})?"


def _person(prev: Turn) -> str | None:
    """Who 他/她 is: the previous answer when it was a person, else the person the previous
    question named."""
    q = analyze(prev.understood)
    if prev.answer and q.qtype is QType.PERSON:
        return prev.answer
    for tok in _tokens(prev.understood):
        if tok.tag in ("nr", "nrfg") and len(tok.word) >= 2:
            return tok.word
    return None


def _place(pronoun: str, prev: Turn) -> str | None:
    """Where 该市 is: the place the previous question named that ends in 市 (or any place it
    named), else the previous answer when it was a place."""
    suffix = pronoun[-1] if pronoun[-1] in "市县区省州镇村" else ""
    toks = _tokens(prev.understood)
    for i, tok in enumerate(toks):
        if suffix and normalize(tok.word).endswith(suffix) and len(tok.word) > 1:
            j = i  # "瓦士" + "本市": the name runs back over the words before it
            while j > 0 and toks[j - 1].tag in ("nr", "ns", "nz", "n", "j"):
                j -= 1
            return prev.understood[toks[j].start : tok.end]
    named = next((t.word for t in toks if t.tag == "ns"), None)
    if named:
        return named
    q = analyze(prev.understood)
    return prev.answer if prev.answer and q.qtype is QType.PLACE else None


def _phrase_ending_in(noun: str, text: str) -> str | None:
    """The phrase of `text` that `这个<noun>` points at: a 《title》 holding the noun, or the run
    of words that ends with it."""
    norm_noun = normalize(noun)
    for title in re.finditer(r"《[^》]{1,40}》", text):
        if norm_noun in normalize(title.group(0)):
            return title.group(0)
    toks = _tokens(text)
    for i, tok in enumerate(toks):
        if normalize(tok.word).endswith(norm_noun) or (
            norm_noun.endswith(normalize(tok.word)) and normalize(text[: tok.end]).endswith(norm_noun)
        ):
            j = i
            while j > 0 and (_is_nominal(toks[j - 1]) or toks[j - 1].tag in ("v", "vn", "uj", "m", "a", "f")):
                if toks[j - 1].tag in ("uj",) and j - 1 == 0:
                    break
                j -= 1
            while j < i and not _is_nominal(toks[j]):
                j += 1
            return text[toks[j].start : tok.end]
    return None


def _replace_pronouns(question: str, prev: Turn) -> str | None:
    """他/她 → a person, 该市 → a place, 这个条例 → the phrase that ends in 条例, 它 → the topic.

    Returns None when the question has no pronoun; the question unchanged when it points
    at something ("这次会议") the previous turn doesn't name.
    """
    toks = _tokens(question)
    out: list[str] = []
    replaced = unresolved = False
    i = 0
    subject = topic(prev.understood)
    while i < len(toks):
        tok = toks[i]
        word = normalize(tok.word)
        target: str | None = None
        span = 1
        if word in _PERSON_PRONOUNS:
            target = _person(prev)
        elif word in _PLACE_PRONOUNS:
            target = _place(word, prev)
        elif word in _IT_PRONOUNS:
            target = subject or None
        elif word in _DEMONSTRATIVES or (word[:1] in ("这", "该", "此") and word[1:] in _CLASSIFIERS):
            j = i + 1
            if j < len(toks) and normalize(toks[j].word) in _CLASSIFIERS and j + 1 < len(toks):
                j += 1
            if j < len(toks) and _is_nominal(toks[j]):
                noun = toks[j].word
                span = j - i + 1
                asked = analyze(prev.understood)
                if prev.answer and asked.category and normalize(noun) == asked.category:
                    target = prev.answer  # "哪一个条约?" → 《巴黎和约》, then "这个条约" is that answer
                else:
                    target = _phrase_ending_in(noun, prev.understood)
                if target is None and prev.title:
                    target = _phrase_ending_in(noun, prev.title)
                unresolved = unresolved or target is None
        if target:
            out.append(target)
            replaced = True
            i += span
            continue
        out.append(tok.word)
        i += 1
    if not replaced:
        # "这次会议" that the previous turn doesn't name: still a follow-up (its article is preferred)
        return question if unresolved else None
    return _strip_leading("".join(out))


def _replace_pronouns_en(question: str, prev: Turn) -> str | None:
    if not _PERSON_EN.search(question):
        return None
    person = _person(prev) if analyze(prev.understood).qtype is QType.PERSON else None
    if not person:
        return question  # a follow-up all the same: its article is preferred

    def swap(match: re.Match[str]) -> str:
        return person + "'s" if match.group(1).lower() in ("his", "their") else person

    return _PERSON_EN.sub(swap, question)


def _lacks_subject(question: str) -> bool:
    """Whether a question is only a predicate ("同比增长多少？", "在哪里举行？", "终点站是哪里？").

    A question that names something (a person, a place, an organisation, a 《title》,
    a Latin-letter name) or holds two nouns before its question word has its own subject.
    """
    q = analyze(question)
    if not q.wh:
        return False
    lead = _LEADING.match(normalize(question))
    begin = lead.end() if lead else 0
    quoted = [m.span() for m in re.finditer(r"“[^”]*”|「[^」]*」|\"[^\"]*\"", question)]
    toks = [
        t
        for t in _tokens(question)
        if t.start >= begin and t.word.strip(_MARKS) and not any(a < t.start < b for a, b in quoted)
    ]
    if any(t.tag in _ENTITY_TAGS for t in toks) or "《" in question:
        return False  # a name (not one in quotes: "为什么被称为“金嗓子”") is a subject
    nouns = [t for t in toks if _is_nominal(t) and t.word[0].isalnum() and _kind(t) != "time"]
    before = [t for t in nouns if t.end <= q.wh_start]
    after = [t for t in nouns if t.start >= q.wh_start + len(q.wh)]
    if len(before) >= 2:
        return False
    if not before and q.wh_start <= begin and len(after) >= 2:
        return False  # "谁获得了大赛的一等奖？": the question word first, its subject after it
    return len(normalize(question[begin:]).strip(_MARKS)) <= 14
