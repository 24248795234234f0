"""The article pages (/articles/{id}), with a passage and an answer highlighted."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from newsqa.errors import ArticleNotFound
from newsqa.web.deps import AnswererDep
from newsqa.web.pages import render, safe_url
from newsqa.web.schemas import valid_article_id

router = APIRouter(tags=["pages"], include_in_schema=False)


def _span(value: str | None, limit: int) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,9})-(\d{1,9})", value or "")
    if not match:
        return None
    start, end = int(match[1]), min(int(match[2]), limit)
    return (start, end) if 0 <= start < end else None


def paragraphs(
    text: str, passage: tuple[int, int] | None, answer: tuple[int, int] | None
) -> list[list[dict[str, Any]]]:
    """The article's paragraphs as runs of text, each marked as plain, passage or answer.

    The first highlighted run gets `anchor`, so the page can carry the id the links point to.
    """
    cuts = {0, len(text)}
    for span in (passage, answer):
        if span:
            cuts.update(span)
    out: list[list[dict[str, Any]]] = []
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
    # Ids are bound as SQL parameters and never touch the file system; junk doesn't reach the store.
    if not valid_article_id(article_id):
        raise ArticleNotFound(article_id)
    snapshot = answerer.snapshot
    article = snapshot.article(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    passage_span = None
    if p and valid_article_id(p):
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
