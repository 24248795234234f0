"""The API docs (/docs: Swagger UI, /redoc: ReDoc) and the favicon, all served from here.

The Swagger UI and ReDoc scripts come from the `fastapi-offline` package
(mounted at /docs-assets/ by app.py), not from a CDN, so the docs work
offline; the pages start them with /static/docs.js, not inline script. Their
Content-Security-Policy is the other pages' with one addition: inline styles,
which both put in <style> elements.
"""

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from newsqa.web.pages import DOCS_CSP, HERE, render

router = APIRouter(tags=["pages"], include_in_schema=False)


def assets_dir() -> Path:
    """Swagger UI's and ReDoc's files, as the fastapi-offline package ships them."""
    return Path(str(files("fastapi_offline") / "static"))


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    return render(request, "docs.html", {"ui": "swagger"}, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    return render(request, "docs.html", {"ui": "redoc"}, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/favicon.ico")
async def favicon() -> Response:
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")
