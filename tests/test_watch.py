"""`newsqa watch`: polls add only new or changed items, a failing feed or page never stops the others,
nothing indexed is lost when a poll fails halfway, and a running `newsqa serve` shows new articles."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.errors import IndexBusy
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.watch import STATE_FILE, FeedWatcher
from testbed.server import running_server
from testbed.website import rss
from tests.helpers import hashing_writer, write_jsonl

FAST_WEB = {"NEWSQA_FETCH_HOST_INTERVAL": "0", "NEWSQA_FETCH_TIMEOUT": "1", "NEWSQA_FETCH_RETRIES": "0"}


def item(n: int, url: str = "", *, summary_only: bool = False) -> dict:
    entry = {
        "title": f"第{n}条新闻：城区新建{n}座口袋公园",
        "link": f"{url}/full/{n}",
        "guid": f"item-{n}",
        "pubDate": "Mon, 02 Dec 2024 09:00:00 +0800",
    }
    if summary_only:
        entry["description"] = "摘要"
    else:
        entry["content"] = f"<p>城东新区今年新建口袋公园{n}座，总面积{n * 1000}平方米，均已向市民开放。</p>"
    return entry


def generation(root) -> str | None:
    return IndexLayout(root).pointer()


def test_a_poll_adds_only_new_items_and_an_unchanged_feed_costs_one_request(website, web, tmp_path):
    items = [item(1), item(2), item(3, website.url, summary_only=True)]
    website.put("/news/3", website.resources["/news/library-night.html"].body)
    items[2]["link"] = website.url + "/news/3"
    feed = website.put("/feed.xml", rss("江城新闻网", items))
    root = tmp_path / "ix"
    watcher = FeedWatcher(hashing_writer(root), [feed], web)

    first = watcher.cycle()
    assert (first.items, first.new_items, first.write.added) == (3, 3, 3)
    assert json.loads((root / STATE_FILE).read_text())["feeds"][feed]["etag"]
    built = generation(root)

    website.clear_log()
    quiet = watcher.cycle()
    assert quiet.not_modified == 1 and quiet.write is None and quiet.requests == 1
    assert [(r.path, r.status) for r in website.log] == [("/feed.xml", 304)]
    assert generation(root) == built, "nothing new: no new generation"

    website.put("/feed.xml", rss("江城新闻网", [*items, item(4)]))
    website.clear_log()
    fourth = watcher.cycle()
    assert (fourth.items, fourth.new_items, fourth.write.added, fourth.write.unchanged) == (4, 1, 1, 0)
    assert not website.requests_to("/news/3"), "seen items' pages are not fetched again"
    assert IndexSnapshot.open(root).manifest.articles == 4

    changed = [item(1), item(2), items[2], {**item(4), "title": "第4条新闻（更正）"}]
    website.put("/feed.xml", rss("江城新闻网", changed))
    corrected = watcher.cycle()
    assert corrected.new_items == 1 and corrected.write.updated == 1


def test_a_broken_feed_or_page_never_stops_the_others_and_is_retried(website, web, tmp_path):
    # Item 9 has only a summary, so its page is fetched; the fetcher retries once and the page
    # answers 503 twice, so the first poll cannot get it.
    website.put("/busy/9", website.resources["/news/tea-farmers.html"].body, failures=2)
    good = website.put(
        "/good.xml",
        rss("江城新闻网", [item(1), {**item(9, summary_only=True), "link": website.url + "/busy/9"}]),
    )
    website.put("/junk.xml", "<html><body>not a feed</body></html>", "text/html")
    feeds = [website.url + "/missing.xml", website.url + "/junk.xml", good]
    problems = []
    watcher = FeedWatcher(hashing_writer(tmp_path / "ix"), feeds, web, on_problem=problems.append)
    first = watcher.cycle()
    assert first.write.added == 1 and first.failed_feeds == 2
    assert [str(p) for p in problems[:2]] == [
        f"{website.url}/missing.xml: HTTP 404 Not Found",
        f"{website.url}/junk.xml: not an RSS, Atom or JSON feed",
    ]
    assert "item 2" in str(problems[2]) and "HTTP 503" in str(problems[2])
    state = json.loads((tmp_path / "ix" / STATE_FILE).read_text())["feeds"][good]
    assert state["etag"] is None and "item-9" not in state["items"], "asked again next poll"
    second = watcher.cycle()
    assert second.new_items == 1 and second.write.added == 1


def test_nothing_is_lost_when_a_poll_fails_halfway(website, web, tmp_path):
    root = tmp_path / "ix"
    feed = website.put("/feed.xml", rss("江城新闻网", [item(1)]))
    watcher = FeedWatcher(hashing_writer(root), [feed], web)
    watcher.cycle()
    before = generation(root)
    website.put("/feed.xml", rss("江城新闻网", [item(1), item(2)]))
    with open(root / ".lock", "w") as lock:  # another process is writing the index
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(IndexBusy):
            watcher.cycle()
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert generation(root) == before and IndexSnapshot.open(root).manifest.articles == 1
    retried = watcher.cycle()
    assert retried.new_items == 1 and retried.write.added == 1, "the failed poll's item comes next time"


def test_watch_once_from_the_command_line(website, tmp_path):
    feed = website.put("/feed.xml", rss("江城新闻网", [item(1), item(2)]))
    args = ["watch", feed, "--once", "--index", str(tmp_path / "ix"), "--model", "hashing-test"]
    result = CliRunner().invoke(cli, args, env=FAST_WEB)
    assert result.exit_code == 0, result.output
    assert "1 feeds (0 unchanged), 2 items, 2 new or changed" in result.stdout and "2 added" in result.stdout
    again = CliRunner().invoke(cli, args, env=FAST_WEB)
    assert "1 feeds (1 unchanged)" in again.stdout and "index unchanged" in again.stdout
    down = CliRunner().invoke(cli, [*args[:1], website.url + "/gone.xml", *args[2:]], env=FAST_WEB)
    assert down.exit_code == 1 and "gone.xml: HTTP 404 Not Found" in down.stderr
    bad = CliRunner().invoke(cli, [*args, "--every", "soon"], env=FAST_WEB)
    assert bad.exit_code == 2 and "'soon' is not a time such as 30s, 15m or 1h" in bad.output


@pytest.mark.slow
def test_a_running_server_shows_what_watch_added_without_a_restart(website, tmp_path):
    root = tmp_path / "ix"
    source = write_jsonl(
        tmp_path / "seed.jsonl", [{"id": "seed", "title": "旧闻", "text": "市图书馆周末照常开放。"}]
    )
    hashing_writer(root).build(read_sources([source]))
    feed = website.put("/feed.xml", rss("江城新闻网", [item(7)]))
    with running_server(root, tmp_path / "serve.log") as url:
        assert httpx.get(f"{url}/api/index").json()["generation"] == generation(root)
        result = CliRunner().invoke(
            cli, ["watch", feed, "--once", "--index", str(root), "--model", "hashing-test"], env=FAST_WEB
        )
        assert "1 added" in result.stdout, result.output
        # Every worker of the server follows the pointer on its own: wait until
        # several answers in a row (whichever worker takes them) come from the new generation.
        question = {"q": "城东新区今年新建口袋公园多少座？"}
        deadline = time.monotonic() + 30
        in_a_row = 0
        while in_a_row < 6:
            assert time.monotonic() < deadline, "the server did not switch to the new generation"
            answer = httpx.get(f"{url}/ask", params=question).json()
            if answer["passages"][0]["title"] == "第7条新闻：城区新建7座口袋公园":
                in_a_row += 1
            else:
                in_a_row = 0
                time.sleep(0.2)
        assert httpx.get(f"{url}/api/index").json()["generation"] == generation(root)


@pytest.mark.slow
def test_watch_runs_until_stopped_and_stops_cleanly(website, tmp_path):
    feed = website.put("/feed.xml", rss("江城新闻网", [item(1)]))
    env = {**os.environ, **FAST_WEB}
    argv = [
        sys.executable,
        "-m",
        "newsqa",
        "watch",
        feed,
        "--every",
        "1s",
        "--index",
        str(tmp_path / "ix"),
        "--model",
        "hashing-test",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "1 added" in first
        assert "1 feeds (1 unchanged)" in proc.stdout.readline(), "it polls again after --every"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped" in err
