"""The `newsqa` command line: one group; the commands live in this package's modules by concern."""

import logging
import sys

import click

from newsqa.cli.answer import ask, evaluate_command
from newsqa.cli.common import NewsQAGroup
from newsqa.cli.index import index_group, ingest
from newsqa.cli.serve import demo, serve
from newsqa.cli.watch import watch


@click.group(cls=NewsQAGroup)
@click.version_option(package_name="newsqa")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, to stderr.")
def cli(verbose: bool) -> None:
    """Question answering over news: index news sources, then ask in Chinese or English.

    \b
    Quick start:
      newsqa index build my-pages/          # newspaper pages, web pages, feeds, .jsonl, folders, URLs
      newsqa watch https://example.com/rss.xml --every 15m
      newsqa ask "今年上半年地区生产总值是多少？"
      newsqa serve                          # chat on http://127.0.0.1:8000
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


for command in (index_group, ingest, watch, ask, evaluate_command, serve, demo):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="newsqa")
