"""The one place errors become responses: `{"ok": false, "error"}` for the API, error.html
for pages, in one line that says what to do."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsqa.config import TOP_K_MAX
from newsqa.errors import NewsQAError
from newsqa.web.pages import render

logger = logging.getLogger(__name__)

# Paths that always answer JSON; the pages answer HTML; anything else follows the Accept header.
API_PREFIXES = ("/ask", "/api/", "/healthz", "/admin/", "/openapi.json", "/static/", "/docs-assets/")
PAGE_PREFIXES = ("/articles/", "/chat/")

EXAMPLE_BODY = '{"question": "…"}'


def install(app: FastAPI) -> None:
    """Route every failure of `app` through `error_response`."""
    app.add_exception_handler(NewsQAError, _newsqa_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    if path in ("/", "/docs", "/redoc") or path.startswith(PAGE_PREFIXES):
        return True
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status_code: int,
    message: str,
    headers: dict[str, str] | None = None,
    zh: str | None = None,
) -> Response:
    """An error as JSON (API, in English) or as error.html (pages, in Chinese when `zh` is given)."""
    if wants_html(request):
        context = {"status_code": status_code, "message": zh or message}
        response = render(request, "error.html", context, status_code)
        if headers:
            response.headers.update(headers)
        return response
    return JSONResponse({"ok": False, "error": message}, status_code=status_code, headers=headers)


async def _newsqa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NewsQAError)
    return error_response(request, exc.status_code, str(exc), getattr(exc, "headers", None), exc.zh)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = "nothing here: the chat is at /, the API at /ask (see /docs)"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"{request.method} is not allowed here (see /docs)"
    elif exc.status_code == 400 and message == "There was an error parsing the body":
        message = f"the request body could not be read: send JSON in UTF-8, e.g. {EXAMPLE_BODY}"
    return error_response(request, exc.status_code, message, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, validation_message(exc.errors()))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The path only: a query string or body may hold what the user typed.
    logger.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return error_response(request, 500, "internal error: the server log has the details")


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
                where = f'"{".".join(loc)}"' if loc else "the request body"
                messages.append(f"{where} must be a JSON object, e.g. {EXAMPLE_BODY}")
            continue
        field = ".".join(loc)
        if kind == "missing":
            example = (
                " (e.g. /ask?q=…)"
                if field == "q"
                else f", e.g. {EXAMPLE_BODY}"
                if field == "question"
                else ""
            )
            messages.append(f'"{field}" is required{example}')
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            messages.append(f'"{field}" must be between {_bounds(field)}, got {_json_repr(value)}')
        elif kind.startswith("int_"):
            messages.append(f'"{field}" must be a whole number, got {_json_repr(value)}')
        elif kind == "string_too_short":
            least = ctx.get("min_length", 1)
            messages.append(
                f'"{field}" must not be empty'
                if least == 1
                else f'"{field}" is too short: at least {least} characters'
            )
        elif kind.startswith("string_") and kind != "string_too_long":
            messages.append(f'"{field}" must be a string, got {_json_type(value)}')
        elif kind == "string_too_long":
            messages.append(f'"{field}" is too long: at most {ctx.get("max_length")} characters')
        elif kind == "too_long":
            messages.append(f'"{field}" is too long: at most {ctx.get("max_length")} items')
        elif kind == "list_type":
            messages.append(f'"{field}" must be a JSON array, got {_json_type(value)}')
        elif kind == "value_error":
            messages.append(f'"{field}": {str(ctx.get("error") or error.get("msg", "invalid value"))}')
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
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _bounds(field: str) -> str:
    return f"1 and {TOP_K_MAX}" if field in ("top_k", "k") else "the allowed limits"
