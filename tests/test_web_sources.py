"""Web article pages and news feeds as sources, from files and from a real server on 127.0.0.1:
what is indexed, what is skipped, and the one-line messages."""

import json

import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.index.html import NotAnArticle, decode_html, extract_article, html_fragment_text
from newsqa.index.sources import SourceProblem, read_sources
from testbed import SITE
from testbed.website import rss

NEWS = SITE / "news"
KEY = json.loads((NEWS / "expected.json").read_text(encoding="utf-8"))["pages"]
FAST_WEB = {"NEWSQA_FETCH_HOST_INTERVAL": "0", "NEWSQA_FETCH_TIMEOUT": "1", "NEWSQA_FETCH_RETRIES": "0"}


def split(items):
    articles = [i for i in items if not isinstance(i, SourceProblem)]
    problems = [str(i) for i in items if isinstance(i, SourceProblem)]
    return articles, problems


@pytest.mark.parametrize("name", [n for n, k in KEY.items() if "skip" not in k])
def test_article_pages_give_headline_date_and_verbatim_body(name):
    want = KEY[name]
    article = extract_article(decode_html((NEWS / name).read_bytes()), name)
    assert article.title == want["title"]
    assert article.published == want["published"]
    assert article.text == "\n".join(want["paragraphs"])
    assert list(article.subtitles) == want.get("subtitles", [])
    if "source" in want:
        assert article.source == want["source"]
    # Verbatim: every paragraph is text of the page itself.
    page = decode_html((NEWS / name).read_bytes())
    assert all(p in page for p in want["paragraphs"])


@pytest.mark.parametrize("name", [n for n, k in KEY.items() if "skip" in k])
def test_pages_that_are_not_articles_are_skipped_with_a_reason(name):
    with pytest.raises(NotAnArticle, match=KEY[name]["skip"]):
        extract_article(decode_html((NEWS / name).read_bytes()), name)


def test_gbk_pages_decode_by_meta_or_header_and_gb2312_reads_as_gb18030():
    data = (NEWS / "village-bus-gbk.html").read_bytes()
    assert "村村通" in decode_html(data) and "村村通" in decode_html(data, "GB2312")
    assert decode_html("头条".encode("gb18030"), "gbk") == "头条"


def test_a_folder_of_saved_pages_reads_articles_and_names_what_it_skips():
    articles, problems = split(list(read_sources([NEWS])))
    assert len(articles) == sum("skip" not in k for k in KEY.values())
    assert any(p.startswith(str(NEWS / "index.html")) and "an index page" in p for p in problems)
    assert any("paywalled.html: behind a paywall" in p for p in problems)
    by_title = {a.title: a for a in articles}
    metro = by_title["江城地铁5号线今日开通运营"]
    assert metro.url == "https://news.jiangcheng.example/city/2024/12/28/metro-line5.html"
    assert metro.source == "江城新闻网"


def test_feed_item_content_becomes_text_one_block_per_line():
    html = "<p>第一段<b>加粗</b>。</p><figure><figcaption>图注</figcaption></figure><ul><li><p>要点</p></li></ul>"
    assert html_fragment_text(html) == "第一段加粗。\n要点"


def test_pages_by_url_indexed_and_skipped_with_one_line_messages(website, web):
    website.put("/slow.html", "<p>慢</p>", delay=3)
    website.redirect("/moved", "/news/tea-farmers.html")
    urls = [
        website.url + "/news/village-bus-gbk.html",
        website.url + "/moved",
        website.url + "/missing.html",
        website.url + "/slow.html",
        website.url + "/news/index.html",
    ]
    articles, problems = split(list(read_sources(urls, fetcher=web)))
    assert [a.title for a in articles] == [
        "西岭县首条“村村通”公交线路开通",
        "茶园里的“新农人”：返乡青年带富一方乡亲",
    ]
    gbk, moved = articles
    assert gbk.url == urls[0] and "2000多名村民" in gbk.text
    assert moved.url == website.url + "/news/tea-farmers.html", "the page's own address after the redirect"
    assert problems == [
        f"{website.url}/missing.html: HTTP 404 Not Found",
        f"{website.url}/slow.html: timed out after 1s (ReadTimeout), tried 2 times",
        f"{website.url}/news/index.html: an index page, not an article (18 links, 4 characters of main text)",
    ]


