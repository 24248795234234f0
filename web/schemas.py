"""The HTTP edge's shapes: what /ask takes, what it returns, and the error body.

`AskResponse` documents and validates exactly what `AskResult.to_dict()` (the
one producer of the answer's JSON) returns, plus the id of the conversation the
server keeps. The JSON API returns it and the chat pages render from it, so the
three can't drift apart. To add a field to the answer, add it to
`AskResult.to_dict()` and here; to add one to the request (as the search
filters `since`, `until`, `source` are), add it to `AskRequest` and pass it on
in `routes/api.py`.
"""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StrictStr

from newsqa.config import CONTEXT_TURNS_MAX, TOP_K_MAX
from newsqa.errors import InvalidQuestion
from newsqa.index.filters import SearchFilter
from newsqa.qa.conversation import Turn
from newsqa.qa.types import AskResult
from newsqa.qa.validation import clean_text

ARTICLE_ID_MAX = 256
"""The longest article id the web layer passes on to the store."""
TEXT_MAX = 2000
"""The longest text of a context turn (a question, its resolved form, an answer)."""
FILTER_TEXT_MAX = 100
"""The longest date or source name a search filter takes."""
FILTER_SOURCES_MAX = 20
"""The most sources one search filter names."""
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _text(value: str) -> str:
    try:
        return clean_text(value, "the text")
    except InvalidQuestion as exc:  # pydantic turns ValueError into a 422 naming the field
        raise ValueError(str(exc)) from exc


def valid_article_id(value: str) -> bool:
    """Whether `value` may be an article id: short, printable, one line (ids are bound as SQL
    parameters and never become paths; this keeps junk from reaching the store at all)."""
    return 0 < len(value) <= ARTICLE_ID_MAX and value.isprintable()


def _article_id(value: str) -> str:
    if not valid_article_id(value):
        raise ValueError(f"an article id is 1 to {ARTICLE_ID_MAX} printable characters")
    return value


def _conversation_id(value: str) -> str:
    if not CONVERSATION_ID.fullmatch(value):
        raise ValueError("a conversation id is what an earlier /ask returned (16-64 of A-Z a-z 0-9 _ -)")
    return value


Text = Annotated[StrictStr, Field(max_length=TEXT_MAX), AfterValidator(_text)]
FilterDay = Annotated[StrictStr, Field(max_length=FILTER_TEXT_MAX)]
SourceName = Annotated[StrictStr, Field(max_length=FILTER_TEXT_MAX)]
Sources = SourceName | Annotated[list[SourceName], Field(max_length=FILTER_SOURCES_MAX)]
ArticleId = Annotated[StrictStr, AfterValidator(_article_id)]
ConversationId = Annotated[StrictStr, AfterValidator(_conversation_id)]


# ---------------------------------------------------------------- requests
class ContextTurn(BaseModel):
    """An earlier turn of the conversation, as the previous /ask returned it."""

    question: Text = Field(description="What was asked.")
    resolved_question: Text | None = Field(None, description="How it was understood (`resolved_question`).")
    answer: Text | None = Field(None, description="The answer's text (`answer.text`), null when none.")
    article_id: ArticleId | None = Field(
        None, description="The cited article (`answer.article_id`, else the first passage's)."
    )

    def to_turn(self) -> Turn:
        return Turn(self.question, self.resolved_question, self.answer, self.article_id)

    @classmethod
    def from_response(cls, response: "AskResponse") -> "ContextTurn":
        """The turn a response adds to its conversation."""
        answer = response.answer
        article = (
            answer.article_id if answer else (response.passages[0].article_id if response.passages else None)
        )
        return cls(
            question=response.question,
            resolved_question=response.resolved_question
            if response.resolved_question != response.question
            else None,
            answer=answer.text if answer else None,
            article_id=article,
        )


Context = Annotated[list[ContextTurn], Field(max_length=CONTEXT_TURNS_MAX)]


class AskRequest(BaseModel):
    question: StrictStr = Field(
        description="The question, in Chinese or English.", examples=["谁出席了会议？"]
    )
    top_k: Annotated[StrictInt, Field(ge=1, le=TOP_K_MAX)] | None = Field(
        None, description=f"Supporting passages to return, 1 to {TOP_K_MAX} [default 5]."
    )
    context: Context | None = Field(
        None,
        description="The earlier turns of this conversation, oldest first, for follow-up "
        f"questions (at most {CONTEXT_TURNS_MAX}).",
    )
    conversation_id: ConversationId | None = Field(
        None,
        description="Continue the conversation an earlier /ask returned; the server keeps "
        "its turns for a while (NEWSQA_CONVERSATION_TTL_S).",
    )
    since: FilterDay | None = Field(
        None, description="Only articles published on or after this day.", examples=["2024-08-01"]
    )
    until: FilterDay | None = Field(
        None, description="Only articles published on or before this day.", examples=["2024-08-31"]
    )
    source: Sources | None = Field(
        None,
        description="Only articles from this source, or from one of these (exact names).",
        examples=["新华社"],
    )

    def search_filter(self) -> SearchFilter | None:
        """The search filter the request asks for (BadFilter, a 422, for a date that is not one)."""
        return SearchFilter.of(self.since, self.until, self.source)


# ---------------------------------------------------------------- the response
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
    also_in: list[str] = Field(description="Other sources that printed the same story (wire copies).")
    start: int = Field(description="Offset of the answer in the article text (characters).")
    end: int
    sentence_start: int = Field(description="Offset of the sentence in the article text.")
    sentence_end: int


class PassageOut(BaseModel):
    passage_id: str
    article_id: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    also_in: list[str] = Field(description="Other sources that printed the same story (wire copies).")
    text: str
    score: float
    start: int = Field(description="Offset of the passage in the article text (characters).")
    end: int


class AskResponse(BaseModel):
    question: str
    resolved_question: str = Field(
        description="The question as understood in its conversation (equal to `question` "
        "when it was not a follow-up)."
    )
    answer: AnswerOut | None = Field(description="null when no passage answers the question.")
    alternatives: list[AnswerOut] = Field(description="Runner-up answers, best first.")
    passages: list[PassageOut] = Field(
        description="Supporting passages, one per article, the cited one first."
    )
    took_ms: float
    conversation_id: str | None = Field(
        None, description="Send it back as `conversation_id` to ask a follow-up question."
    )

    @classmethod
    def of(cls, result: AskResult, conversation_id: str | None = None) -> "AskResponse":
        """The response for one answered question."""
        return cls.model_validate({**result.to_dict(), "conversation_id": conversation_id})


# ---------------------------------------------------------------- the rest
class ErrorOut(BaseModel):
    ok: bool = False
    error: str


class HealthOut(BaseModel):
    ok: bool
    generation: str | None
    worker: int = Field(description="The process id of the worker that answered.")


class ReloadOut(BaseModel):
    ok: bool
    generation: str | None
    previous: str | None
    switched: bool


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes a route can answer."""
    described = {
        400: "Empty, too long or undecodable question",
        401: "Missing or wrong token",
        404: "Not found, or the endpoint is off",
        413: "Request body too large",
        422: "Malformed request",
        429: "Too many questions from this client (see Retry-After)",
        431: "Request headers too large",
        503: "No index is loaded",
    }
    return {code: {"model": ErrorOut, "description": described[code]} for code in codes}
