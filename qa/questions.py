"""Question analysis: what kind of answer is wanted, and the words around the question word.

"该市去年常住人口是多少？" asks for a NUMBER; the words before 多少
("常住人口是") usually stand right before the answer in the source, and the
words after it right after. "是几路车" also names the unit the answer ends with (路).
"""

import re
from dataclasses import dataclass
from enum import Enum

from newsqa.index.text import STOPWORDS, is_punctuation, normalize, words


class QType(str, Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    REASON = "reason"
    MANNER = "manner"
    LIST = "list"
    DEFINITION = "definition"
    ENTITY = "entity"
    YESNO = "yesno"
    OTHER = "other"


# (pattern on normalised text, type); the first pattern found in the question wins,
# so longer and more specific ones come first.
_WH_PATTERNS: tuple[tuple[str, QType], ...] = tuple(
    (p, t)
    for group, t in (
        (
            "什么时候|什么时间|何时|哪一年|哪年|哪一天|哪天|哪个月|哪一月|几月|几号|何年|哪个时期|哪一时期|哪个朝代|哪个年代|多少年前|哪一个时期|何日|什么年代",
            QType.DATE,
        ),
        ("为什么|为何|什么原因|何故|原因是什么|原因为何", QType.REASON),
        ("多少|几|多久|多长|多大|多高|多远|多重|多深|多宽|多厚|多快|多少钱|百分之几|第几", QType.NUMBER),
        ("哪位|什么人|何人|谁", QType.PERSON),
        (
            "哪里|哪儿|什么地方|何处|何地|哪个国家|哪国|哪个城市|哪座城市|哪个地区|哪一地区|哪个省|哪座|哪个州",
            QType.PLACE,
        ),
        ("哪些", QType.LIST),
        ("怎么|怎样|如何|什么方式|什么方法", QType.MANNER),
        ("是否|能否|可否|可不可以|能不能|会不会|是不是|有没有", QType.YESNO),
        ("什么是|是什么|指什么|指的是什么|是指什么|意思是什么|何谓|什么意思", QType.DEFINITION),
        (
            "哪一个|哪一种|哪一类|哪一位|哪一家|哪一部|哪一支|哪一項|哪一|哪个|哪种|哪类|哪家|哪部|哪支|哪条|哪|什么|何种|何|啥",
            QType.ENTITY,
        ),
    )
    for p in group.split("|")
)
_WH_RE = re.compile("|".join(re.escape(p) for p, _ in sorted(_WH_PATTERNS, key=lambda x: -len(x[0]))))
_WH_TYPE = dict(_WH_PATTERNS)

_ENGLISH_WH: tuple[tuple[re.Pattern[str], QType], ...] = (
    (re.compile(r"\b(when|what year|what date|what time|which year|which day)\b"), QType.DATE),
    (re.compile(r"\b(why)\b"), QType.REASON),
    (
        re.compile(
            r"\b(how many|how much|how long|how old|how far|how big|how large|how high|what percentage|what number)\b"
        ),
        QType.NUMBER,
    ),
    (re.compile(r"\b(who|whom|whose)\b"), QType.PERSON),
    (re.compile(r"\b(where|which city|which country|which province)\b"), QType.PLACE),
    (re.compile(r"\b(how)\b"), QType.MANNER),
    (re.compile(r"^(is|are|was|were|do|does|did|can|could|will|has|have)\b"), QType.YESNO),
    (re.compile(r"\b(what is|what are|what does .* mean)\b"), QType.DEFINITION),
    (re.compile(r"\b(what|which)\b"), QType.ENTITY),
)

# Units and classifiers that can follow 几/多少 and end the answer ("几路" → "3路").
UNITS = tuple(
    sorted(
        """个 位 名 支 只 条 家 座 次 场 天 年 月 日 号 岁 路 人 辆 艘 架 件 本 部 种 项 所 层 米 公里 千米
        公斤 千克 克 吨 元 万元 亿元 美元 欧元 港元 英镑 日元 倍 分 秒 分钟 小时 周 星期 届 期 版 集 首 张
        台 户 块 间 栋 亩 平方米 平方公里 公顷 度 万 亿 千 百 成 枚 颗 匹 头 片 句 字 页 篇 份 节 段
        级 等 代 任 世纪 季 轮 局 盘 届 倍 毫米 厘米 英里 英尺 英寸 海里 升 毫升 瓦 千瓦 伏 卡 斤 两 码
        万人 万吨 千米 小時 萬 億 萬元 億元 个月 多 余""".split(),
        key=len,
        reverse=True,
    )
)


_CLASSIFIERS = frozenset(
    "个 位 名 所 种 条 家 部 支 座 项 类 届 场 次 本 首 款 只 间 块 张 件 份 门 样 段 片 些 处".split()
)


def _date_grain(wh: str) -> str:
    if "年" in wh or "朝代" in wh or "时期" in wh:
        return "year"
    if any(x in wh for x in ("天", "号", "日", "月")):
        return "day"
    return "when"


def _category(after: str) -> str:
    """The noun the question word asks about: "个民族建立的" → 民族."""
    for word, tag in _tag(after)[:3]:
        if word in _CLASSIFIERS or not word.strip():
            continue
        return word if tag.startswith("n") or tag in ("vn", "j", "l") else ""
    return ""


def _tag(text: str) -> list[tuple[str, str]]:
    import rjieba

    return rjieba.tag(text)


@dataclass(frozen=True)
class Question:
    """A question taken apart for reading."""

    text: str
    normalized: str
    qtype: QType
    wh: str  # the question word as it appears in `normalized` ("" when none was found)
    wh_start: int
    left: str  # normalised text before the question word
    right: str  # normalised text after it, question marks dropped
    unit: str  # the unit or classifier right after 几/多少, if any
    category: str  # the noun right after 哪个/什么 ("哪一个民族" → 民族), which the answer often ends with
    date_grain: str  # for dates: "year" (哪一年), "day" (哪一天, 几号) or "when" (什么时候), else ""
    passive: bool  # "被/由/受 + question word": the answer comes before the object in an active sentence
    left_terms: tuple[str, ...]  # content words before the question word
    right_terms: tuple[str, ...]  # content words after it
    terms: tuple[str, ...]  # content words, stopwords and the question word removed
    english: bool


def _strip_marks(text: str) -> str:
    return text.strip().strip("?？!！。. \u3000")


def analyze(question: str) -> Question:
    """Type a question by its question word and split it around that word."""
    norm = normalize(question)
    english = not any("\u4e00" <= c <= "\u9fff" for c in norm)
    qtype, wh, wh_start = QType.OTHER, "", len(norm)
    if english:
        for pattern, t in _ENGLISH_WH:
            m = pattern.search(norm)
            if m:
                qtype, wh, wh_start = t, m.group(0), m.start()
                break
    else:
        m = _WH_RE.search(norm)
        if m:
            wh, wh_start = m.group(0), m.start()
            qtype = _WH_TYPE[wh]
            if wh in ("什么", "何", "哪", "啥") and re.search(r"(什么|何)(时候|时间|年代)", norm):
                qtype = QType.DATE
        elif re.search(r"[吗嗎][?？]?$", norm):
            qtype, wh, wh_start = QType.YESNO, norm[-1], len(norm) - 1
    left = norm[:wh_start]
    right = _strip_marks(norm[wh_start + len(wh) :]) if wh else ""
    unit = ""
    if qtype is QType.NUMBER and wh in ("几", "多少", "第几"):
        after = norm[wh_start + len(wh) :]
        unit = next((u for u in UNITS if after.startswith(u)), "")
    category = ""
    if qtype in (QType.ENTITY, QType.PLACE, QType.LIST, QType.PERSON, QType.DATE) and wh:
        category = _category(norm[wh_start + len(wh) :])
    wh_chars = set(wh)
    content = []
    left_terms: list[str] = []
    right_terms: list[str] = []
    position = 0
    for w in words(norm):
        at = norm.find(w, position)
        position = at + len(w) if at >= 0 else position
        if w in STOPWORDS or all(is_punctuation(c) or c.isspace() for c in w):
            continue
        if wh and (wh in w or w in wh or set(w) <= wh_chars) or w == unit:
            continue
        content.append(w)
        (left_terms if at < wh_start else right_terms).append(w)
    return Question(
        text=question,
        normalized=norm,
        qtype=qtype,
        wh=wh,
        wh_start=wh_start,
        left=_strip_marks(left) if not wh else left.strip(),
        right=right,
        unit=unit,
        category=category,
        date_grain=_date_grain(wh) if qtype is QType.DATE else "",
        passive=bool(wh) and bool(re.search(r"[被由受][^，,。]{0,4}$", norm[:wh_start])),
        left_terms=tuple(dict.fromkeys(left_terms)),
        right_terms=tuple(dict.fromkeys(right_terms)),
        terms=tuple(dict.fromkeys(content)),
        english=english,
    )
