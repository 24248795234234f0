"""`newsqa watch FEED... --every 15m`: keep the index current with news feeds."""

import re
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from newsqa.cli.common import (
    backend_options,
    echo_problem,
    fetcher,
    index_option,
    index_writer,
    settings_from,
    writer_options,
)
from newsqa.errors import NewsQAError

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """Seconds in "90", "30s", "15m", "1h" or "1d"."""
    m = _INTERVAL.match(text.lower())
    if not m or float(m.group(1)) <= 0:
        raise click.BadParameter(f"{text!r} is not a time such as 30s, 15m or 1h", param_hint="--every")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _stop_on_sigterm() -> None:
    """`kill` stops watch as Ctrl-C does: between two steps, the index left as it was."""

    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


@click.command("watch")
@click.argument("feeds", nargs=-1, required=True)
@click.option("--every", default="15m", show_default=True, help="Time between polls: 30s, 15m, 1h.")
@click.option("--once", is_flag=True, help="Poll once and exit (for cron, and for trying it out).")
@index_option
@backend_options
@writer_options
@click.option("--source", "source_name", default=None, help="Source name for items whose feed has no title.")
def watch(feeds: tuple[str, ...], every: str, once: bool, index_dir: Path | None, **opts: Any) -> None:
    """Poll FEEDS (RSS, Atom or JSON Feed URLs) and add new or changed items to the index.

    Each poll asks every feed conditionally (ETag/Last-Modified), takes only
    items it has not seen or that changed, fetches their pages when the feed
    carries only a summary (respecting robots.txt, one request per host per
    NEWSQA_FETCH_HOST_INTERVAL seconds), and adds them in one index update; a
    running `newsqa serve` shows them without a restart. What was seen is kept
    in watch-state.json beside the index (with --backend milvus, in
    watch-state-COLLECTION.json beside the index directory). A feed or page that fails is reported
    and tried again next poll; it never stops the others. Stop with Ctrl-C.
    """
    from newsqa.index.sources import SourceDefaults
    from newsqa.index.watch import STATE_FILE, FeedWatcher

    interval = parse_interval(every)
    source_name = opts.pop("source_name")
    settings = settings_from(index_dir=index_dir, **opts)
    writer = index_writer(settings)
    if settings.backend == "milvus":
        state_path = settings.index_dir.parent / f"watch-state-{settings.milvus_collection}.json"
    else:
        state_path = settings.index_dir / STATE_FILE
    _stop_on_sigterm()
    failed = False
    with fetcher(settings) as web:
        watcher = FeedWatcher(
            writer,
            list(feeds),
            web,
            state_path=state_path,
            defaults=SourceDefaults(source=source_name),
            on_problem=echo_problem,
        )
        try:
            while True:
                started = time.monotonic()
                try:
                    report = watcher.cycle()
                    click.echo(f"{time.strftime('%H:%M:%S')} {report.summary()}")
                    failed = report.failed_feeds == report.feeds
                except NewsQAError as exc:
                    # The index is as it was; the same items are tried again next poll.
                    click.echo(f"{time.strftime('%H:%M:%S')} poll failed: {exc}", err=True)
                    failed = True
                if once:
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            click.echo("stopped; the index holds everything added so far", err=True)
            return
    if once and failed:
        raise click.exceptions.Exit(1)
