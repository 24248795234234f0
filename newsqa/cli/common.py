"""What the commands share: settings from flags, the one-line error group, and the options
that several commands take (each defined once here)."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from newsqa.config import Settings
from newsqa.errors import NewsQAError

if TYPE_CHECKING:
    from newsqa.index.backend import StoreWriter
    from newsqa.index.builder import IndexWriter
    from newsqa.index.chunking import PassageSplitter
    from newsqa.index.embedders import Embedder
    from newsqa.index.fetch import Fetcher
    from newsqa.index.filters import SearchFilter
    from newsqa.index.sources import SourceProblem

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def settings_from(**overrides: Any) -> Settings:
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


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, applied in the order listed."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory [default: $NEWSQA_INDEX_DIR, else ~/.local/share/newsqa/index].",
)

backend_options = options(
    click.option(
        "--backend",
        type=click.Choice(["local", "milvus"]),
        default=None,
        help="Where the index lives: local (the index directory) or milvus [default: $NEWSQA_BACKEND, else local].",
    ),
    click.option(
        "--milvus-uri",
        default=None,
        help="With --backend milvus: ./newsqa.milvus.db (Milvus Lite, embedded) or http://host:19530 "
        "(a Milvus server; token in NEWSQA_MILVUS_TOKEN).",
    ),
    click.option(
        "--milvus-collection",
        default=None,
        help="With --backend milvus: the index's name (a collection alias) [default newsqa].",
    ),
)

filter_options = options(
    click.option(
        "--since", default=None, help="Only articles published on or after this day, e.g. 2024-08-01."
    ),
    click.option(
        "--until", default=None, help="Only articles published on or before this day, e.g. 2024-08-31."
    ),
    click.option(
        "--source",
        "sources",
        multiple=True,
        help="Only articles from this source, e.g. 新华社 (repeat for several).",
    ),
)


def search_filter(since: str | None, until: str | None, sources: tuple[str, ...]) -> "SearchFilter | None":
    """The search filter the --since/--until/--source flags describe, or None."""
    from newsqa.index.filters import SearchFilter

    return SearchFilter.of(since, until, sources)


source_options = options(
    click.option(
        "--source",
        "source_name",
        default=None,
        help="Source name for articles that carry none, e.g. 人民日报.",
    ),
    click.option(
        "--published", default=None, help="Publication date for articles that carry none, e.g. 2024-08-02."
    ),
    click.option("--url", default=None, help="Link for articles that carry none."),
)

writer_options = options(
    click.option(
        "--model",
        default=None,
        help="Embedder: use-multilingual-v3 (embedded default), or a sentence-transformers model name "
        "(local cache) or folder.",
    ),
    click.option("--device", default=None, help="cpu or cuda, for sentence-transformers models."),
    click.option("--batch-size", type=int, default=None, help="Embedding batch size."),
    click.option(
        "--passage-chars", type=int, default=None, help="Longest passage in characters [default 300]."
    ),
    click.option(
        "--passage-overlap",
        type=int,
        default=None,
        help="Overlap between passages in characters [default 60].",
    ),
)

wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="Fail at once when another newsqa process is writing the index, instead of waiting for it.",
)

dry_run_options = options(
    click.option("--dry-run", is_flag=True, help="Only print what the sources parse into; index nothing."),
    click.option(
        "--json", "as_json", is_flag=True, help="With --dry-run: one JSON object per article per line."
    ),
)

serve_options = options(
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
    click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=None,
        help="Worker processes, each answering on its own core [default: $NEWSQA_WORKERS, else 2].",
    ),
)


def echo_problem(problem: "SourceProblem") -> None:
    click.echo(f"skipped {problem}", err=True)


def echo_notice(message: str) -> None:
    click.echo(f"newsqa: {message}", err=True)


def index_writer(settings: Settings, *, wait: bool = True) -> "StoreWriter":
    """The index writer the settings describe (backend, embedder, chunking), reporting skipped
    sources on stderr. A local index's writer waits for another writer unless `wait` is False."""
    if settings.backend == "local":
        return local_index_writer(settings, wait=wait)
    from newsqa.index.backend import open_backend

    embedder, splitter = _embedder_and_splitter(settings)
    return open_backend(settings).writer(
        embedder, splitter, progress=sys.stderr.isatty(), on_problem=echo_problem
    )


def local_index_writer(settings: Settings, *, wait: bool = True) -> "IndexWriter":
    """The writer of the local index at `settings.index_dir`, with its lock (waits said on
    stderr) and the fault stages of NEWSQA_FAULT."""
    from newsqa.index.builder import IndexWriter
    from newsqa.index.faults import stage_hook

    embedder, splitter = _embedder_and_splitter(settings)
    try:
        on_stage = stage_hook(settings.fault, IndexWriter.STAGES)
    except ValueError as exc:
        raise click.UsageError(f"NEWSQA_FAULT: {exc}") from exc
    return IndexWriter(
        settings.index_dir,
        embedder,
        splitter,
        progress=sys.stderr.isatty(),
        on_problem=echo_problem,
        wait=wait,
        on_notice=echo_notice,
        on_stage=on_stage,
    )


def _embedder_and_splitter(settings: Settings) -> tuple["Embedder", "PassageSplitter"]:
    from newsqa.index.chunking import PassageSplitter
    from newsqa.index.embedders import load_embedder

    embedder = load_embedder(
        settings.model, device=settings.device, batch_size=settings.batch_size, threads=settings.threads
    )
    return embedder, PassageSplitter(settings.passage_chars, settings.passage_overlap)


def fetcher(settings: Settings) -> "Fetcher":
    """A web fetcher with the settings' timeout, retries, per-host interval and User-Agent."""
    from newsqa.index.fetch import DEFAULT_USER_AGENT, Fetcher, FetchPolicy

    return Fetcher(
        FetchPolicy(
            user_agent=settings.user_agent or DEFAULT_USER_AGENT,
            timeout=settings.fetch_timeout,
            retries=settings.fetch_retries,
            host_interval=settings.fetch_host_interval,
        )
    )


def verbose(ctx: click.Context) -> bool:
    """Whether the top-level -v was given."""
    root = ctx.find_root()
    return bool(root.params.get("verbose"))
