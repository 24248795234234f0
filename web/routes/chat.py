"""The chat: the page (/), its form without JavaScript (POST /), and one reply as an HTML
fragment for chat.js (POST /chat/turn).

Both paths render a reply with the same template from the same `AskResponse`
the JSON API returns. The conversation travels in the form: a hidden `context`
field holds the earlier turns as JSON, and each reply carries the updated one.
"""

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from newsqa.config import CONTEXT_TURNS_MAX, Settings
from newsqa.errors import NewsQAError
from newsqa.index.filters import SearchFilter
from newsqa.web.deps import LiveDep, SettingsDep
from newsqa.web.live import LiveAnswerer
from newsqa.web.pages import MESSAGES, language, render
from newsqa.web.schemas import FILTER_TEXT_MAX, AskResponse, Context, ContextTurn

router = APIRouter(tags=["pages"], include_in_schema=False)

EXAMPLE_ARTICLES = 3
_CONTEXT: TypeAdapter[list[ContextTurn]] = TypeAdapter(Context)


@dataclass(frozen=True)
class ChatFilters:
    """The chat's optional filter fields, as typed (kept in the form from one turn to the next)."""

    since: str = ""
    until: str = ""
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.source)


SinceField = Annotated[str, Form(max_length=FILTER_TEXT_MAX)]
UntilField = Annotated[str, Form(max_length=FILTER_TEXT_MAX)]
SourceField = Annotated[str, Form(max_length=FILTER_TEXT_MAX * 4)]


def _context(raw: str) -> list[ContextTurn]:
    """The earlier turns the form carries (JSON); a tampered field is a 422 like any bad input."""
    if not raw.strip():
        return []
    try:
        return _CONTEXT.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("form", "context", *e["loc"])} for e in exc.errors()]
        ) from exc


def context_json(turns: list[ContextTurn]) -> str:
    return json.dumps(
        [t.model_dump(exclude_none=True) for t in turns[-CONTEXT_TURNS_MAX:]], ensure_ascii=False
    )


def sources_of(text: str) -> list[str]:
    """The source names typed in the chat's filter: several separated by commas."""
    return [name.strip() for name in re.split(r"[,，、;；]", text) if name.strip()]


def reply_to(
    live: LiveAnswerer, settings: Settings, question: str, context: str, filters: ChatFilters
) -> dict[str, Any]:
    """What the templates need for one turn: the reply (or the error), and the conversation after it."""
    turns = _context(context)
    lang = language(question)
    view: dict[str, Any] = {
        "question": question.strip(),
        "lang": lang,
        "m": MESSAGES[lang],
        "history": turns,
        "reply": None,
        "error": None,
        "status_code": 200,
        "context_json": context_json(turns),
        "filters": filters,
    }
    try:
        where = SearchFilter.of(filters.since, filters.until, sources_of(filters.source))
        result = live.current().ask(
            question, top_k=settings.top_k, context=[t.to_turn() for t in turns], where=where
        )
    except NewsQAError as exc:
        view["error"] = exc.zh if lang == "zh" and exc.zh else str(exc)
        view["status_code"] = exc.status_code
        return view
    reply = AskResponse.of(result)
    view["reply"] = reply
    view["context_json"] = context_json([*turns, ContextTurn.from_response(reply)])
    return view


def _examples(live: LiveAnswerer) -> list[Any]:
    try:
        return live.current().snapshot.latest_articles(EXAMPLE_ARTICLES)
    except NewsQAError:
        return []


@router.get("/")
async def chat_page(request: Request, live: LiveDep) -> Response:
    context: dict[str, Any] = {
        "history": [],
        "reply": None,
        "error": None,
        "question": "",
        "context_json": "[]",
        "filters": ChatFilters(),
    }
    return render(request, "chat.html", {**context, "examples": _examples(live)})


@router.post("/")
def chat_form(
    request: Request,
    live: LiveDep,
    settings: SettingsDep,
    question: Annotated[str, Form()] = "",
    context: Annotated[str, Form(max_length=200_000)] = "",
    since: SinceField = "",
    until: UntilField = "",
    source: SourceField = "",
) -> Response:
    """The chat without JavaScript: the form posts here and the page comes back with the reply."""
    view = reply_to(live, settings, question, context, ChatFilters(since, until, source))
    return render(request, "chat.html", {**view, "examples": []}, view["status_code"])


@router.post("/chat/turn")
def chat_turn(
    request: Request,
    live: LiveDep,
    settings: SettingsDep,
    question: Annotated[str, Form()] = "",
    context: Annotated[str, Form(max_length=200_000)] = "",
    since: SinceField = "",
    until: UntilField = "",
    source: SourceField = "",
) -> Response:
    """One reply as an HTML fragment (`article.turn`), which chat.js appends to the page."""
    view = reply_to(live, settings, question, context, ChatFilters(since, until, source))
    return render(request, "_turn.html", view, view["status_code"])
