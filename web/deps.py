"""What routes depend on: the settings, the live answerer, the conversations.

The functions are async although they only read `app.state`: FastAPI runs a
sync dependency in the thread pool, a hop per dependency per request.
"""

from typing import Annotated

from fastapi import Depends, Request

from newsqa.config import Settings
from newsqa.qa.answerer import Answerer
from newsqa.web.conversations import ConversationStore
from newsqa.web.live import LiveAnswerer


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_live(request: Request) -> LiveAnswerer:
    return request.app.state.live


async def get_answerer(request: Request) -> Answerer:
    """The answerer for this request: a request keeps it even if the index is swapped meanwhile."""
    return request.app.state.live.current()


async def get_conversations(request: Request) -> ConversationStore:
    return request.app.state.conversations


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveDep = Annotated[LiveAnswerer, Depends(get_live)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
