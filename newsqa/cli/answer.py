"""`newsqa ask` and `newsqa eval`."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsqa.cli.common import (
    backend_options,
    filter_options,
    index_option,
    index_writer,
    search_filter,
    settings_from,
)
from newsqa.config import TOP_K_MAX

if TYPE_CHECKING:
    from newsqa.index.types import ArticleRef

reader_option = click.option(
    "--reader",
    default=None,
    help="span (the trained span reader), features (the feature reader) "
    "or hf:<name-or-path> for a transformers QA model.",
)


def citation(article: "ArticleRef") -> str:
    """One line naming an article: title · source · date · link (or id)."""
    parts = [article.title]
    if article.source:
        parts.append(article.source)
    if article.published:
        parts.append(article.published)
    parts.append(article.url or f"article {article.id}")
    return " · ".join(parts)


@click.command("ask")
@click.argument("question")
@index_option
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(1, TOP_K_MAX),
    default=None,
    help=f"Supporting passages to show, 1 to {TOP_K_MAX} [default 5].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@reader_option
@click.option("--model", default=None, help="Expect the index to be built with this embedder (checked).")
@filter_options
@backend_options
def ask(
    question: str,
    top_k: int | None,
    as_json: bool,
    reader: str | None,
    model: str | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    **opts: Any,
) -> None:
    """Answer QUESTION from the index, with the passage and article it comes from.

    --since, --until and --source answer only from the articles they allow.
    """
    from newsqa.qa.answerer import Answerer
    from newsqa.qa.validation import clean_question

    where = search_filter(since, until, sources)
    settings = settings_from(top_k=top_k, reader=reader, **opts)
    question = clean_question(question, settings.max_question_chars)  # before the slow load
    answerer = Answerer.load(settings=settings, model=model)
    result = answerer.ask(question, top_k=settings.top_k, where=where)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    answer = result.answer
    if answer is None:
        click.echo("没有找到答案 (no answer found)")
    else:
        click.echo(f"答案: {answer.text}   (confidence {answer.confidence:.2f})")
        at = answer.start - answer.sentence_start
        marked = (
            answer.sentence[:at]
            + click.style(answer.text, bold=True, underline=True)
            + answer.sentence[at + len(answer.text) :]
        )
        click.echo(f"原句: {marked}")
        click.echo(f"来源: {citation(answer.article)}")
    for i, hit in enumerate(result.hits, 1):
        text = hit.passage.text.replace("\n", " ")
        click.echo(
            f"\n[{i}] {citation(hit.article)}  score {hit.score:.3f}\n    {text[:160]}{'…' if len(text) > 160 else ''}"
        )
    click.echo(f"\n({result.took_ms:.0f} ms)", err=True)


@click.command("eval")
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
@reader_option
@click.option("--model", default=None, help="Embedder for a new index [default use-multilingual-v3].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@filter_options
@backend_options
def evaluate_command(
    file: Path,
    index_dir: Path | None,
    limit: int | None,
    no_baseline: bool,
    reader: str | None,
    model: str | None,
    as_json: bool,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    **opts: Any,
) -> None:
    """Evaluate on a SQuAD-style FILE, open-domain over all of its contexts.

    Prints hit@1 and hit@5 (gold article among the cited passages), EM and F1
    (CMRC 2018 style; abstentions count as wrong), answered and abstained rates,
    and ask latency p50/p95, for newsqa and for a BM25 + best-sentence baseline.
    """
    import tempfile
    from dataclasses import asdict

    from tqdm import tqdm

    from newsqa.index.backend import open_backend
    from newsqa.index.sources import read_sources
    from newsqa.qa.answerer import Answerer
    from newsqa.qa.evaluate import evaluate, figures_table, load_squad

    where = search_filter(since, until, sources)
    questions, n_articles = load_squad(file, lambda message: click.echo(f"skipped {message}", err=True))
    if limit:
        questions = questions[:limit]
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as tmp:
        root = index_dir or Path(tmp) / "index"
        settings = settings_from(index_dir=root, reader=reader, model=model, **opts)
        backend = open_backend(settings)
        if not backend.exists():
            click.echo(f"indexing {file} into {backend.location} ...", err=True)
            report = index_writer(settings).build(read_sources([file]))
            click.echo(report.summary(), err=True)
        answerer = Answerer.load(settings=settings, model=model)
        with tqdm(total=len(questions), desc="asking", disable=not sys.stderr.isatty(), leave=False) as bar:
            results = evaluate(
                answerer,
                questions,
                baseline=not no_baseline,
                progress=lambda _done: bar.update(1),
                where=where,
            )
    if as_json:
        figures = {k: asdict(v) for k, v in results.items()}
        record = {"file": str(file), "questions": len(questions), "articles": n_articles, **figures}
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    click.echo(f"{file.name}: {len(questions)} questions over {n_articles} articles")
    click.echo(figures_table(results))
