"""The JSON API: /ask, /healthz, /api/index, /admin/reload."""

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from pydantic import BaseModel, Field, StrictInt, StrictStr

from newsqa.web.deps import AnswererDep, LiveDep, SettingsDep

router = APIRouter(tags=["api"])

TOP_K_MAX = 20


# ---------------------------------------------------------------- models (the HTTP edge only)
class AskRequest(BaseModel):
    question: StrictStr = Field(
        description="The question, in Chinese or English.", examples=["柳州市委书记是谁？"]
    )
    top_k: Annotated[StrictInt, Field(ge=1, le=TOP_K_MAX)] | None = Field(
        None, description=f"Supporting passages to return, 1 to {TOP_K_MAX} [default 5]."
    )


class AnswerOut(BaseModel):
    text: str = Field(description="The answer, verbatim from the article.")
    sentence: str = Field(description="The sentence the answer is in.")
    confidence: float
    article_id: str
    passage_id: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    also_in: list[str] = Field(default_factory=list, description="Other sources that printed the same story.")
    start: int = Field(description="Offset of the answer in the article text (characters).")
    end: int


class PassageOut(BaseModel):
    passage_id: str
    article_id: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    also_in: list[str] = Field(default_factory=list, description="Other sources that printed the same story.")
    text: str
    score: float
    start: int = Field(description="Offset of the passage in the article text (characters).")
    end: int


class AskResponse(BaseModel):
    question: str
    answer: AnswerOut | None = Field(description="null when no passage answers the question.")
    passages: list[PassageOut] = Field(
        description="Supporting passages, one per article, the cited one first."
    )
    took_ms: float


class ErrorOut(BaseModel):
    ok: bool = False
    error: str


class HealthOut(BaseModel):
    ok: bool
    generation: str | None


class ReloadOut(BaseModel):
    ok: bool
    generation: str | None
    previous: str | None
    switched: bool


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Empty or too long question"},
    422: {"model": ErrorOut, "description": "Malformed request"},
    503: {"model": ErrorOut, "description": "No index is loaded"},
}


def _top_k(top_k: int | None, default: int) -> int:
    return top_k if top_k is not None else min(default, TOP_K_MAX)


# ---------------------------------------------------------------- routes
@router.post("/ask", response_model=AskResponse, responses=ERRORS, summary="Answer a question")
def ask_post(body: AskRequest, answerer: AnswererDep, settings: SettingsDep) -> dict:
    """Answer one question from the index, with the passage and article it comes from."""
    return answerer.ask(body.question, top_k=_top_k(body.top_k, settings.top_k)).to_dict()


@router.get("/ask", response_model=AskResponse, responses=ERRORS, summary="Answer a question (GET)")
def ask_get(
    answerer: AnswererDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="The question.", examples=["柳州市委书记是谁？"])],
    top_k: Annotated[
        int | None, Query(ge=1, le=TOP_K_MAX, description="Supporting passages to return.")
    ] = None,
) -> dict:
    """Same as POST /ask, for links and curl."""
    return answerer.ask(q, top_k=_top_k(top_k, settings.top_k)).to_dict()


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": ErrorOut}})
def healthz(live: LiveDep) -> dict:
    """Whether an index is loaded, and which generation of it."""
    live.current()  # 503 with the reason when none is
    return {"ok": True, "generation": live.generation}


@router.get("/api/index", responses={503: {"model": ErrorOut}})
def index_info(answerer: AnswererDep, live: LiveDep) -> dict:
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
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
def reload_index(
    live: LiveDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict:
    """Switch to the index's live generation now.

    Send `Authorization: Bearer $NEWSQA_RELOAD_TOKEN`.
    """
    if not settings.reload_token:
        raise HTTPException(
            404, "reloading is off: start the server with NEWSQA_RELOAD_TOKEN set to turn it on"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), settings.reload_token.encode()
    ):
        raise HTTPException(
            401,
            "missing or wrong token: send the header `Authorization: Bearer <NEWSQA_RELOAD_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    previous = live.generation
    switched = live.reload()
    return {"ok": True, "generation": live.generation, "previous": previous, "switched": switched}
