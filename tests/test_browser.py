"""The chat page in a real browser (Playwright driving the system Chromium) against a real server.

Screenshots go to tests/artifacts/. Skips when /usr/bin/chromium or playwright is missing,
unless NEWSQA_REQUIRE_ALL=1 (as in CI), when they fail.
"""

from pathlib import Path

import pytest

from testbed.server import running_server
from tests.helpers import IMG, SCRIPT, build_xss_index, missing

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright; no browser download needed)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(sample_index, tmp_path_factory):
    log = tmp_path_factory.mktemp("browser") / "serve.log"
    with running_server(sample_index, log) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    context.close()
    assert errors == []


def ask(page, question: str):
    """Type a question, press Enter, and return the new turn once its reply is in."""
    turns = page.locator("#history .turn")
    before = turns.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    turn = turns.nth(before)
    turn.locator(".reply :is(.short-answer, .no-answer, .error)").wait_for(timeout=30_000)
    return turn


def test_ask_see_the_answer_and_follow_it_to_the_article(page, server):
    page.goto(server + "/")
    assert page.title().startswith("新闻问答")
    turn = ask(page, "柳州市委书记是谁？")
    assert turn.locator(".question").inner_text().endswith("柳州市委书记是谁？")
    assert turn.locator(".short-answer").inner_text() == "张晓钦"
    assert turn.locator(".sentence mark").inner_text() == "张晓钦"
    assert "市委书记张晓钦出席会议" in turn.locator(".sentence").inner_text()
    cite = turn.locator(".cite")
    assert "市委市政府召开全市年中工作会议" in cite.inner_text()
    assert "柳州日报" in cite.inner_text() and "2024-08-02" in cite.inner_text()
    details = turn.locator("details.passages")
    assert details.count() == 1 and 2 <= details.locator("li").count() <= 3
    assert not details.locator("li").first.is_visible()  # folded
    details.locator("summary").click()
    assert details.locator("li").first.is_visible()

    # History stays on the page.
    second = ask(page, "柳州上半年的房价涨了多少？")
    assert second.locator(".no-answer").inner_text() == "没有找到答案"
    assert page.locator("#history .turn").count() == 2
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # Follow the answer to its article: the passage and the answer are highlighted, in view.
    turn.locator(".cite a").first.click()
    page.wait_for_url("**/articles/**")
    highlight = page.locator("#hl")
    highlight.wait_for()
    assert page.locator("h1").inner_text() == "市委市政府召开全市年中工作会议"
    assert page.locator("mark.answer").inner_text() == "张晓钦"
    assert page.locator("mark.passage").count() >= 1
    box = highlight.bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"]
    page.screenshot(path=str(ARTIFACTS / "article.png"))


def test_errors_are_shown_inline(page, server):
    page.goto(server + "/")
    turn = ask(page, "   ")
    assert "请输入问题" in turn.locator(".error").inner_text()


def test_phone_width(browser, server):
    context = browser.new_context(
        locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(server + "/")
    turn = ask(page, "文明市民礼仪大赛决赛有多少支队伍参赛？")
    assert turn.locator(".short-answer").inner_text() == "22支"
    ask(page, "全区商会调解观摩交流活动举行了几天？")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#question").is_visible() and page.locator("button[type=submit]").is_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    turn.locator(".cite a").first.click()
    page.locator("#hl").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "article-phone.png"))
    context.close()


def test_without_javascript_the_form_still_answers(browser, server):
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.fill("#question", "柳州市委书记是谁？")
    page.press("#question", "Enter")
    page.wait_for_load_state()
    assert page.locator(".short-answer").inner_text() == "张晓钦"
    assert page.locator(".sentence mark").inner_text() == "张晓钦"
    context.close()


def test_hostile_text_stays_text(page, tmp_path):
    root = build_xss_index(tmp_path / "index")
    with running_server(root, tmp_path / "serve.log") as url:
        page.goto(url + "/")
        turn = ask(page, f"{SCRIPT}市长视察了什么？{IMG}")
        assert SCRIPT in turn.locator(".question").inner_text()
        for summary in turn.locator("details.passages summary").all():
            summary.click()
        shown = turn.inner_text()
        assert SCRIPT in shown and IMG in shown
        assert turn.locator("script, img").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0
        page.goto(url + "/articles/xss-1")
        assert SCRIPT in page.locator("h1").inner_text()
        assert page.locator("main img, main script").count() == 0
    # The page fixture fails the test if an alert() ran.
