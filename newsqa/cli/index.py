"""`newsqa index build/add/remove/info` and `newsqa ingest`."""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsqa.cli.common import (
    backend_options,
    dry_run_options,
    echo_problem,
    fetcher,
    index_option,
    index_writer,
    local_index_writer,
    settings_from,
    source_options,
    wait_option,
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
    no_wait = opts.pop("no_wait")
    settings = settings_from(**opts)
    with fetcher(settings) as web:
        items = read(sources, *defaults, web=web)
        if dry_run:
            _dry_run(items, as_json)
            return
        writer = index_writer(settings, wait=not no_wait)
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
@wait_option
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
@wait_option
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
@wait_option
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
@wait_option
@click.option("--model", default=None, hidden=True)
def index_remove(article_ids: tuple[str, ...], no_wait: bool, model: str | None, **opts: Any) -> None:
    """Remove articles by id (see `newsqa index info` or `ingest --dry-run` for ids)."""
    from newsqa.index.backend import open_backend

    settings = settings_from(model=model, **opts)
    if model is None:
        # Removing needs no embedding: take the model the index was built with.
        settings = settings_from(model=open_backend(settings).manifest().model, **opts)
    report = index_writer(settings, wait=not no_wait).remove(article_ids)
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


@index_group.command("check")
@index_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild what is derived from the stored articles (passages, vectors, postings, manifest) "
    "as a new generation, swapped in atomically; nothing is read from the sources again.",
)
@wait_option
def index_check(index_dir: Path | None, repair: bool, no_wait: bool) -> None:
    """Check that the index's parts agree: SQLite, FAISS, BM25 and the manifest.

    Prints one line per problem found and exits with status 1 when there is
    any (after --repair: when any is left).
    """
    from newsqa.index.check import check_index
    from newsqa.index.embedders import load_embedder

    settings = settings_from(index_dir=index_dir)
    if settings.backend != "local":
        raise click.UsageError(
            f"index check reads a local index directory; NEWSQA_BACKEND is {settings.backend!r} "
            "(a Milvus server keeps its collections consistent itself)"
        )

    def embedder(name: str) -> Any:
        return load_embedder(
            name, device=settings.device, batch_size=settings.batch_size, threads=settings.threads
        )

    report = check_index(settings.index_dir, embedder)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for line in report.lines():
        click.echo(line)
    click.echo(report.summary())
    if report.ok:
        return
    if not repair or not report.repairable:
        raise click.exceptions.Exit(1)
    from newsqa.index.layout import Manifest

    manifest = Manifest.load(settings.index_dir / report.generation)
    writer = local_index_writer(settings_from(index_dir=index_dir, model=manifest.model), wait=not no_wait)
    done = writer.repair(reembed=report.model_mismatch)
    click.echo(
        f"repaired: {done.articles_total} articles, {done.passages_total} passages "
        f"({done.passages_added} embedded again) in {done.generation} ({done.seconds:.1f}s)"
    )
    again = check_index(settings.index_dir, embedder)
    for line in again.lines():
        click.echo(line)
    click.echo(again.summary())
    if not again.ok:
        raise click.exceptions.Exit(1)
