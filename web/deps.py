"""What routes depend on: the settings, the live answerer, the templates."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from newsqa.config import Settings
from newsqa.qa.answerer import Answerer
from newsqa.web.live import LiveAnswerer


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_live(request: Request) -> LiveAnswerer:
    return request.app.state.live


def get_answerer(request: Request) -> Answerer:
    """The answerer for this request: a request keeps it even if the index is swapped meanwhile."""
    return request.app.state.live.current()


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveDep = Annotated[LiveAnswerer, Depends(get_live)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
