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

from newsqa.index.text import CLOSERS, STOPWORDS, ends_sentence, is_cjk, normalize

# Datelines that open a news body, Chinese and English wire styles.
_DATELINE = re.compile(
    r"""^(?:
        [^\s，,。:：]{0,12}?(?:日报|晚报|早报|时报|商报|都市报|新闻网|新闻|报|网|日報|晚報|時報|報|網)(?:消息|讯|訊)
      | 本[报報][^，,。\s]{0,14}?[电電]
      | (?:新华社|新華社|中新社|中新网|中新網|人民网|人民網|央视网|新华网|光明网|中国新闻网|央广网|国际在线
         |路透社|美联社|美聯社|法新社|共同社)
        [^，,。]{0,24}?(?:电|電|消息|讯|訊|报道|報道)
      | 据[^，,。]{1,16}?(?:报道|消息)[,，]
      | [（(【\[](?:[^）)】\]]{0,12}(?:记者|記者)|通讯员|通訊員)[^）)】\]]{0,40}[）)】\]]
      | [A-Z][A-Z.'\- ]{2,40}(?:,\s+[A-Z][a-z]{2,4}\.?\s+\d{1,2})?\s*(?:\([A-Za-z .]{2,30}\))?\s*[-—–]{1,2}\s
    )""",
    re.VERBOSE,
)
_BRACKETED = re.compile(r"\s*[（(【\[]([^（）()【】\[\]]{1,40})[）)】\]]")
_BRACKETED_BYLINE = re.compile(
    r"^[（(【\[]((?:[^（）()【】\[\]]{0,12}(?:记者|記者)|通讯员|通訊員)[^（）()【】\[\]]{0,40})[）)】\]]$"
)
_BYLINE_LINE = re.compile(
    r"^[□■◎●◆]?\s*(?:本报|本報|本刊|特约|特約)?(?:全媒体|全媒體)?(?:首席)?(?:见习|見習)?"
    r"(?:记者|記者|通讯员|通訊員|实习生|實習生|撰稿|撰文|文[／/:：\s]|文·|图[／/:：]|圖[／/:：]|作者[:：\s])"
    r"|^By [A-Z][a-z]+"
)
_CAPTION = re.compile(
    r"^[（(]?(?:上|下|左|右|本|题|组|題|組)?[图圖][为為：:\d一二三四五六]|^[图圖]/"
    r"|^(?:图片|圖片|图片来源|圖片來源|图源|圖源|摄影|攝影|供图|供圖)\s*[：:]"
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
    r"|^[A-Z]\d{1,3}\s*[\u4e00-\u9fff]{0,6}$|^\d{1,3}\s+[\u4e00-\u9fff]{1,6}$|^今日\s*\d{1,3}\s*版$"
    r"|^本版(?:責編|編輯)|^(?:責任編輯|責編|編輯|校對|美術|美編)\s*[：:]"
    # a date line, alone or after the paper's name: "2024年7月11日", "西岭日报 2024年3月8日"
    r"|^\S{0,8}\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*(?:星期[一二三四五六日天])?$"
    r"|^Page\s+[A-Z]?\d{1,3}\b|第\s*[A-Z]?\d{1,3}\s*版|\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*星期[一二三四五六日天]"
)
# A line that gives the headline an article had before it was reprinted.
ORIGINAL_TITLE = re.compile(r"^[（(【\[]?\s*原(?:标题|標題|题|題)\s*[：:]")
# A headline line that ends on one of these, or a line that begins with one of
# the others, is half of a headline printed on two lines.
_TITLE_CONTINUES_AFTER = frozenset("的在与和及对为将把被从向给于让、,，:：—-《“「（(")
_TITLE_CONTINUES_BEFORE = frozenset("的了着过》”」）)、，,")
_ENGLISH_TITLE_CONTINUES_AFTER = frozenset(
    "a an the of to in on at for and or with from by as its their".split()
)

HEADLINE_MAX_CJK = 40
HEADLINE_MAX_WORDS = 16
EXCLAIMED_MAX_CJK = 30
_EXCLAIM = frozenset("！？!?")
_QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"', "'": "'"}


class Kind(Enum):
    HEADLINE = "headline"
    BODY = "body"
    BYLINE = "byline"
    CAPTION = "caption"
    JUMP = "jump"
    FURNITURE = "furniture"
    ORIGINAL_TITLE = "original title"


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


def _is_quotation(line: str) -> bool:
    """Whether the whole line is one quotation ("“太好了！”"), not a headline that quotes a word."""
    close = _QUOTE_PAIRS.get(line[0])
    if close is None:
        return False
    end = line.find(close, 1)
    return end == -1 or end >= len(line) - 2