def feed_items(url):
    return [
        {
            "title": "江城地铁5号线今日开通运营",
            "link": url + "/news/city-metro-line5.html",
            "guid": "metro-5",
            "pubDate": "Sat, 28 Dec 2024 09:30:00 +0800",
            "description": "江城地铁5号线一期工程今日开通初期运营。",
        },
        {
            "title": "供暖季将至 热力公司开通24小时热线",
            "link": url + "/full/heating-line",
            "guid": "heating-line",
            "pubDate": "Wed, 30 Oct 2024 01:10:00 +0800",
            "content": "<p>市热力公司昨日宣布，供暖期间开通24小时服务热线，市民可随时报修。</p>"
            "<p>热力公司提醒，室温低于18摄氏度可拨打热线反映。</p>",
        },
        {"title": "一条坏条目"},
        {
            "title": "链接失效的条目",
            "link": url + "/gone.html",
            "guid": "gone",
            "description": "只有摘要。",
        },
    ]


def test_index_add_a_feed_url_takes_full_items_fetches_summary_items_and_skips_broken_ones(website, tmp_path):
    feed = website.put("/feed.xml", rss("江城新闻网", feed_items(website.url)))
    root = tmp_path / "ix"
    result = CliRunner().invoke(
        cli, ["index", "add", feed, "--index", str(root), "--model", "hashing-test"], env=FAST_WEB
    )
    assert result.exit_code == 0, result.output
    assert "2 added" in result.stdout
    assert f"skipped {feed}: item 3 (一条坏条目): no link and no text" in result.stderr
    assert (
        f"skipped {feed}: item 4 (链接失效的条目): {website.url}/gone.html: HTTP 404 Not Found"
        in result.stderr
    )
    dry = CliRunner().invoke(cli, ["ingest", feed, "--dry-run", "--json"], env=FAST_WEB)
    records = {r["title"]: r for r in map(json.loads, dry.stdout.splitlines())}
    metro, heating = records["江城地铁5号线今日开通运营"], records["供暖季将至 热力公司开通24小时热线"]
    assert metro["text"].startswith("12月28日上午9时") and metro["source"] == "江城新闻网"
    assert metro["published"] == "2024-12-28"
    assert (
        heating["text"]
        == "市热力公司昨日宣布，供暖期间开通24小时服务热线，市民可随时报修。\n热力公司提醒，室温低于18摄氏度可拨打热线反映。"
    )
    assert heating["published"] == "2024-10-30", "the publisher's own day, not UTC's"
    assert heating["url"] == website.url + "/full/heating-line" and heating["source"] == "江城新闻网"


def test_atom_and_json_feeds_and_feed_files(tmp_path, web):
    atom = tmp_path / "news.atom"
    atom.write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>海滨在线</title>'
        '<entry><id>urn:1</id><title>海滨港开通新航线</title><link href="https://haibin.example/1"/>'
        "<updated>2024-12-12T16:05:00+08:00</updated>"
        '<content type="html">&lt;p&gt;海滨港开通至东南亚的外贸航线，每周两班。&lt;/p&gt;</content></entry></feed>',
        encoding="utf-8",
    )
    jsonfeed = tmp_path / "news.json"
    jsonfeed.write_text(
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "江北观察",
                "items": [
                    {
                        "id": "n1",
                        "url": "https://jiangbei.example/n1",
                        "title": "夜市开市",
                        "content_text": "江北滨河夜市今晚开市，共有摊位120个。",
                        "date_published": "2024-06-05T20:00:00+08:00",
                    },
                    {"id": "n2", "title": "没有内容"},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    articles, problems = split(list(read_sources([atom, jsonfeed], fetcher=web)))
    assert [(a.title, a.source, a.published, a.text) for a in articles] == [
        ("海滨港开通新航线", "海滨在线", "2024-12-12", "海滨港开通至东南亚的外贸航线，每周两班。"),
        ("夜市开市", "江北观察", "2024-06-05", "江北滨河夜市今晚开市，共有摊位120个。"),
    ]
    assert problems == [f"{jsonfeed}: item 2 (没有内容): no link and no text"]
    broken = tmp_path / "broken.rss"
    broken.write_text("<rss><channel><title>x</title><item><title>a", encoding="utf-8")
    not_a_feed = tmp_path / "not-a-feed.xml"
    not_a_feed.write_text("<html><body>hello</body></html>", encoding="utf-8")
    _, problems = split(list(read_sources([broken, not_a_feed])))
    assert problems[0] == f"{broken}: item 1 (untitled): no link and no text"
    assert problems[1].startswith(f"{not_a_feed}: not ")
