"""The web app: `create_app(settings)` builds it; the index loads in the lifespan, not at import."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsqa import __version__
from newsqa.config import Settings
from newsqa.errors import NewsQAError
from newsqa.web.live import LiveAnswerer

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent

# Paths that always answer JSON; the pages answer HTML; anything else follows the Accept header.
API_PREFIXES = ("/ask", "/api/", "/healthz", "/admin/", "/openapi.json", "/docs", "/static/")
PAGE_PREFIXES = ("/articles/",)

# The pages load nothing from elsewhere and run no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The newsqa web app over the index the settings name (`backend`, `index_dir`, `milvus_*`).

    Args:
        settings: defaults to `Settings()` (the environment).

    Returns:
        A FastAPI app whose lifespan loads the index once and, when
        `settings.watch_index`, follows rebuilds of it.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live = LiveAnswerer(settings)
        app.state.live = live
        await anyio.to_thread.run_sync(live.load)
        if settings.watch_index:
            live.start_watching()
        try:
            yield
        finally:
            live.stop_watching()

    app = FastAPI(
        title="newsqa",
        version=__version__,
        summary="Question answering over news: the exact answer from the paper, with its article.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = _templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from newsqa.web.routes import api, chat

    app.include_router(api.router)
    app.include_router(chat.router)

    app.add_exception_handler(NewsQAError, _newsqa_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["path_part"] = lambda value: quote(str(value), safe="")
    return Jinja2Templates(env=env)


# ---------------------------------------------------------------- errors
def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    if path == "/" or path.startswith(PAGE_PREFIXES):
        return True
    return "text/html" in request.headers.get("accept", "")


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A page from templates/, with the headers every page gets."""
    templates: Jinja2Templates = request.app.state.templates
    settings: Settings = request.app.state.settings
    context = {"max_question_chars": settings.max_question_chars, **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


def error_response(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The one place errors are rendered: `{"ok": false, "error"}` (API) or error.html (pages)."""
    if wants_html(request):
        response = render(
            request, "error.html", {"status_code": status_code, "message": message}, status_code
        )
        if headers:
            response.headers.update(headers)
        return response
    return JSONResponse({"ok": False, "error": message}, status_code=status_code, headers=headers)


async def _newsqa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NewsQAError)
    return error_response(request, exc.status_code, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"nothing at {request.url.path}: the chat is at /, the API at /ask (see /docs)"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"{request.method} is not allowed on {request.url.path} (see /docs)"
    return error_response(request, exc.status_code, message, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, validation_message(exc.errors()))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("%s %s failed", request.method, request.url.path)
    return error_response(request, 500, "internal error: the server log has the details")


EXAMPLE_BODY = '{"question": "柳州市委书记是谁？"}'


def validation_message(errors: Any) -> str:
    """Pydantic's list of problems as one readable line."""
    messages: list[str] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form")]
        kind = error.get("type", "")
        ctx = error.get("ctx") or {}
        value = error.get("input")
        if kind == "json_invalid":
            messages.append(
                f"the request body is not valid JSON ({ctx.get('error', 'decode error')}): "
                f"send {EXAMPLE_BODY}"
            )
            continue
        if not loc or kind in ("model_attributes_type", "dict_type"):
            if kind == "missing":
                messages.append(f"the request needs a JSON body, e.g. {EXAMPLE_BODY}")
            else:
                messages.append(f"the request body must be a JSON object, e.g. {EXAMPLE_BODY}")
            continue
        field = ".".join(loc)
        if kind == "missing":
            example = (
                " (e.g. /ask?q=柳州市委书记是谁？)"
                if field == "q"
                else f", e.g. {EXAMPLE_BODY}"
                if field == "question"
                else ""
            )
            messages.append(f'"{field}" is required{example}')
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            messages.append(f'"{field}" must be between {_bounds(field)}, got {_json_repr(value)}')
        elif kind.startswith("int_") or kind == "int_type":
            messages.append(f'"{field}" must be a whole number, got {_json_repr(value)}')
        elif kind.startswith("string_"):
            messages.append(f'"{field}" must be a string, got {_json_type(value)}')
        else:
            messages.append(f'"{field}": {error.get("msg", "invalid value")}')
    return "; ".join(messages) or "invalid request"


def _json_type(value: Any) -> str:
    names = {
        type(None): "null",
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _json_repr(value: Any) -> str:
    """A rejected value as the client wrote it (JSON), cut short."""
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _bounds(field: str) -> str:
    from newsqa.web.routes.api import TOP_K_MAX

    return f"1 and {TOP_K_MAX}" if field == "top_k" else "the allowed limits"