def _exclaimed_headline_shaped(line: str) -> bool:
    """A short line ending in ！ or ？ that would be headline-shaped without it.

    Such a line is a headline or a paragraph of its own ("怎么破解？"); the
    lines around it decide (see `_resolve_exclaimed`). A quotation is never a headline.
    """
    if len(line) < 2 or line[-1] not in _EXCLAIM or _is_quotation(line):
        return False
    head = line.rstrip("".join(_EXCLAIM))
    if not head or any(c in head for c in "。；;"):
        return False
    return _headline_shaped(head) and (_is_ascii_dominant(head) or len(line) <= EXCLAIMED_MAX_CJK)


def _classify(line: str) -> Kind:
    if _JUMP.match(line):
        return Kind.JUMP
    if _FURNITURE.search(line) and len(line) <= 40:
        return Kind.FURNITURE
    if len(line) <= 150 and _CAPTION.search(line):
        return Kind.CAPTION
    if ORIGINAL_TITLE.match(line) and len(line) <= 80:
        return Kind.ORIGINAL_TITLE
    if _BRACKETED_BYLINE.match(line):
        return Kind.BYLINE
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
    _resolve_exclaimed(lines, kinds)
    width = _wrap_width([line for line, k in zip(lines, kinds, strict=True) if k is not Kind.FURNITURE])

    def followed_by_dateline(i: int) -> bool:
        for j in range(i + 1, min(i + 5, len(lines))):
            if kinds[j] is Kind.BODY:
                return bool(_DATELINE.match(lines[j]))
            if kinds[j] not in (Kind.HEADLINE, Kind.BYLINE, Kind.ORIGINAL_TITLE):
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
                bracketed = _BRACKETED_BYLINE.match(line)
                current.byline = bracketed.group(1).strip() if bracketed else line
        elif kind is Kind.ORIGINAL_TITLE:
            current.subtitles.append(line)
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


def _content_units(text: str) -> set[str]:
    """What two stretches of text must share to be about the same thing: CJK character
    bigrams and English words, without the most common words."""
    folded = normalize(text)
    units = {a + b for a, b in zip(folded, folded[1:], strict=False) if is_cjk(a) and is_cjk(b)}
    units.update(w for w in re.findall(r"[a-z0-9]{3,}", folded) if w not in STOPWORDS)
    return units


def _resolve_exclaimed(lines: list[str], kinds: list[Kind]) -> None:
    """Decide which short lines ending in ！ or ？ are headlines, in place.

    One is a headline when what follows it opens an article (a sub-headline, a
    byline, a dateline, an original-title line), when nothing of a body comes
    before it, or when it shares words with the paragraphs after it and none
    with those before it. A paragraph of its own inside a body ("怎么破解？",
    "为什么要收费？") shares words with its own article, or none with either side.
    """
    skip = (Kind.CAPTION, Kind.FURNITURE)
    for i, line in enumerate(lines):
        if kinds[i] is not Kind.BODY or not _exclaimed_headline_shaped(line):
            continue
        prev = i - 1
        while prev >= 0 and kinds[prev] in skip:
            prev -= 1
        if prev >= 0 and kinds[prev] is Kind.BODY and not ends_sentence(lines[prev]):
            continue  # the tail of a paragraph cut by a column break
        nxt = i + 1
        while nxt < len(lines) and kinds[nxt] in skip:
            nxt += 1
        if nxt == len(lines) or kinds[nxt] is Kind.JUMP:
            continue
        opens_article = kinds[nxt] in (Kind.HEADLINE, Kind.BYLINE, Kind.ORIGINAL_TITLE) or bool(
            _DATELINE.match(lines[nxt])
        )
        if opens_article or prev < 0 or kinds[prev] in (Kind.HEADLINE, Kind.JUMP):
            kinds[i] = Kind.HEADLINE
            continue
        own = _content_units(line[:-1])
        before = _content_units(" ".join(_body_run(lines, kinds, prev, -1)))
        after = _content_units(" ".join(_body_run(lines, kinds, nxt, 1)))
        if own & after and not own & before:
            kinds[i] = Kind.HEADLINE


def _body_run(lines: list[str], kinds: list[Kind], start: int, step: int, most: int = 2) -> list[str]:
    """Up to `most` body lines from `start` going in `step` direction, past captions."""
    out: list[str] = []
    i = start
    while 0 <= i < len(lines) and len(out) < most:
        if kinds[i] is Kind.BODY:
            out.append(lines[i])
        elif kinds[i] is not Kind.CAPTION:
            break
        i += step
    return out


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
