"""Fetching from a real server on 127.0.0.1: User-Agent, robots.txt, redirects, errors, retries with
backoff, per-host rate limit, conditional requests."""

import pytest

from newsqa.index.fetch import DEFAULT_USER_AGENT, Fetcher, FetchError, FetchPolicy


def test_fetches_with_a_descriptive_user_agent_and_follows_redirects(website, web):
    website.redirect("/old-link", "/news/port-trade.html")
    page = web.get(website.url + "/old-link")
    assert page.status == 200 and page.final_url == website.url + "/news/port-trade.html"
    assert "前11个月海滨港" in page.content.decode("utf-8")
    assert page.content_type == "text/html" and page.charset == "utf-8" and page.etag
    agents = {r.headers.get("user-agent") for r in website.log}
    assert agents == {DEFAULT_USER_AGENT} and "newsqa/" in DEFAULT_USER_AGENT
    assert website.requests_to("/robots.txt"), "robots.txt is read before the first page"


def test_http_errors_timeouts_and_redirect_loops_are_one_line_errors(website, web):
    website.put("/slow.html", "<p>slow</p>", delay=3)
    website.redirect("/loop", "/loop")
    with pytest.raises(FetchError, match=r"/missing.html: HTTP 404 Not Found$") as missing:
        web.get(website.url + "/missing.html")
    assert not missing.value.transient
    with pytest.raises(FetchError, match=r"timed out after 1s .*tried 2 times") as slow:
        web.get(website.url + "/slow.html")
    assert slow.value.transient
    with pytest.raises(FetchError, match="more than 5 redirects"):
        web.get(website.url + "/loop")


def test_robots_txt_is_respected(website, web):
    website.put("/robots.txt", "User-agent: newsqa\nDisallow: /private/\n", "text/plain")
    website.put("/private/page.html", "<p>secret</p>")
    with pytest.raises(FetchError, match=r"robots.txt of 127.0.0.1:\d+ disallows it for newsqa"):
        web.get(website.url + "/private/page.html")
    assert not website.requests_to("/private/page.html")
    assert web.get(website.url + "/news/port-trade.html").status == 200
    assert len(website.requests_to("/robots.txt")) == 1, "read once per host"


def test_unreachable_robots_txt_means_not_now(website):
    website.put("/robots.txt", "", "text/plain", status=500)
    with Fetcher(FetchPolicy(timeout=1.0, retries=0, host_interval=0.0)) as fetcher:
        with pytest.raises(FetchError, match="robots.txt of .* is unreachable") as error:
            fetcher.get(website.url + "/news/port-trade.html")
    assert error.value.transient and not website.requests_to("/news/port-trade.html")


def test_retries_a_503_with_backoff_then_succeeds(website):
    website.put("/busy.html", "<p>ok</p>", failures=2)
    slept = []
    policy = FetchPolicy(timeout=1.0, retries=2, backoff=0.5, host_interval=0.0)
    with Fetcher(policy, sleep=slept.append) as fetcher:
        assert fetcher.get(website.url + "/busy.html").content == b"<p>ok</p>"
    assert [r.status for r in website.requests_to("/busy.html")] == [503, 503, 200]
    assert slept == [0.0, 0.0], "the server's Retry-After: 0 wins over the backoff"
    website.put("/down.html", "<p>ok</p>", failures=5)
    with Fetcher(policy, sleep=slept.append) as fetcher, pytest.raises(FetchError, match="HTTP 503"):
        fetcher.get(website.url + "/down.html")


def test_backoff_doubles_after_timeouts(website):
    website.put("/slow.html", "<p>slow</p>", delay=2)
    slept = []
    with Fetcher(FetchPolicy(timeout=0.3, retries=2, backoff=0.25, host_interval=0), sleep=slept.append) as f:
        with pytest.raises(FetchError, match="tried 3 times"):
            f.get(website.url + "/slow.html")
    assert slept == [0.25, 0.5]


def test_per_host_rate_limit(website):
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds

    with Fetcher(FetchPolicy(host_interval=2.0), sleep=sleep, clock=lambda: now[0]) as fetcher:
        fetcher.get(website.url + "/news/port-trade.html")  # robots.txt, then the page: one wait
        fetcher.get(website.url + "/news/tea-farmers.html")
    assert slept == [2.0, 2.0]


def test_conditional_requests_get_304(website, web):
    first = web.get(website.url + "/news/port-trade.html")
    again = web.get(website.url + "/news/port-trade.html", etag=first.etag)
    assert again.not_modified and again.content == b""
    by_date = web.get(website.url + "/news/port-trade.html", last_modified=first.last_modified)
    assert by_date.not_modified
    assert website.requests_to("/news/port-trade.html")[1].headers["if-none-match"] == first.etag
