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
    fn = click.option(
        "--source",
        "source_name",
        default=None,
        help="Source name for articles that carry none, e.g. 柳州日报.",
    )(fn)
    fn = click.option(
        "--published", default=None, help="Publication date for articles that carry none, e.g. 2024-08-02."
    )(fn)
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
    fn = click.option(
        "--model",
        default=None,
        help="Embedder: use-multilingual-v3 (embedded default), or a sentence-transformers model name (local cache) or folder.",
    )(fn)
    fn = click.option("--device", default=None, help="cpu or cuda, for sentence-transformers models.")(fn)
    fn = click.option("--batch-size", type=int, default=None, help="Embedding batch size.")(fn)
    fn = click.option(
        "--passage-chars", type=int, default=None, help="Longest passage in characters [default 300]."
    )(fn)
    fn = click.option(
        "--passage-overlap",
        type=int,
        default=None,
        help="Overlap between passages in characters [default 60].",
    )(fn)
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
    info = {
        "index_dir": str(layout.root),
        "generation": generation.name,
        "size_bytes": layout.size_bytes(),
        **manifest.to_dict(),
    }
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


# ---------------------------------------------------------------- answering
@cli.command("ask")
@click.argument("question")
@index_option
@click.option(
    "-k", "--top-k", type=click.IntRange(1, 50), default=None, help="Supporting passages to show [default 5]."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "--reader", default=None, help="builtin (default) or hf:<name-or-path> for a transformers QA model."
)
@click.option("--model", default=None, help="Expect the index to be built with this embedder (checked).")
def ask(
    question: str,
    index_dir: Path | None,
    top_k: int | None,
    as_json: bool,
    reader: str | None,
    model: str | None,
) -> None:
    """Answer QUESTION from the index, with the passage and article it comes from."""
    from newsqa.qa.answerer import Answerer

    settings = _settings(index_dir=index_dir, top_k=top_k, reader=reader)
    answerer = Answerer.load(settings=settings, model=model)
    result = answerer.ask(question, top_k=settings.top_k)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    answer = result.answer
    if answer is None:
        click.echo("没有找到答案 (no answer found)")
    else:
        click.echo(f"答案: {answer.text}   (confidence {answer.confidence:.2f})")
        marked = answer.sentence.replace(answer.text, click.style(answer.text, bold=True, underline=True), 1)
        click.echo(f"原句: {marked}")
        click.echo(f"来源: {_citation(answer.article)}")
    for i, hit in enumerate(result.hits, 1):
        text = hit.passage.text.replace("\n", " ")
        click.echo(
            f"\n[{i}] {_citation(hit.article)}  score {hit.score:.3f}\n    {text[:160]}{'…' if len(text) > 160 else ''}"
        )
    click.echo(f"\n({result.took_ms:.0f} ms)", err=True)


