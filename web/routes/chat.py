"""The pages: the chat (/) and the article pages (/articles/{id})."""

import re
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from newsqa.errors import ArticleNotFound, NewsQAError
from newsqa.qa.types import AskResult
from newsqa.web.app import render
from newsqa.web.deps import AnswererDep, LiveDep, SettingsDep

router = APIRouter(tags=["pages"], include_in_schema=False)

OTHER_PASSAGES = 3
HIGHLIGHT = "hl"  # the id the highlighted passage gets; links end in #hl so the browser scrolls there


# ---------------------------------------------------------------- links
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


# ---------------------------------------------------------------- one chat turn
def turn_view(result: AskResult) -> dict[str, Any]:
    """What _answer.html shows for one answered (or unanswered) question."""
    view: dict[str, Any] = {
        "question": result.question,
        "answer": None,
        "passages": [],
        "error": None,
    }
    others = result.hits
    answer = result.answer
    if answer is not None:
        at = max(0, answer.start - answer.sentence_start)
        sentence = answer.sentence
        if sentence[at : at + len(answer.text)] != answer.text:
            found = sentence.find(answer.text)
            at = found if found >= 0 else len(sentence)
        local = article_href(answer.article.id, answer.passage.id, answer.start, answer.end)
        url = safe_url(answer.article.url)
        view["answer"] = {
            "text": answer.text,
            "before": sentence[:at],
            "after": sentence[at + len(answer.text) :] if at < len(sentence) else "",
            "confidence": answer.confidence,
            "title": answer.article.title,
            "source": answer.article.source,
            "published": answer.article.published,
            "href": url or local,
            "local_href": local if url else None,
        }
        others = [h for h in result.hits if h.passage.id != answer.passage.id]
    for hit in others[:OTHER_PASSAGES]:
        local = article_href(hit.article.id, hit.passage.id)
        url = safe_url(hit.article.url)
        view["passages"].append(
            {
                "title": hit.article.title,
                "source": hit.article.source,
                "published": hit.article.published,
                "text": hit.passage.text,
                "href": url or local,
                "local_href": local if url else None,
            }
        )
    return view


@router.get("/")
def chat_page(request: Request) -> Response:
    return render(request, "chat.html", {"turn": None, "question": ""})


@router.post("/")
def chat_form(
    request: Request,
    live: LiveDep,
    settings: SettingsDep,
    question: Annotated[str, Form()] = "",
) -> Response:
    """The chat without JavaScript: the form posts here and the reply is rendered on the server."""
    try:
        result = live.current().ask(question, top_k=settings.top_k)
    except NewsQAError as exc:
        turn: dict[str, Any] = {"question": question, "answer": None, "passages": [], "error": str(exc)}
        return render(request, "chat.html", {"turn": turn, "question": question}, exc.status_code)
    return render(request, "chat.html", {"turn": turn_view(result), "question": ""})


# ---------------------------------------------------------------- article pages
def _span(value: str | None, limit: int) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,9})-(\d{1,9})", value or "")
    if not match:
        return None
    start, end = int(match[1]), min(int(match[2]), limit)
    return (start, end) if 0 <= start < end else None


def paragraphs(
    text: str, passage: tuple[int, int] | None, answer: tuple[int, int] | None
) -> list[list[dict]]:
    """The article's paragraphs as runs of text, each marked as plain, passage or answer.

    The first highlighted run gets `anchor`, so the page can carry the id the links point to.
    """
    cuts = {0, len(text)}
    for span in (passage, answer):
        if span:
            cuts.update(span)
    out: list[list[dict]] = []
    anchored = False
    offset = 0
    for line in text.split("\n"):
        start, end = offset, offset + len(line)
        offset = end + 1
        if not line.strip():
            continue
        points = sorted({start, end, *(c for c in cuts if start < c < end)})
        runs = []
        for a, b in zip(points, points[1:], strict=False):
            kind = ""
            if answer and answer[0] <= a and b <= answer[1]:
                kind = "answer"
            elif passage and passage[0] <= a and b <= passage[1]:
                kind = "passage"
            anchor = bool(kind) and not anchored
            anchored = anchored or anchor
            runs.append({"text": text[a:b], "kind": kind, "anchor": anchor})
        out.append(runs)
    return out


@router.get("/articles/{article_id:path}")
def article_page(
    request: Request,
    article_id: str,
    answerer: AnswererDep,
    p: Annotated[str | None, Query(description="Passage id to highlight.")] = None,
    a: Annotated[str | None, Query(description="Answer span start-end (article offsets).")] = None,
) -> Response:
    snapshot = answerer.snapshot
    article = snapshot.article(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    passage_span = None
    if p:
        passage = snapshot.passage_by_id(p)
        if passage is not None and passage.article_id == article.id:
            passage_span = (passage.start, passage.end)
    answer_span = _span(a, len(article.text))
    context = {
        "article": article,
        "url": safe_url(article.url),
        "paragraphs": paragraphs(article.text, passage_span, answer_span),
        "highlighted": bool(passage_span or answer_span),
    }
    return render(request, "article.html", context)
