"""`newsqa serve` and `newsqa demo`."""

import functools
import shutil
import socket
import tempfile
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


def build_sample_index(settings: Settings) -> None:
    """Index the bundled sample page into `settings.index_dir`."""
    from newsqa.index.sources import SourceDefaults, read_sources
    from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir

    defaults = SourceDefaults(source=SAMPLE_SOURCE, published=SAMPLE_PUBLISHED)
    report = index_writer(settings).build(read_sources([sample_dir()], defaults))
    click.echo(report.summary(), err=True)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error."""
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
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
    """Run the web app until Ctrl-C: in this process, or in `settings.workers` worker processes
    that share the listening socket (each loads the index; its vectors and postings are
    memory-mapped, so the workers share one copy in the page cache)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from newsqa.index.backend import open_backend
    from newsqa.index.milvus.client import is_lite
    from newsqa.web.app import create_app

    backend = open_backend(settings)
    backend.manifest()  # IndexNotFound (one line, before listening) when nothing is built there
    workers = settings.workers
    if workers > 1 and settings.backend == "milvus" and is_lite(settings.milvus_uri or ""):
        raise click.ClickException(
            "Milvus Lite lets one process at a time open its file: serve it with --workers 1, "
            "or use a Milvus server (--milvus-uri http://host:19530)"
        )
    sock = _bind(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    # What the workers share. One process keeps its own, removed in its lifespan: uvicorn
    # re-raises SIGTERM after a single server stops, so no `finally` here would run.
    run_dir = Path(tempfile.mkdtemp(prefix="newsqa-serve-")) if workers > 1 else None
    config = uvicorn.Config(
        # A factory, not an app: each worker process builds its own (the settings travel pickled).
        functools.partial(create_app, settings, run_dir),
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info" if log else "warning",
        access_log=log,
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
    line = f"newsqa: serving {backend.location} on {url} with {workers} worker(s) (Ctrl-C to stop)"

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                click.echo(line, err=True)

    try:
        if workers == 1:
            Server(config).run(sockets=[sock])
        else:
            click.echo(line, err=True)
            Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


@click.command("serve")
@index_option
@backend_options
@serve_options
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int | None, **opts: Any) -> None:
    """Serve the chat page, article pages and the JSON API (/ask, /docs).

    The server follows rebuilds of the index: after `newsqa index build/add/remove`
    it switches to the new index without dropping a request. Set
    NEWSQA_RELOAD_TOKEN to also allow `POST /admin/reload`.
    """
    run_server(settings_from(workers=workers, **opts), host, port, verbose(ctx))


@click.command("demo")
@index_option
@serve_options
@click.pass_context
def demo(ctx: click.Context, index_dir: Path | None, host: str, port: int, workers: int | None) -> None:
    """Serve the index; when there is none yet, index the bundled sample front page into it first.

    Afterwards `newsqa ask` and `newsqa serve` use the same index, the sample's. The demo
    always uses a local index (NEWSQA_BACKEND does not apply).
    """
    from newsqa.index.layout import IndexLayout

    settings = settings_from(index_dir=index_dir, workers=workers, backend="local")
    if not IndexLayout(settings.index_dir).exists():
        click.echo(f"indexing the bundled sample into {settings.index_dir} ...", err=True)
        build_sample_index(settings)
    run_server(settings, host, port, verbose(ctx))
