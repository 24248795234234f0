"""`newsqa serve` and `newsqa demo`."""

import socket
from pathlib import Path
from typing import Any

import click

from newsqa.cli.common import (
    backend_options,
    index_option,
    index_writer,
    serve_options,
    settings_from,
    verbose,
)
from newsqa.config import Settings


def sample_index_dir(settings: Settings) -> Path:
    """Where `newsqa demo` keeps its index of the bundled sample: beside the default index."""
    return settings.index_dir.parent / "sample-index"


def build_sample_index(settings: Settings) -> None:
    """Index the bundled sample page into `settings.index_dir`."""
    from newsqa.index.sources import SourceDefaults, read_sources
    from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir

    defaults = SourceDefaults(source=SAMPLE_SOURCE, published=SAMPLE_PUBLISHED)
    report = index_writer(settings).build(read_sources([sample_dir()], defaults))
    click.echo(report.summary(), err=True)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port or --host"
        ) from exc
    sock.set_inheritable(True)
    return sock


def run_server(settings: Settings, host: str, port: int, log: bool) -> None:
    """Run the web app in this process until Ctrl-C."""
    import uvicorn

    from newsqa.index.backend import open_backend
    from newsqa.web.app import create_app

    backend = open_backend(settings)
    backend.manifest()  # IndexNotFound (one line, before listening) when nothing is built there
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="info" if log else "warning",
        access_log=log,
        timeout_graceful_shutdown=5,
    )
    sock = _bind(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    index = backend.location

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                click.echo(f"newsqa: serving {index} on {url} (Ctrl-C to stop)", err=True)

    Server(config).run(sockets=[sock])


@click.command("serve")
@index_option
@backend_options
@serve_options
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, **opts: Any) -> None:
    """Serve the chat page, article pages and the JSON API (/ask, /docs).

    The server follows rebuilds of the index: after `newsqa index build/add/remove`
    it switches to the new index without dropping a request. Set
    NEWSQA_RELOAD_TOKEN to also allow `POST /admin/reload`.
    """
    run_server(settings_from(**opts), host, port, verbose(ctx))


@click.command("demo")
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index of the sample [default: sample-index beside the default index, "
    "e.g. ~/.local/share/newsqa/sample-index].",
)
@serve_options
@click.pass_context
def demo(ctx: click.Context, index_dir: Path | None, host: str, port: int) -> None:
    """Index the bundled sample front page (once), then serve it (always from a local index)."""
    from newsqa.index.layout import IndexLayout

    settings = settings_from(index_dir=index_dir, backend="local")
    if index_dir is None:
        settings = settings_from(index_dir=sample_index_dir(settings), backend="local")
    if not IndexLayout(settings.index_dir).exists():
        click.echo(f"indexing the bundled sample into {settings.index_dir} ...", err=True)
        build_sample_index(settings)
    run_server(settings, host, port, verbose(ctx))
