"""What the server lets in and what it answers with: questions that are not text, size limits,
the rate limit, security headers, article ids, the admin token, conversations, and what the
logs hold. In process (TestClient) unless the point is the real server."""

import html
import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from newsqa.config import CONTEXT_TURNS_MAX, Settings
from newsqa.web.app import create_app
from newsqa.web.conversations import ConversationStore
from newsqa.web.guards import RateLimiter
from newsqa.web.schemas import ContextTurn
from testbed.server import running_server

QUESTION = "柳州市委书记是谁？"


def app_client(index_dir, **settings) -> TestClient:
    settings.setdefault("reload_token", None)
    return TestClient(create_app(Settings(index_dir=index_dir, **settings)))


@pytest.fixture(scope="module")
def client(sample_index):
    with app_client(sample_index) as c:
        yield c


def one_line_error(response, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and says in body["error"], body
    assert "\n" not in body["error"] and len(body["error"]) < 300


# ---------------------------------------------------------------- questions that are not text
@pytest.mark.parametrize(
    "question,says",
    [
        ("\ud800柳州", "lone UTF-16 surrogate (U+D800 at character 1)"),
        ("柳州\udcff", "not valid UTF-8 (byte 0xFF at character 3)"),
        ("柳州\x00是", "control character (U+0000 at character 3)"),
        ("柳州\x1b[31m", "control character (U+001B"),
        ("柳州\ufffd", "U+FFFD at character 3"),
    ],
)
def test_a_question_that_is_not_text_is_a_400_naming_the_character(client, question, says):
    # Sent as JSON escapes, as a client would send a lone surrogate or a control character.
    escaped = "".join(
        c if 32 <= ord(c) < 0xD800 or 0xDFFF < ord(c) < 0xFFFD else f"\\u{ord(c):04x}" for c in question
    )
    body = f'{{"question": "{escaped}"}}'.encode()
    response = client.post("/ask", content=body, headers={"content-type": "application/json"})
    one_line_error(response, 400, says)


def test_tabs_newlines_and_invisible_characters_are_cleaned_not_refused(client):
    data = client.post("/ask", json={"question": "\u200b柳州市委\t书记\n是谁？\ufeff"}).json()
    assert data["question"] == "柳州市委 书记 是谁？"


def test_a_body_that_is_not_utf8_is_a_400_naming_the_byte(client):
    response = client.post(
        "/ask", content=b'{"question": "\xff\xfe\xe6\x9f\xb3"}', headers={"content-type": "application/json"}
    )
    one_line_error(response, 400, "the request body is not valid UTF-8 (byte 0xFF at offset 14)")


def test_a_query_string_that_is_not_utf8_is_a_400(client):
    response = client.get("/ask?q=%FF%FE%E6%9F%B3")
    one_line_error(response, 400, "the query string is not valid UTF-8 (byte 0xFF")


def test_a_form_that_is_not_utf8_is_a_400_page(client):
    response = client.post(
        "/", content=b"question=%FF%FE", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400 and "无法识别" in response.text


# ---------------------------------------------------------------- sizes
def test_a_body_over_the_limit_is_a_413(sample_index):
    with app_client(sample_index, max_body_bytes=2048) as c:
        one_line_error(c.post("/ask", json={"question": "问" * 1000}), 413, "larger than 2048 bytes")
        # Streamed without a length: counted as it arrives.
        chunks = iter([b'{"question": "', "问".encode() * 1000, b'"}'])
        one_line_error(
            c.post("/ask", content=chunks, headers={"content-type": "application/json"}), 413, "larger than"
        )
        assert c.post("/ask", json={"question": QUESTION}).status_code == 200


def test_headers_over_the_limit_are_a_431(sample_index):
    with app_client(sample_index, max_header_bytes=2048) as c:
        one_line_error(c.get("/healthz", headers={"x-padding": "x" * 3000}), 431, "the limit is 2048")
        assert c.get("/healthz").status_code == 200


def test_the_real_server_limits_the_request_head_too(sample_index, tmp_path):
    with running_server(sample_index, tmp_path / "serve.log", args=["--workers", "1"]) as url:
        response = httpx.get(f"{url}/healthz", headers={"x-padding": "x" * 40_000})
        assert response.status_code in (400, 431)
        assert httpx.get(f"{url}/healthz").status_code == 200


# ---------------------------------------------------------------- the rate limit
def test_the_rate_limiter_refills_over_time():
    limiter = RateLimiter(per_minute=2)
    assert limiter.wait_s("a", now=0.0) == 0 and limiter.wait_s("a", now=0.0) == 0
    assert limiter.wait_s("a", now=0.0) == pytest.approx(30.0)
    assert limiter.wait_s("b", now=0.0) == 0  # per client
    assert limiter.wait_s("a", now=31.0) == 0


def test_the_rate_limit_is_off_by_default_and_answers_429_with_retry_after(client, sample_index):
    for _ in range(5):
        assert client.get("/ask", params={"q": QUESTION}).status_code == 200
    with app_client(sample_index, rate_limit_per_minute=2) as c:
        assert c.post("/ask", json={"question": QUESTION}).status_code == 200
        assert c.get("/ask", params={"q": QUESTION}).status_code == 200
        limited = c.post("/ask", json={"question": QUESTION})
        one_line_error(limited, 429, "too many questions")
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        page = c.post("/", data={"question": QUESTION})
        assert page.status_code == 429 and "请" in page.text and page.headers["retry-after"]
        assert c.get("/healthz").status_code == 200  # only asking is limited


# ---------------------------------------------------------------- headers
@pytest.mark.parametrize("path", ["/", "/articles/nope", "/docs", "/redoc", "/nowhere"])
def test_every_html_page_gets_the_security_headers(client, path):
    response = client.get(path, headers={"accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    # Inline styles only for the docs (Swagger UI and ReDoc write <style>), never inline script.
    assert ("unsafe-inline" in csp) == (path in ("/docs", "/redoc"))
    assert "style-src 'self' 'unsafe-inline'" in csp or "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text  # no inline script: scripts come from /static


def test_json_gets_nosniff(client):
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_docs_and_favicon_are_served_from_here(client):
    page = client.get("/docs").text
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/static/docs.js"):
        assert asset in page and client.get(asset).status_code == 200
    assert "/docs-assets/redoc.standalone.js" in client.get("/redoc").text
    assert "http" not in page.replace("https://", "").split("<body>")[0]  # nothing from elsewhere
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg")


# ---------------------------------------------------------------- article ids
@pytest.mark.parametrize(
    "article_id",
    [
        "../../etc/passwd",
        "..%2F..%2Fpasswd",
        "x' OR '1'='1",
        "1; DROP TABLE articles; --",
        "a" * 300,
        "%00",
        "tab%09id",
    ],
)
def test_hostile_article_ids_are_404s(client, snapshot_ids, article_id):
    page = client.get(f"/articles/{article_id}")
    assert page.status_code == 404 and "root:" not in page.text  # "../" is resolved by the client
    assert len(page.text) < 5000
    # The index is still whole.
    assert client.get(f"/articles/{snapshot_ids[0]}").status_code == 200


@pytest.fixture(scope="module")
def snapshot_ids(client):
    return [a.id for a in client.app.state.live.current().snapshot.iter_articles()]


def test_context_article_ids_are_checked(client):
    turn = {"question": "谁？", "article_id": "x" * 300}
    one_line_error(client.post("/ask", json={"question": QUESTION, "context": [turn]}), 422, "article id")


# ---------------------------------------------------------------- the admin token
def test_the_admin_token_is_checked_and_never_shown(sample_index, caplog):
    secret = "s3cret-reload-token-value"
    with app_client(sample_index, reload_token=secret) as c, caplog.at_level(logging.DEBUG):
        for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {secret}"}):
            response = c.post("/admin/reload", headers=header)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        ok = c.post("/admin/reload", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and secret not in ok.text
        assert secret not in repr(c.app.state.settings)
    assert secret not in caplog.text


def test_the_logs_hold_neither_tokens_nor_article_text(sample_index, tmp_path):
    secret = "another-secret-token"
    log = tmp_path / "serve.log"
    env = {"NEWSQA_RELOAD_TOKEN": secret}
    with running_server(sample_index, log, env=env, args=["--workers", "1"]) as url:
        with httpx.Client(base_url=url) as http:
            article_id = http.post("/ask", json={"question": QUESTION}).json()["answer"]["article_id"]
            page = http.get(f"/articles/{article_id}")
            http.post("/admin/reload", headers={"Authorization": "Bearer nope"})
            http.post("/admin/reload", headers={"Authorization": f"Bearer {secret}"})
            http.post("/ask", content=b"\xff", headers={"content-type": "application/json"})
    text = log.read_text(encoding="utf-8")
    assert secret not in text and "nope" not in text
    body = html.unescape(page.text)
    sentence = "自治区人大常委会副主任、党组副书记,市委书记张晓钦出席会议并讲话"
    assert sentence in body and sentence not in text


# ---------------------------------------------------------------- conversations over the API
def test_a_conversation_by_id(client):
    first = client.post("/ask", json={"question": "柳州上半年地区生产总值是多少？"}).json()
    conversation = first["conversation_id"]
    follow = client.post(
        "/ask", json={"question": "那同比增长多少？", "conversation_id": conversation}
    ).json()
    assert follow["resolved_question"] == "柳州上半年地区生产总值同比增长多少？"
    assert follow["conversation_id"] == conversation
    by_get = client.get("/ask", params={"q": "为什么？", "conversation_id": conversation}).json()
    assert by_get["resolved_question"].startswith("为什么柳州上半年地区生产总值")
    unknown = client.post("/ask", json={"question": "为什么？", "conversation_id": "x" * 24})
    one_line_error(unknown, 404, "no such conversation")


def test_a_conversation_by_context(client):
    context = [{"question": "柳州市委书记是谁？", "answer": "张晓钦"}]
    data = client.post("/ask", json={"question": "他出席了什么会议？", "context": context}).json()
    assert data["resolved_question"] == "张晓钦出席了什么会议？"
    too_many = [context[0]] * (CONTEXT_TURNS_MAX + 1)
    one_line_error(client.post("/ask", json={"question": "为什么？", "context": too_many}), 422, "too long")
    bad = client.post("/ask", json={"question": "为什么？", "context": [{"question": "a\x00"}]})
    one_line_error(bad, 422, "control character")


def test_conversations_are_kept_for_a_bounded_time_and_count(tmp_path):
    store = ConversationStore(tmp_path / "c.sqlite", ttl_s=60, max_conversations=3)
    turn = ContextTurn(question="谁？")
    for i in range(5):
        store.save(f"conversation-{i:08d}-x", [turn] * (CONTEXT_TURNS_MAX + 3), now=100.0 + i)
    assert len(store.turns("conversation-00000004-x", now=105.0) or []) == CONTEXT_TURNS_MAX
    assert store.turns("conversation-00000004-x", now=200.0) is None  # expired
    store.prune(now=105.0)
    assert len(store) == 3 and store.turns("conversation-00000000-x", now=105.0) is None
