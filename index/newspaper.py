"""Plain-text newspaper pages → articles.

A page extracted from print arrives in reading order: headline blocks (a title,
sometimes on two lines, then sub-headlines), a dateline opening the body
("本报讯", "新华社北京8月1日电", "日报消息(记者…)", "BEIJING (Reuters) -"),
paragraphs that a column break cut in mid-sentence, photo captions, page
furniture ("责任编辑：…") and jump lines ("(下转二版)") where an article goes on
elsewhere. A commentary's headline may sit after its body, beside the jump line.

The splitter works on cues of layout and punctuation only: a line is a
headline when it is short and does not end a sentence; a paragraph that does
not end a sentence continues in the next one. Nothing keys on any one paper.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from newsqa.index.text import CLOSERS, ends_sentence, is_cjk, normalize

# Datelines that open a news body, Chinese and English wire styles.
_DATELINE = re.compile(
    r"""^(?:
        [^\s，,。:：]{0,12}?(?:日报|晚报|早报|时报|商报|都市报|新闻网|新闻|报|网)(?:消息|讯)
      | 本报[^，,。\s]{0,14}?电
      | (?:新华社|中新社|中新网|人民网|央视网|新华网|光明网|中国新闻网|央广网|国际在线|路透社|美联社|法新社|共同社)
        [^，,。]{0,24}?(?:电|消息|讯|报道)
      | 据[^，,。]{1,16}?(?:报道|消息)[,，]
      | [（(](?:[^）)]{0,12}记者|通讯员)[^）)]{0,40}[）)]
      | [A-Z][A-Z.'\- ]{2,40}(?:,\s+[A-Z][a-z]{2,4}\.?\s+\d{1,2})?\s*(?:\([A-Za-z .]{2,30}\))?\s*[-—–]{1,2}\s
    )""",
    re.VERBOSE,
)
_BRACKETED = re.compile(r"\s*[（(]([^（）()]{1,40})[）)]")
_BYLINE_LINE = re.compile(
    r"^[□■◎●◆]?\s*(?:本报|本刊|特约)?(?:全媒体)?(?:首席)?(?:见习)?"
    r"(?:记者|通讯员|实习生|撰稿|撰文|文[／/:：\s]|文·|图[／/:：]|作者[:：\s])"
    r"|^By [A-Z][a-z]+"
)
_CAPTION = re.compile(
    r"^[（(]?(?:上|下|左|右|本|题|组)?图[为：:\d一二三四五六]|^图片[：:]|^图/"
    r"|[（(](?:资料图片|资料图|图片|新华社发|[^（）()]{0,24}摄)[）)]\s*$"
    r"|^\((?:Photo|Image|Picture)\b|^(?:Photo|Picture):",
    re.IGNORECASE,
)
_JUMP = re.compile(
    r"^[（(〔【\[]?\s*(?:下转|上接|紧转|转接|转|接|续)\s*(?:第\s*)?[A-Za-z]?\s*[0-9０-９一二三四五六七八九十百]+\s*版"
    r"[^）)〕】\]]{0,8}[）)〕】\]]?$"
    r"|^\(?\s*(?:continued|cont(?:inued)?\.?)\s+(?:on|from)\s+(?:page\s+)?[A-Z]?\d+\s*\)?$",
    re.IGNORECASE,
)
_JUMP_AWAY = re.compile(r"下转|紧转|^[（(〔【\[]?\s*转|continued\s+on", re.IGNORECASE)
_FURNITURE = re.compile(
    r"^(?:责任编辑|责编|编辑|校对|美编|版式|组版|视觉|值班|审核|本版编辑|本版责编)\s*[：:]"
    r"|^第?\s*[A-Z]?\d{1,3}\s*版(?:\s|$)|星期[一二三四五六日天]\s*$|^本版(?:主编|编辑)"
    r"|^[A-Z]\d{1,3}\s*[\u4e00-\u9fff]{0,6}$"
)
# A headline line that ends on one of these, or a line that begins with one of
# the others, is half of a headline printed on two lines.
_TITLE_CONTINUES_AFTER = frozenset("的在与和及对为将把被从向给于让、,，:：—-《“「（(")
_TITLE_CONTINUES_BEFORE = frozenset("的了着过》”」）)、，,")
_ENGLISH_TITLE_CONTINUES_AFTER = frozenset(
    "a an the of to in on at for and or with from by as its their".split()
)

HEADLINE_MAX_CJK = 40
HEADLINE_MAX_WORDS = 16


class Kind(Enum):
    HEADLINE = "headline"
    BODY = "body"
    BYLINE = "byline"
    CAPTION = "caption"
    JUMP = "jump"
    FURNITURE = "furniture"


@dataclass
class PageArticle:
    """An article as read off a page, before it gets an id and metadata."""

    title: str
    subtitles: list[str] = field(default_factory=list)
    byline: str | None = None
    paragraphs: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    continued: str | None = None
    datelined: list[bool] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def _is_ascii_dominant(line: str) -> bool:
    letters = sum(ch.isascii() and ch.isalpha() for ch in line)
    return letters > 2 * sum(is_cjk(ch) for ch in line)


def _headline_shaped(line: str) -> bool:
    if ends_sentence(line) or _DATELINE.match(line):
        return False
    if _is_ascii_dominant(line):
        return len(line.split()) <= HEADLINE_MAX_WORDS and line.count(", ") <= 1
    # Headlines run to a comma at most; a line with more is prose cut short.
    return len(line) <= HEADLINE_MAX_CJK and sum(line.count(c) for c in "，,、；;") <= 1


def _classify(line: str) -> Kind:
    if _JUMP.match(line):
        return Kind.JUMP
    if _FURNITURE.search(line) and len(line) <= 40:
        return Kind.FURNITURE
    if len(line) <= 150 and _CAPTION.search(line):
        return Kind.CAPTION
    if len(line) <= 40 and _BYLINE_LINE.match(line) and not ends_sentence(line):
        return Kind.BYLINE
    if _headline_shaped(line):
        return Kind.HEADLINE
    return Kind.BODY


def _wrap_width(lines: list[str]) -> int | None:
    """The width a hard-wrapped page was wrapped at, or None if lines were not wrapped."""
    lengths = [len(line) for line in lines if len(line) >= 12]
    if len(lengths) < 8:
        return None
    mode, _ = Counter(lengths).most_common(1)[0]
    near = sum(abs(n - mode) <= 2 for n in lengths)
    return mode if near >= 0.5 * len(lengths) else None


def _join(left: str, right: str) -> str:
    """Join two halves of a paragraph cut by a column break or a line wrap."""
    if left and right and left[-1].isascii() and right[0].isascii() and not left[-1].isspace():
        if left[-1].isalnum() or left[-1] in ",;:)":
            return f"{left} {right}"
    return left + right


def _dateline_byline(paragraph: str) -> str | None:
    m = _DATELINE.match(paragraph)
    if not m:
        return None
    head = m.group(0)
    inner = _BRACKETED.match(head)
    if inner and inner.end() == len(head):  # the dateline is "（记者 …）" itself
        return inner.group(1).strip()
    after = _BRACKETED.match(paragraph, m.end())
    if after:
        return after.group(1).strip()
    inside = re.search(r"[（(]([^（）()]{1,40})[）)]\s*$", head)
    return inside.group(1).strip() if inside else None


def _title_lines(lines: list[str]) -> tuple[str, list[str]]:
    """Split a headline block into the title (joining a two-line title) and sub-headlines."""
    title = lines[0]
    rest = list(lines[1:])
    while rest and _continues(title, rest[0]):
        title = _join(title, rest.pop(0)) if _is_ascii_dominant(title) else title + rest.pop(0)
    return title, rest


def _continues(first: str, second: str) -> bool:
    if _is_ascii_dominant(first):
        last_word = first.split()[-1].lower() if first.split() else ""
        return last_word in _ENGLISH_TITLE_CONTINUES_AFTER
    quoted = (
        (first[0] == "《" and first[-1] == "》" and "》" not in first[1:-1])
        or (first[0] == "“" and first[-1] == "”" and "”" not in first[1:-1])
        or (first[0] == "「" and first[-1] == "」" and "」" not in first[1:-1])
    )
    return quoted or first[-1] in _TITLE_CONTINUES_AFTER or second[0] in _TITLE_CONTINUES_BEFORE


def _bigrams(text: str) -> Counter[str]:
    folded = normalize(text)
    grams: Counter[str] = Counter()
    for a, b in zip(folded, folded[1:], strict=False):
        if (is_cjk(a) or a.isalnum()) and (is_cjk(b) or b.isalnum()):
            grams[a + b] += 1
    return grams


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    if not dot:
        return 0.0
    na = sum(v * v for v in a.values()) ** 0.5
    nb = sum(v * v for v in b.values()) ** 0.5
    return dot / (na * nb)


# The sentence that typically closes a news report: who attended, or a sign-off.
_REPORT_CLOSING = re.compile(
    r"(?:出席|参加|陪同|主持|参会|到会|列席|观摩|（完）|\(完\)|\bcontributed\b|\battended\b)[^。！？.!?]*[。！？.!?]?$"
)


def _topic_boundary(paragraphs: list[str], first: int) -> int:
    """Where one article's paragraphs end and the next one's begin.

    Two bodies that ran together (a report, then a commentary whose headline
    comes after it) are split where the words on either side overlap least,
    TextTiling-style over windows of up to three paragraphs, favouring a cut
    after a short paragraph that closes a report (who attended, a sign-off)
    and before a short opening paragraph.
    """
    grams = [_bigrams(p) for p in paragraphs]
    lengths = sorted(len(p) for p in paragraphs)
    short = lengths[len(lengths) // 2] / 2
    best, best_score = first, float("inf")
    for k in range(first, len(paragraphs)):
        left = sum(grams[max(0, k - 3) : k], Counter())
        right = sum(grams[k : k + 3], Counter())
        score = _cosine(left, right)
        before, after = paragraphs[k - 1], paragraphs[k]
        if len(before) < short and _REPORT_CLOSING.search(before):
            score -= 0.5
        if len(after) < short:
            score -= 0.2
        if score < best_score:
            best, best_score = k, score
    return best


def split_page(text: str) -> list[PageArticle]:
    """Split the plain text of a newspaper page into articles.

    Raises:
        ValueError: when the page holds no text.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("the page is empty")
    kinds = [_classify(line) for line in lines]
    width = _wrap_width([line for line, k in zip(lines, kinds, strict=True) if k is not Kind.FURNITURE])

    def followed_by_dateline(i: int) -> bool:
        for j in range(i + 1, min(i + 5, len(lines))):
            if kinds[j] is Kind.BODY:
                return bool(_DATELINE.match(lines[j]))
            if kinds[j] not in (Kind.HEADLINE, Kind.BYLINE):
                return False
        return False

    # Resolve headline-shaped lines that are really the tail of a cut paragraph
    # or the first line of a hard-wrapped one.
    open_paragraph = False
    for i, line in enumerate(lines):
        kind = kinds[i]
        if kind is Kind.HEADLINE:
            wrapped = (
                width is not None
                and len(line) >= width - 2
                and i + 1 < len(lines)
                and kinds[i + 1] is not Kind.HEADLINE
            )
            if (open_paragraph or wrapped) and not followed_by_dateline(i):
                kinds[i] = kind = Kind.BODY
        if kind is Kind.BODY:
            open_paragraph = not ends_sentence(line)
        elif kind in (Kind.HEADLINE, Kind.JUMP):
            open_paragraph = False

    articles: list[PageArticle] = []
    orphans = PageArticle(title="")  # text above the first headline
    current = orphans
    pending_break = False  # the last paragraph was cut by a column break
    i = 0
    while i < len(lines):
        kind, line = kinds[i], lines[i]
        if kind is Kind.HEADLINE:
            block = [line]
            while i + 1 < len(lines) and kinds[i + 1] is Kind.HEADLINE:
                i += 1
                block.append(lines[i])
            title, subtitles = _title_lines(block)
            nxt = i + 1
            while nxt < len(lines) and kinds[nxt] in (Kind.CAPTION, Kind.FURNITURE):
                nxt += 1
            if nxt < len(lines) and kinds[nxt] is Kind.JUMP:
                # A headline beside a jump line closes the body above it.
                trailing = PageArticle(title=title, subtitles=subtitles)
                _take_trailing_body(current, trailing)
                trailing.continued = lines[nxt] if _JUMP_AWAY.search(lines[nxt]) else None
                if current is not orphans and not current.paragraphs:
                    articles.remove(current)
                articles.append(trailing)
                current = PageArticle(title="")  # whatever follows has no headline yet
                i = nxt + 1
                pending_break = False
                continue
            current = PageArticle(title=title, subtitles=subtitles)
            articles.append(current)
            pending_break = False
        elif kind is Kind.BODY:
            if current.title == "" and current is not orphans and not current.paragraphs:
                articles.append(current)
            if pending_break and current.paragraphs:
                current.paragraphs[-1] = _join(current.paragraphs[-1], line)
            else:
                current.paragraphs.append(line)
                current.datelined.append(bool(_DATELINE.match(line)))
                if current.byline is None and current.datelined[-1]:
                    current.byline = _dateline_byline(line)
            pending_break = not ends_sentence(current.paragraphs[-1])
        elif kind is Kind.BYLINE:
            if current.byline is None:
                current.byline = line
        elif kind is Kind.CAPTION:
            current.captions.append(line)
        elif kind is Kind.JUMP:
            if _JUMP_AWAY.search(line):
                current.continued = line
            pending_break = False
        i += 1

    if orphans.paragraphs:
        articles.insert(0, orphans)
    result = []
    for article in articles:
        if not article.paragraphs:
            continue
        if not article.title:
            article.title = _derived_title(article.paragraphs[0])
        result.append(article)
    return result


def _take_trailing_body(current: PageArticle, trailing: PageArticle) -> None:
    """Move the paragraphs that belong to a trailing headline from `current` to `trailing`."""
    paragraphs = current.paragraphs
    if not paragraphs:
        return
    if current.title == "" or len(paragraphs) == 1:
        # Nothing above claims these paragraphs: they are all the trailing article's.
        cut = 0 if current.title == "" else len(paragraphs)
    else:
        # A body that opened with a dateline keeps at least its dateline paragraph.
        cut = _topic_boundary(paragraphs, first=1)
    trailing.paragraphs = paragraphs[cut:]
    trailing.datelined = current.datelined[cut:]
    current.paragraphs = paragraphs[:cut]
    current.datelined = current.datelined[:cut]


def _derived_title(paragraph: str) -> str:
    """A title for text that came without a headline: its first clause, shortened."""
    m = re.match(r"[^。！？!?；;，,]{1,30}", paragraph)
    title = m.group(0) if m else paragraph[:30]
    while title and title[-1] in CLOSERS:
        title = title[:-1]
    return title + ("…" if len(title) < len(paragraph) else "")
