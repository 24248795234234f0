"""What one `watch` poll costs: a 100-item feed with nothing new, and with 10 new items.

A local web site (testbed.website) serves an RSS feed whose items carry only a
summary, each linking to an article page (texts: CMRC 2018 trial contexts, so
no two are wire copies), as most news feeds do. The index starts with the
feed's 100 items. Then, each measured as one `FeedWatcher.cycle()`:

- nothing new, the server answering conditional requests (ETag → 304);
- nothing new, a server that ignores them (the feed is fetched and parsed, every
  item's fingerprint compared, no page fetched);
- 10 new items (110 in the feed): 10 pages fetched and extracted, one index
  update, with the per-host interval at 0 (the local site) and at the default 1 s.

Requests, seconds, and the index write's share are printed for each, with the
default embedder (USE) unless --model says otherwise.

    python -m bench.watch [--model hashing-test]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import dev_sets, report
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import load_embedder
from newsqa.index.fetch import Fetcher, FetchPolicy
from newsqa.index.watch import FeedWatcher
from testbed.website import Website, rss, serving

PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}_江城新闻网</title>
<meta property="og:site_name" content="江城新闻网"><meta property="article:published_time" content="2024-12-02">
</head><body><div class="nav"><a href="/">首页</a> | <a href="/city/">城市</a> | <a href="/finance/">财经</a></div>
<div class="article"><h1>{title}</h1><div class="content">{paragraphs}</div></div>
<div class="related"><a href="/a">相关新闻一</a> <a href="/b">相关新闻二</a></div><div class="footer">江城新闻网 版权所有</div>
</body></html>"""


def articles(n: int) -> list[tuple[str, str]]:
    """(title, text) of `n` distinct articles from the CMRC 2018 trial contexts."""
    data = json.loads(dev_sets()[0].read_text(encoding="utf-8"))["data"]
    out = []
    for entry in data:
        for paragraph in entry["paragraphs"]:
            out.append((entry.get("title") or paragraph["context"][:12], paragraph["context"]))
            if len(out) == n:
                return out
    raise SystemExit(f"bench.watch: only {len(out)} contexts, {n} wanted")


def publish(site: Website, pages: list[tuple[str, str]], conditional: bool = True) -> str:
    items = []
    for k, (title, text) in enumerate(pages):
        body = "".join(f"<p>{p}</p>" for p in text.split("\n") if p.strip())
        site.put(f"/news/{k}.html", PAGE.format(title=f"{title}（{k}）", paragraphs=body))
        items.append(
            {
                "title": f"{title}（{k}）",
                "link": f"{site.url}/news/{k}.html",
                "guid": f"news-{k}",
                "pubDate": "Mon, 02 Dec 2024 09:00:00 +0800",
                "description": text[:60],
            }
        )
    return site.put("/feed.xml", rss("江城新闻网", items), conditional=conditional)


def measure(name: str, watcher: FeedWatcher) -> dict:
    started = time.perf_counter()
    cycle = watcher.cycle()
    seconds = time.perf_counter() - started
    write = cycle.write
    return {
        "poll": name,
        "items": cycle.items,
        "new": cycle.new_items,
        "requests": cycle.requests,
        "seconds": round(seconds, 3),
        "index_write_s": round(write.seconds, 3) if write else 0.0,
        "embed_s": round(write.embed_seconds, 3) if write else 0.0,
        "indexed": write.added + write.updated if write else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="use-multilingual-v3")
    args = parser.parse_args()
    pages = articles(110)
    embedder = load_embedder(args.model)
    embedder.warm_up()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, serving() as site:
        writer = IndexWriter(Path(tmp) / "index", embedder)
        fast = Fetcher(FetchPolicy(host_interval=0.0))
        feed = publish(site, pages[:100])
        watcher = FeedWatcher(writer, [feed], fast)
        rows.append(measure("first poll (100 new, host interval 0 s)", watcher))
        rows.append(measure("nothing new, 304", watcher))
        publish(site, pages[:100], conditional=False)
        rows.append(measure("nothing new, no conditional GET", watcher))
        publish(site, pages[:110])
        rows.append(measure("10 new, host interval 0 s", watcher))
        polite = Fetcher(FetchPolicy())  # the default: 1 s between two requests to one host
        publish(site, pages[:100] + [(t, "更新：" + x) for t, x in pages[100:110]])
        rows.append(measure("10 changed, host interval 1 s (default)", FeedWatcher(writer, [feed], polite)))
        fast.close()
        polite.close()
    report("watch", rows, model=args.model)


if __name__ == "__main__":
    main()
