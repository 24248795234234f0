"""`newsqa index build/add/remove/info` and `newsqa ingest`."""

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from newsqa.cli.common import (
    backend_options,
    dry_run_options,
    echo_problem,
    fetcher,
    index_option,
    index_writer,
    settings_from,
    source_options,
    writer_options,
)

if TYPE_CHECKING:
    from newsqa.index.fetch import Fetcher
    from newsqa.index.sources import SourceProblem
    from newsqa.index.types import Article


def read(
    paths: Iterable[str],
    source_name: str | None,
    published: str | None,
    url: str | None,
    web: "Fetcher | None" = None,
) -> Iterable["Article | SourceProblem"]:
    """The articles (and problems) the sources at `paths` parse into, with the flags' metadata.

    `web` fetches http(s) sources and the pages of feed items that carry only a summary.
    """
    from newsqa.index.sources import SourceDefaults, read_sources

    return read_sources(list(paths), SourceDefaults(source=source_name, published=published, url=url), web)


def _dry_run(items: Iterable["Article | SourceProblem"], as_json: bool) -> None:
    from newsqa.index.sources import SourceProblem

    articles = problems = 0
    for item in items:
        if isinstance(item, SourceProblem):
            problems += 1
            echo_problem(item)
            continue
        articles += 1
        if as_json:
            click.echo(json.dumps(item.to_dict(), ensure_ascii=False))
        else:
            click.echo(f"{item.id}  {item.title}  ({len(item.text)} chars)")
    click.echo(f"{articles} articles, {problems} skipped (dry run: nothing was indexed)", err=True)
    if articles == 0 and problems:
        raise click.exceptions.Exit(1)


def _run_write(op: str, sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    from newsqa.index.backend import open_backend

    defaults = opts.pop("source_name"), opts.pop("published"), opts.pop("url")
    settings = settings_from(**opts)
    with fetcher(settings) as web:
        items = read(sources, *defaults, web=web)
        if dry_run:
            _dry_run(items, as_json)
            return
        writer = index_writer(settings)
        report = getattr(writer, op)(items)
    click.echo(report.summary())
    click.echo(f"index: {open_backend(settings).location}")


@click.group("index")
def index_group() -> None:
    """Build, update and inspect the index."""


@index_group.command("build")
@click.argument("sources", nargs=-1, required=True)
@index_option
@backend_options
@writer_options
@source_options
@dry_run_options
def index_build(sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    """Rebuild the index from scratch from SOURCES (files, folders, URLs of pages or feeds).

    The new index is built beside the old one and swapped in only when it is
    complete: a crash or Ctrl-C leaves the previous index intact.
    """
    _run_write("build", sources, dry_run, as_json, **opts)


@index_group.command("add")
@click.argument("sources", nargs=-1, required=True)
@index_option
@backend_options
@writer_options
@source_options
@dry_run_options
def index_add(sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    """Add or update articles from SOURCES (files, folders, URLs of pages or feeds); unchanged
    articles are left alone, wire copies are folded into their stories."""
    _run_write("add", sources, dry_run, as_json, **opts)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@index_option
@backend_options
@writer_options
@source_options
@dry_run_options
def ingest(paths: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    """Read PATHS into articles and add them to the index (like `index add`).

    `newsqa ingest PATH... --dry-run --json` prints one JSON object per article
    per line (id, title, text, url, published, source, subtitles, byline,
    captions, continued) and indexes nothing.
    """
    _run_write("add", paths, dry_run, as_json, **opts)


@index_group.command("remove")
@click.argument("article_ids", nargs=-1, required=True)
@index_option
@backend_options
@click.option("--model", default=None, hidden=True)
def index_remove(article_ids: tuple[str, ...], model: str | None, **opts: Any) -> None:
    """Remove articles by id (see `newsqa index info` or `ingest --dry-run` for ids)."""
    from newsqa.index.backend import open_backend

    settings = settings_from(model=model, **opts)
    if model is None:
        # Removing needs no embedding: take the model the index was built with.
        settings = settings_from(model=open_backend(settings).manifest().model, **opts)
    report = index_writer(settings).remove(article_ids)
    for missing in report.not_found:
        click.echo(f"not in the index: {missing}", err=True)
    click.echo(report.summary())
    if report.removed == 0:
        raise click.exceptions.Exit(1)


@index_group.command("info")
@index_option
@backend_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def index_info(as_json: bool, **opts: Any) -> None:
    """Show what the index holds and how it was built."""
    from newsqa.index.backend import open_backend

    backend = open_backend(settings_from(**opts))
    info = backend.info()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    size = f", {info['size_bytes'] / 1e6:.1f} MB" if "size_bytes" in info else ""
    click.echo(f"index:      {backend.location} ({info['generation']}{size})")
    click.echo(f"articles:   {info['articles']}")
    click.echo(f"passages:   {info['passages']}")
    click.echo(f"model:      {info['model']} ({info['dim']} dimensions)")
    click.echo(f"vectors:    {info['ann'].get('kind')} {json.dumps(info['ann'])}")
    click.echo(f"chunking:   {json.dumps(info['chunking'])}")
    click.echo(f"built:      {info['built_at']}, updated {info['updated_at']}")
    click.echo(f"format:     {info['format_version']} (newsqa {info['newsqa_version']})")
