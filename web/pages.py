"""Rendering the pages: the Jinja environment, the headers every page gets, links, and the
reply messages in Chinese and English.

Templates render from the API's own shapes (`AskResponse`), never from a
separate view of them; the helpers here only turn those fields into links and
marked-up sentences.
"""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from newsqa.config import Settings
from newsqa.web.schemas import AnswerOut

HERE = Path(__file__).parent
HIGHLIGHT = "hl"
"""The id the highlighted passage gets on an article page; links end in #hl so the browser scrolls there."""
OTHER_PASSAGES = 3

# Headers of every HTML page: nothing loads from elsewhere, no inline script runs, no
# other site may frame the page.
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The API docs: ReDoc and Swagger UI put their styles in <style> elements; scripts stay 'self'.
DOCS_CSP = CSP + "; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# What a reply says around the answer, in the language the question was asked in.
MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "no_answer": "没有找到答案",
        "no_answer_hint": "报纸里没有找到能回答这个问题的句子。可以换个问法，或看看下面的相关段落。",
        "filtered_out": "筛选的日期和来源里没有相关的文章。可以放宽筛选再问。",
        "source": "出处：",
        "local": "本地",
        "other_passages": "其他相关段落",
        "passages": "相关段落",
        "alternatives": "查看其他答案",
        "understood": "理解为：",
        "error": "出错了：",
        "pending": "正在查找…",
        "offline": "无法连接服务器，请检查网络后再试。",
        "unreadable": "服务器返回了无法读取的内容（HTTP {status}）。",
        "count": "（{n}）",
        "also_in": "另见：",
        "list_separator": "、",
    },
    "en": {
        "no_answer": "No answer found",
        "no_answer_hint": "No sentence in the papers answers this. Try asking another way, "
        "or look at the related passages below.",
        "filtered_out": "No article in the chosen days and sources is related. Widen the filter and ask again.",
        "source": "Source: ",
        "local": "local copy",
        "other_passages": "Other related passages",
        "passages": "Related passages",
        "alternatives": "See other answers",
        "understood": "Understood as: ",
        "error": "Error: ",
        "pending": "Searching…",
        "offline": "Cannot reach the server: check the connection and try again.",
        "unreadable": "The server sent something unreadable (HTTP {status}).",
        "count": " ({n})",
        "also_in": "also in ",
        "list_separator": ", ",
    },
}
# The messages chat.js shows itself (before or without a reply from the server).
SCRIPT_MESSAGES = ("pending", "offline", "unreadable", "error")

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def language(question: str) -> str:
    """ "en" for a question in English (Latin letters, no Chinese), else "zh"."""
    return "en" if _LATIN.search(question) and not _CJK.search(question) else "zh"


def safe_url(url: str | None) -> str | None:
    """An article's own link, only when it is http(s): a source could carry `javascript:`."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def article_href(
    article_id: str, passage_id: str | None = None, start: int | None = None, end: int | None = None
) -> str:
    """The local article page, highlighting a passage and an answer span inside it."""
    href = f"/articles/{quote(article_id, safe='')}"
    params = []
    if passage_id:
        params.append(f"p={quote(passage_id, safe='')}")
    if start is not None and end is not None:
        params.append(f"a={start}-{end}")
    if params:
        href += "?" + "&".join(params) + f"#{HIGHLIGHT}"
    return href


def marked(answer: AnswerOut) -> tuple[str, str, str]:
    """The answer's sentence as (before, answer, after), cut at the offsets the answer carries."""
    at = answer.start - answer.sentence_start
    sentence = answer.sentence
    if 0 <= at and sentence[at : at + len(answer.text)] == answer.text:
        return sentence[:at], answer.text, sentence[at + len(answer.text) :]
    return sentence, "", ""  # offsets that don't fit: show the sentence unmarked rather than guess


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.globals.update(
        article_href=article_href,
        marked=marked,
        language=language,
        MESSAGES=MESSAGES,
        OTHER_PASSAGES=OTHER_PASSAGES,
        script_messages=json.dumps(
            {lang: {k: m[k] for k in SCRIPT_MESSAGES} for lang, m in MESSAGES.items()}, ensure_ascii=False
        ),
    )
    return env


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page (or a fragment) from templates/, with the headers every page gets (`headers`
    override them)."""
    env: jinja2.Environment = request.app.state.templates
    settings: Settings = request.app.state.settings
    context = {"max_question_chars": settings.max_question_chars, **context}
    html = env.get_template(name).render(context)
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
