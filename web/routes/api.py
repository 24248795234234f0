"""The JSON API: /ask, /healthz, /api/index, /admin/reload."""

import logging
import os
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query

from newsqa.config import TOP_K_MAX
from newsqa.errors import NewsQAError
from newsqa.index.filters import SearchFilter
from newsqa.qa.answerer import Answerer
from newsqa.web.conversations import ConversationStore
from newsqa.web.deps import AnswererDep, ConversationsDep, LiveDep, SettingsDep
from newsqa.web.schemas import (
    FILTER_SOURCES_MAX,
    FILTER_TEXT_MAX,
    AskRequest,
    AskResponse,
    ContextTurn,
    ErrorOut,
    HealthOut,
    ReloadOut,
    error_responses,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["api"])

ASK_ERRORS = error_responses(400, 404, 413, 422, 429, 431, 503)


class ConversationNotFound(NewsQAError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__(
            "no such conversation (it may have expired): send the question without "
            "conversation_id to start a new one"
        )


def answer(
    answerer: Answerer,
    conversations: ConversationStore,
    question: str,
    top_k: int,
    context: list[ContextTurn] | None,
    conversation_id: str | None,
    where: SearchFilter | None = None,
) -> AskResponse:
    """Answer one question of a conversation and remember its turn.

    The turns come from `context` when the client sends them, else from the stored
    conversation; a response always carries the id to continue it with.
    """
    if conversation_id is not None:
        stored = conversations.turns(conversation_id)
        if stored is None:
            raise ConversationNotFound()
    else:
        conversation_id, stored = conversations.new_id(), []
    turns = context if context is not None else stored
    result = answerer.ask(question, top_k=top_k, context=[t.to_turn() for t in turns], where=where)
    response = AskResponse.of(result, conversation_id)
    conversations.save(conversation_id, [*turns, ContextTurn.from_response(response)])
    return response


# ---------------------------------------------------------------- routes
@router.post("/ask", response_model=AskResponse, responses=ASK_ERRORS, summary="Answer a question")
def ask_post(
    body: AskRequest, answerer: AnswererDep, settings: SettingsDep, conversations: ConversationsDep
) -> AskResponse:
    """Answer one question from the index, with the passage and article it comes from.

    For a follow-up question ("那同比增长多少？", "What meeting did he attend?"), send
    the `conversation_id` of the previous response, or the earlier turns as `context`.
    """
    top_k = body.top_k if body.top_k is not None else settings.top_k
    where = body.search_filter()
    return answer(answerer, conversations, body.question, top_k, body.context, body.conversation_id, where)


@router.get("/ask", response_model=AskResponse, responses=ASK_ERRORS, summary="Answer a question (GET)")
def ask_get(
    answerer: AnswererDep,
    settings: SettingsDep,
    conversations: ConversationsDep,
    q: Annotated[str, Query(description="The question.", examples=["谁出席了会议？"])],
    top_k: Annotated[
        int | None, Query(ge=1, le=TOP_K_MAX, description=f"Supporting passages to return, 1 to {TOP_K_MAX}.")
    ] = None,
    conversation_id: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9_-]{16,64}$",
            description="Continue the conversation an earlier /ask returned.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        Query(max_length=FILTER_TEXT_MAX, description="Only articles published on or after this day."),
    ] = None,
    until: Annotated[
        str | None,
        Query(max_length=FILTER_TEXT_MAX, description="Only articles published on or before this day."),
    ] = None,
    source: Annotated[
        # An empty name filters nothing: refused, so that the schema says what is accepted
        # (a query string cannot tell an empty list item from a missing one).
        list[Annotated[str, Query(min_length=1, max_length=FILTER_TEXT_MAX)]] | None,
        Query(
            max_length=FILTER_SOURCES_MAX, description="Only articles from this source (repeat for several)."
        ),
    ] = None,
) -> AskResponse:
    """Same as POST /ask, for links and curl."""
    top_k = top_k if top_k is not None else settings.top_k
    where = SearchFilter.of(since, until, source)
    return answer(answerer, conversations, q, top_k, None, conversation_id, where)


@router.get("/healthz", response_model=HealthOut, responses=error_responses(503))
async def healthz(live: LiveDep) -> dict[str, Any]:
    """Whether an index is loaded, and which generation of it."""
    live.current()  # 503 with the reason when none is
    return {"ok": True, "generation": live.generation, "worker": os.getpid()}


@router.get("/api/index", responses=error_responses(503))
async def index_info(answerer: AnswererDep, live: LiveDep) -> dict[str, Any]:
    """What the loaded index holds and how it was built (its manifest)."""
    snapshot = answerer.snapshot
    return {
        "backend": live.backend.name,
        "index": live.location,
        "generation": snapshot.generation,
        **snapshot.manifest.to_dict(),
    }


@router.post(
    "/admin/reload",
    response_model=ReloadOut,
    responses={**error_responses(401, 404), 503: {"model": ErrorOut}},
)
def reload_index(
    live: LiveDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Switch to the index's live generation now (every worker process does).

    Send `Authorization: Bearer $NEWSQA_RELOAD_TOKEN`.
    """
    if settings.reload_token is None:
        raise HTTPException(
            404, "reloading is off: start the server with NEWSQA_RELOAD_TOKEN set to turn it on"
        )
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.reload_token.get_secret_value().encode()
    # compare_digest takes as long whatever the token's content: no timing hint about it.
    if not secrets.compare_digest(token.strip().encode(), expected) or scheme.lower() != "bearer":
        logger.warning("POST /admin/reload refused: missing or wrong token")
        raise HTTPException(
            401,
            "missing or wrong token: send the header `Authorization: Bearer <NEWSQA_RELOAD_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    previous = live.generation
    switched = live.reload()
    live.tell_others()
    return {"ok": True, "generation": live.generation, "previous": previous, "switched": switched}
