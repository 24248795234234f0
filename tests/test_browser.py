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


# Known and harmless: ReDoc's footer shows its logo from its CDN, which the page's CSP blocks.
BLOCKED_BY_CSP = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


def bad(message) -> bool:
    """A console error, other than the browser's note of a 4xx reply (an error turn is one) or
    a known request the CSP stopped before it left."""
    if message.type != "error" or "responded with a status of 4" in message.text:
        return False
    return not ("Content Security Policy" in message.text and any(u in message.text for u in BLOCKED_BY_CSP))


def watched(context):
    """A page of `context` whose script errors, dialogs, console errors (CSP reports among them)
    and requests to other hosts are collected in `page.problems`."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if bad(msg) else None)

    def only_here(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:  # the network is off: nothing may come from elsewhere
            problems.append(f"request to {route.request.url}")
            route.abort()

    page.route("**/*", only_here)
    page.problems = problems
    return page


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 800})
    page = watched(context)
    yield page
    context.close()
    assert page.problems == []


def ask(page, question: str):
    """Type a question, press Enter, and return the new turn once its reply is in."""
    turns = page.locator("#history .turn:not([aria-busy])")
    before = turns.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    turn = turns.nth(before)
    turn.locator(".reply :is(.short-answer, .no-answer, .error)").first.wait_for(timeout=30_000)
    return turn


def reply_in_view(page) -> bool:
    """Whether the newest reply sits fully between the top of the window and the input bar."""
    box = page.locator("#history .turn").last.locator(".reply").bounding_box()
    bar = page.locator("#ask").bounding_box()
    return box is not None and bar is not None and box["y"] >= 0 and box["y"] + box["height"] <= bar["y"] + 1


def test_ask_see_the_answer_and_follow_it_to_the_article(page, server):
    page.goto(server + "/")
    assert page.title().startswith("新闻问答")
    turn = ask(page, "柳州市委书记是谁？")
    assert turn.locator(".question").inner_text().endswith("柳州市委书记是谁？")
    assert turn.locator(".short-answer").inner_text() == "张晓钦"
    assert turn.locator(".reply > .sentence mark").inner_text() == "张晓钦"
    assert "市委书记张晓钦出席会议" in turn.locator(".reply > .sentence").inner_text()
    cite = turn.locator(".reply > .cite")
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
    turn.locator(".reply > .cite a").first.click()
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
    turn.locator(".reply > .cite a").first.click()
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
    assert page.locator(".reply > .sentence mark").inner_text() == "张晓钦"
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


def test_a_follow_up_question_is_understood(page, server):
    page.goto(server + "/")
    ask(page, "柳州上半年地区生产总值是多少？")
    follow = ask(page, "那同比增长多少？")
    assert follow.locator(".understood").inner_text() == "理解为：柳州上半年地区生产总值同比增长多少？"
    assert "1.4" in follow.locator(".short-answer").inner_text()
    assert "破局突围" in follow.locator(".cite").first.inner_text()
    who = ask(page, "柳州市委书记是谁？")  # a new topic: not dragged into the old one
    assert who.locator(".understood").count() == 0
    him = ask(page, "他出席了什么会议？")
    assert "张晓钦" in him.locator(".understood").inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-follow-up.png"), full_page=True)
    # 新对话 starts again: no history, no context.
    page.click("text=新对话")
    page.wait_for_load_state()
    assert page.locator("#history .turn").count() == 0
    assert page.locator("input[name=context]").input_value() == "[]"
    fresh = ask(page, "那同比增长多少？")
    assert fresh.locator(".understood").count() == 0


def test_each_reply_scrolls_into_view_above_the_input_bar(browser, server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = watched(context)
    page.goto(server + "/")
    questions = [
        "柳州市委书记是谁？",
        "文明市民礼仪大赛决赛有多少支队伍参赛？",
        "柳州上半年的房价涨了多少？",
        "全区商会调解观摩交流活动举行了几天？",
        "柳州开通的征兵宣传公交专线是几路车？",
        "柳州螺蛳粉上半年全产业链销售收入是多少？",
    ]
    for question in questions:
        ask(page, question)
        page.wait_for_timeout(100)
        assert reply_in_view(page), question
    assert page.evaluate("window.scrollY") > 0
    page.screenshot(path=str(ARTIFACTS / "chat-scrolled.png"))
    context.close()
    assert page.problems == []


def test_keyboard_recall_and_other_answers(page, server, client_api):
    page.goto(server + "/")
    ask(page, "柳州市委书记是谁？")
    second = ask(page, "柳州上半年地区生产总值是多少？")
    page.press("#question", "ArrowUp")
    assert page.input_value("#question") == "柳州上半年地区生产总值是多少？"
    page.press("#question", "ArrowUp")
    assert page.input_value("#question") == "柳州市委书记是谁？"
    page.press("#question", "ArrowDown")
    assert page.input_value("#question") == "柳州上半年地区生产总值是多少？"
    # "查看其他答案": the runner-up answers with their sources, as the API lists them.
    alternatives = client_api("柳州上半年地区生产总值是多少？")["alternatives"]
    others = second.locator("details.alternatives")
    if alternatives:
        assert others.locator("summary").inner_text().startswith("查看其他答案")
        others.locator("summary").click()
        shown = others.locator(".alt-answer").all_inner_texts()
        assert shown == [a["text"] for a in alternatives]
        assert others.locator(".cite").first.is_visible()
    else:
        assert others.count() == 0


@pytest.fixture(scope="module")
def client_api(server):
    import httpx

    def ask_api(question: str) -> dict:
        return httpx.post(f"{server}/ask", json={"question": question}, timeout=60).json()

    return ask_api


def test_english_questions_get_english_replies(page, server):
    page.goto(server + "/")
    turn = ask(page, "What is the price of a flat in Liuzhou?")
    reply = turn.locator(".reply").inner_text()
    assert "没有找到答案" not in reply and "出处" not in reply
    assert "No answer found" in reply or "Source:" in reply
    empty = ask(page, "  ")
    assert "请输入问题" in empty.locator(".error").inner_text()
    assert empty.locator(".question").count() == 0  # no empty bubble


def test_the_page_with_and_without_javascript_shows_the_same_reply(browser, page, server):
    question = "柳州市委书记是谁？"
    page.goto(server + "/")
    with_js = ask(page, question).locator(".reply").inner_text()
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    plain = context.new_page()
    plain.goto(server + "/")
    plain.fill("#question", question)
    plain.press("#question", "Enter")
    plain.wait_for_load_state()
    assert plain.locator("#latest .reply").inner_text() == with_js
    context.close()


def test_without_javascript_the_conversation_stays_in_the_form(browser, server):
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    for question in ("柳州上半年地区生产总值是多少？", "那同比增长多少？"):
        page.fill("#question", question)
        page.press("#question", "Enter")
        page.wait_for_load_state()
    assert page.locator(".turn.earlier .question").inner_text().endswith("柳州上半年地区生产总值是多少？")
    assert page.locator("#latest .understood").inner_text() == "理解为：柳州上半年地区生产总值同比增长多少？"
    page.screenshot(path=str(ARTIFACTS / "chat-no-js-follow-up.png"), full_page=True)
    page.fill("#question", "  ")
    page.press("#question", "Enter")
    page.wait_for_load_state()
    assert "请输入问题" in page.locator("#latest .error").inner_text()
    context.close()


def test_phone_width_follow_up(browser, server):
    context = browser.new_context(
        locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = watched(context)
    page.goto(server + "/")
    ask(page, "柳州市委书记是谁？")
    follow = ask(page, "他出席了什么会议？")
    assert follow.locator(".understood").is_visible()
    assert reply_in_view(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator(".new-chat").is_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-phone-follow-up.png"))
    context.close()
    assert page.problems == []


@pytest.mark.parametrize("path,ready", [("/docs", ".opblock-summary-path"), ("/redoc", "h1")])
def test_the_api_docs_render_offline(browser, server, path, ready):
    context = browser.new_context(locale="en-US")
    page = watched(context)  # requests to anywhere but this server are aborted and reported
    page.goto(server + path)
    page.locator(ready).first.wait_for(timeout=30_000)
    text = page.locator("body").inner_text()
    assert "/ask" in text and "newsqa" in text
    page.screenshot(path=str(ARTIFACTS / f"docs{path.replace('/', '-')}.png"))
    context.close()
    assert page.problems == []


def test_the_filters_answer_only_from_the_articles_they_allow(page, server):
    page.goto(server + "/")
    filters = page.locator("details.filters")
    assert not filters.locator("input[name=source]").is_visible()  # folded until wanted
    filters.locator("summary").click()
    page.fill("input[name=source]", "南国早报")  # no article of the sample is from it
    nothing = ask(page, "柳州市委书记是谁？")
    assert nothing.locator(".no-answer").count() == 1 and nothing.locator("details.passages").count() == 0
    assert "放宽筛选" in nothing.locator(".hint").inner_text()  # says why, not "see the passages below"
    page.fill("input[name=source]", "柳州日报")
    page.fill("input[name=since]", "2024-08-01")
    turn = ask(page, "柳州市委书记是谁？")
    assert turn.locator(".short-answer").inner_text() == "张晓钦"
    assert page.locator("input[name=source]").input_value() == "柳州日报"  # kept for the next question
    page.screenshot(path=str(ARTIFACTS / "chat-filters.png"))


def test_phone_width_filters(browser, server):
    context = browser.new_context(
        locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = watched(context)
    page.goto(server + "/")
    page.locator("details.filters summary").click()
    page.fill("input[name=source]", "柳州日报")
    page.fill("input[name=until]", "2024-08-31")
    turn = ask(page, "柳州市委书记是谁？")
    assert turn.locator(".short-answer").inner_text() == "张晓钦"
    # The open control wraps above the input bar: nothing spills sideways, the question field stays usable.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for field in ("input[name=since]", "input[name=until]", "input[name=source]", "#question"):
        box = page.locator(field).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], field
    assert reply_in_view(page)
    page.screenshot(path=str(ARTIFACTS / "chat-phone-filters.png"))
    context.close()
    assert page.problems == []


def test_without_javascript_the_filters_travel_with_the_form(browser, server):
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.locator("details.filters summary").click()
    page.fill("input[name=source]", "南国早报")
    page.fill("#question", "柳州市委书记是谁？")
    page.press("#question", "Enter")
    page.wait_for_load_state()
    assert page.locator("#latest .no-answer").count() == 1
    assert page.locator("input[name=source]").input_value() == "南国早报"  # the page came back with it
    assert page.locator("details.filters").get_attribute("open") is not None
    context.close()
