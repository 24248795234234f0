"""The web app: `create_app(settings)` wires the parts together; the index loads in the
lifespan, not at import.

    schemas.py  the HTTP shapes (AskRequest, AskResponse, errors)
    pages.py    templates, page headers, links, reply messages
    errors.py   every failure rendered in one place
    guards.py   size, encoding and rate limits; security headers
    live.py     the answerer in use, switched when the index is rebuilt
    conversations.py  the conversations kept for API clients
    routes/     api (JSON), chat, articles, docs
"""

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsqa import __version__
from newsqa.config import Settings
from newsqa.index.vectors import one_thread_per_search
from newsqa.web import errors
from newsqa.web.conversations import ConversationStore
from newsqa.web.guards import Guards
from newsqa.web.live import LiveAnswerer
from newsqa.web.pages import HERE, templates
from newsqa.web.routes import api, articles, chat, docs

CONVERSATIONS_FILE = "conversations.sqlite"
RELOAD_FILE = "reload-requested"


def create_app(settings: Settings | None = None, run_dir: Path | None = None) -> FastAPI:
    """The newsqa web app over the index the settings name (`backend`, `index_dir`, `milvus_*`).

    Args:
        settings: defaults to `Settings()` (the environment).
        run_dir: a directory the server's worker processes share (the conversations, the
            reload signal); `newsqa serve` makes one. Default: a temporary one of this app's own.

    Returns:
        A FastAPI app whose lifespan loads the index once and, when
        `settings.watch_index`, follows rebuilds of it.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_dir = None if run_dir is not None else Path(tempfile.mkdtemp(prefix="newsqa-serve-"))
        shared = run_dir or own_dir
        assert shared is not None
        live = LiveAnswerer(settings, reload_signal=shared / RELOAD_FILE)
        app.state.live = live
        app.state.conversations = ConversationStore(
            shared / CONVERSATIONS_FILE, settings.conversation_ttl_s, settings.conversations_max
        )
        one_thread_per_search()  # requests run side by side: each search on one thread
        await anyio.to_thread.run_sync(live.load)
        live.start_watching()
        try:
            yield
        finally:
            live.stop_watching()
            app.state.conversations.close()
            if own_dir is not None:
                shutil.rmtree(own_dir, ignore_errors=True)

    app = FastAPI(
        title="newsqa",
        version=__version__,
        summary="Question answering over news: the exact answer from the paper, with its article.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=docs.assets_dir()), name="docs-assets")
    for module in (api, chat, articles, docs):
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(Guards, settings=settings)
    return app