def _citation(article: Any) -> str:
    parts = [article.title]
    if article.source:
        parts.append(article.source)
    if article.published:
        parts.append(article.published)
    parts.append(article.url or f"article {article.id}")
    return " · ".join(parts)


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Reuse this index (built from FILE) or build it there; default: a temporary index of FILE.",
)
@click.option("--limit", type=int, default=None, help="Only the first N questions.")
@click.option("--no-baseline", is_flag=True, help="Skip the BM25 + best-sentence baseline.")
@click.option("--reader", default=None, help="builtin (default) or hf:<name-or-path>.")
@click.option("--model", default=None, help="Embedder for a new index [default use-multilingual-v3].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_command(
    file: Path,
    index_dir: Path | None,
    limit: int | None,
    no_baseline: bool,
    reader: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Evaluate on a SQuAD-style FILE, open-domain over all of its contexts.

    Prints hit@1 and hit@5 (gold article among the cited passages), EM and F1
    (CMRC 2018 style; abstentions count as wrong), answered and abstained rates,
    and ask latency p50/p95, for newsqa and for a BM25 + best-sentence baseline.
    """
    import tempfile

    from newsqa.index.layout import IndexLayout
    from newsqa.index.sources import read_sources
    from newsqa.qa.answerer import Answerer
    from newsqa.qa.evaluate import evaluate, figures_table, load_squad

    questions, n_articles = load_squad(file)
    if limit:
        questions = questions[:limit]
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as tmp:
        root = index_dir or Path(tmp) / "index"
        settings = _settings(index_dir=root, reader=reader, model=model)
        if not IndexLayout(root).exists():
            click.echo(f"indexing {file} into {root} ...", err=True)
            report = _writer(settings).build(read_sources([file]))
            click.echo(report.summary(), err=True)
        answerer = Answerer.load(settings=settings, model=model)
        from tqdm import tqdm

        with tqdm(total=len(questions), desc="asking", disable=not sys.stderr.isatty(), leave=False) as bar:
            results = evaluate(
                answerer, questions, baseline=not no_baseline, progress=lambda i: bar.update(1)
            )
    if as_json:
        from dataclasses import asdict

        click.echo(
            json.dumps(
                {
                    "file": str(file),
                    "questions": len(questions),
                    "articles": n_articles,
                    **{k: asdict(v) for k, v in results.items()},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(f"{file.name}: {len(questions)} questions over {n_articles} articles")
    click.echo(figures_table(results))


# ---------------------------------------------------------------- serving
# The bundled sample page carries no masthead data: these are what `newsqa demo`
# (and the tests and benches that index the sample) give it.
SAMPLE_SOURCE = "柳州日报"
SAMPLE_PUBLISHED = "2024-08-02"


def sample_index_dir(settings: Settings) -> Path:
    """Where `newsqa demo` keeps its index of the bundled sample: beside the default index."""
    return settings.index_dir.parent / "sample-index"


def build_sample_index(settings: Settings) -> None:
    """Index the bundled sample page into `settings.index_dir`."""
    from newsqa.resources import sample_dir

    sources = _read((str(sample_dir()),), SAMPLE_SOURCE, SAMPLE_PUBLISHED, None)
    report = _writer(settings).build(sources)
    click.echo(report.summary(), err=True)


def _serve(settings: Settings, host: str, port: int, verbose: bool) -> None:
    """Run the web app in this process until Ctrl-C."""
    import socket

    import uvicorn

    from newsqa.errors import IndexNotFound
    from newsqa.index.layout import IndexLayout
    from newsqa.web.app import create_app

    if not IndexLayout(settings.index_dir).exists():
        raise IndexNotFound(settings.index_dir)
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        timeout_graceful_shutdown=5,
    )
    # Bound here, so that a taken port is a one-line error and the URL printed is the real one.
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
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    index_dir = settings.index_dir

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                click.echo(f"newsqa: serving {index_dir} on {url} (Ctrl-C to stop)", err=True)

    Server(config).run(sockets=[sock])


serve_options = [
    click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on (0.0.0.0 for every interface).",
    ),
    click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=8000,
        show_default=True,
        help="Port to listen on (0: any free port).",
    ),
]


def _with_serve_options(fn: Any) -> Any:
    for option in reversed(serve_options):
        fn = option(fn)
    return fn


@cli.command("serve")
@index_option
@_with_serve_options
@click.pass_context
def serve(ctx: click.Context, index_dir: Path | None, host: str, port: int) -> None:
    """Serve the chat page, article pages and the JSON API (/ask, /docs).

    The server follows rebuilds of the index: after `newsqa index build/add/remove`
    it switches to the new index without dropping a request. Set
    NEWSQA_RELOAD_TOKEN to also allow `POST /admin/reload`.
    """
    verbose = bool(ctx.parent and ctx.parent.params.get("verbose"))
    _serve(_settings(index_dir=index_dir), host, port, verbose)


@cli.command("demo")
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index of the sample [default: sample-index beside the default index, "
    "e.g. ~/.local/share/newsqa/sample-index].",
)
@_with_serve_options
@click.pass_context
def demo(ctx: click.Context, index_dir: Path | None, host: str, port: int) -> None:
    """Index the bundled sample front page (once), then serve it: try 柳州市委书记是谁？"""
    from newsqa.index.layout import IndexLayout

    settings = _settings(index_dir=index_dir)
    if index_dir is None:
        settings = _settings(index_dir=sample_index_dir(settings))
    if not IndexLayout(settings.index_dir).exists():
        click.echo(f"indexing the bundled sample into {settings.index_dir} ...", err=True)
        build_sample_index(settings)
    verbose = bool(ctx.parent and ctx.parent.params.get("verbose"))
    _serve(settings, host, port, verbose)


def main() -> None:
    cli(prog_name="newsqa")
