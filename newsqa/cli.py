"""The `newsqa` command line."""

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from newsqa.config import Settings
from newsqa.errors import NewsQAError

logger = logging.getLogger("newsqa")


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the CLI flags that were given on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise click.UsageError(problems) from exc


class NewsQAGroup(click.Group):
    """Turns expected failures into one-line messages and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsQAError as exc:
            raise click.ClickException(str(exc)) from exc


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory [default: $NEWSQA_INDEX_DIR, else ~/.local/share/newsqa/index].",
)


@click.group(cls=NewsQAGroup)
@click.version_option(package_name="newsqa")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, to stderr.")
def cli(verbose: bool) -> None:
    """Question answering over news: index news sources, then ask in Chinese or English.

    \b
    Quick start:
      newsqa index build my-pages/          # plain-text pages, .jsonl, SQuAD .json, folders
      newsqa ask "柳州上半年地区生产总值是多少？"
      newsqa serve                          # chat on http://127.0.0.1:8000
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# ---------------------------------------------------------------- sources
def source_options(fn: Any) -> Any:
    fn = click.option("--source", "source_name", default=None, help="Source name for articles that carry none, e.g. 柳州日报.")(fn)
    fn = click.option("--published", default=None, help="Publication date for articles that carry none, e.g. 2024-08-02.")(fn)
    fn = click.option("--url", default=None, help="Link for articles that carry none.")(fn)
    return fn


def _read(paths: tuple[str, ...], source_name: str | None, published: str | None, url: str | None):
    from newsqa.index.sources import SourceDefaults, read_sources

    return read_sources(paths, SourceDefaults(source=source_name, published=published, url=url))


def _echo_problem(problem: Any) -> None:
    click.echo(f"skipped {problem}", err=True)


def _dry_run(items: Any, as_json: bool) -> None:
    from newsqa.index.sources import SourceProblem

    articles = problems = 0
    for item in items:
        if isinstance(item, SourceProblem):
            problems += 1
            _echo_problem(item)
            continue
        articles += 1
        if as_json:
            click.echo(json.dumps(item.to_dict(), ensure_ascii=False))
        else:
            click.echo(f"{item.id}  {item.title}  ({len(item.text)} chars)")
    click.echo(f"{articles} articles, {problems} skipped (dry run: nothing was indexed)", err=True)
    if articles == 0 and problems:
        raise click.exceptions.Exit(1)


# ---------------------------------------------------------------- index
@cli.group("index")
def index_group() -> None:
    """Build, update and inspect the index."""


def _writer(settings: Settings):
    from newsqa.index.builder import IndexWriter
    from newsqa.index.chunking import PassageSplitter
    from newsqa.index.embedders import load_embedder

    embedder = load_embedder(
        settings.model, device=settings.device, batch_size=settings.batch_size, threads=settings.threads
    )
    return IndexWriter(
        settings.index_dir,
        embedder,
        PassageSplitter(settings.passage_chars, settings.passage_overlap),
        progress=sys.stderr.isatty(),
        on_problem=_echo_problem,
    )


def writer_options(fn: Any) -> Any:
    fn = click.option("--model", default=None, help="Embedder: use-multilingual-v3 (embedded default), or a sentence-transformers model name (local cache) or folder.")(fn)
    fn = click.option("--device", default=None, help="cpu or cuda, for sentence-transformers models.")(fn)
    fn = click.option("--batch-size", type=int, default=None, help="Embedding batch size.")(fn)
    fn = click.option("--passage-chars", type=int, default=None, help="Longest passage in characters [default 300].")(fn)
    fn = click.option("--passage-overlap", type=int, default=None, help="Overlap between passages in characters [default 60].")(fn)
    return fn


def _run_write(op: str, sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    items = _read(sources, opts.pop("source_name"), opts.pop("published"), opts.pop("url"))
    if dry_run:
        _dry_run(items, as_json)
        return
    settings = _settings(**opts)
    writer = _writer(settings)
    report = getattr(writer, op)(items)
    click.echo(report.summary())
    click.echo(f"index: {settings.index_dir}")


@index_group.command("build")
@click.argument("sources", nargs=-1, required=True)
@index_option
@writer_options
@source_options
@click.option("--dry-run", is_flag=True, help="Only print what the sources parse into.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: one JSON object per article per line.")
def index_build(sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    """Rebuild the index from scratch from SOURCES (files or folders).

    The new index is built beside the old one and swapped in only when it is
    complete: a crash or Ctrl-C leaves the previous index intact.
    """
    _run_write("build", sources, dry_run, as_json, **opts)


@index_group.command("add")
@click.argument("sources", nargs=-1, required=True)
@index_option
@writer_options
@source_options
@click.option("--dry-run", is_flag=True, help="Only print what the sources parse into.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: one JSON object per article per line.")
def index_add(sources: tuple[str, ...], dry_run: bool, as_json: bool, **opts: Any) -> None:
    """Add or update articles from SOURCES; unchanged articles are left alone."""
    _run_write("add", sources, dry_run, as_json, **opts)


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@index_option
@writer_options
@source_options
@click.option("--dry-run", is_flag=True, help="Print what the sources parse into; index nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: one JSON object per article per line.")
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
@click.option("--model", default=None, hidden=True)
def index_remove(article_ids: tuple[str, ...], index_dir: Path | None, model: str | None) -> None:
    """Remove articles by id (see `newsqa index info` or `ingest --dry-run` for ids)."""
    from newsqa.index.layout import Manifest

    settings = _settings(index_dir=index_dir, model=model)
    if model is None:
        # Removing needs no embedding: take the model the index was built with.
        from newsqa.index.layout import IndexLayout

        manifest = Manifest.load(IndexLayout(settings.index_dir).current())
        settings = _settings(index_dir=index_dir, model=manifest.model)
    report = _writer(settings).remove(article_ids)
    for missing in report.not_found:
        click.echo(f"not in the index: {missing}", err=True)
    click.echo(report.summary())
    if report.removed == 0:
        raise click.exceptions.Exit(1)


@index_group.command("info")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def index_info(index_dir: Path | None, as_json: bool) -> None:
    """Show what the index holds and how it was built."""
    from newsqa.index.layout import IndexLayout, Manifest

    settings = _settings(index_dir=index_dir)
    layout = IndexLayout(settings.index_dir)
    generation = layout.current()
    manifest = Manifest.load(generation)
    info = {"index_dir": str(layout.root), "generation": generation.name, "size_bytes": layout.size_bytes(), **manifest.to_dict()}
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"index:      {layout.root} ({generation.name}, {info['size_bytes'] / 1e6:.1f} MB)")
    click.echo(f"articles:   {manifest.articles}")
    click.echo(f"passages:   {manifest.passages}")
    click.echo(f"model:      {manifest.model} ({manifest.dim} dimensions)")
    click.echo(f"vectors:    {manifest.ann.get('kind')} {json.dumps(manifest.ann)}")
    click.echo(f"chunking:   {json.dumps(manifest.chunking)}")
    click.echo(f"built:      {manifest.built_at}, updated {manifest.updated_at}")
    click.echo(f"format:     {manifest.format_version} (newsqa {manifest.newsqa_version})")


def main() -> None:
    cli(prog_name="newsqa")
