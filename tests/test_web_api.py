"""The web app in process (TestClient, lifespan included) over real indexes: the /ask contract,
errors as one-line JSON, article pages, the server-rendered chat, and escaping of hostile text."""

import html
import re
from pathlib import Path

import pytest

from newsqa.web.app import create_app
from newsqa.web.schemas import AnswerOut, AskResponse, PassageOut
from tests.helpers import IMG, SCRIPT, app_client, build_xss_index

# What the reader answers on the sample page today (tuned elsewhere; update together).
ANSWERS = {
    "柳州市委书记是谁？": "张晓钦",
    "文明市民礼仪大赛决赛有多少支队伍参赛？": "22支",
    "全区商会调解观摩交流活动举行了几天？": "两天",
}
UNANSWERABLE = "柳州上半年的房价涨了多少？"

ANSWER_FIELDS = {
    "text": str,
    "sentence": str,
    "confidence": float,
    "article_id": str,
    "passage_id": str,
    "title": str,
    "url": (str, type(None)),
    "published": (str, type(None)),
    "source": (str, type(None)),
    "also_in": list,
    "start": int,
    "end": int,
    "sentence_start": int,
    "sentence_end": int,
}
PASSAGE_FIELDS = {
    "passage_id": str,
    "article_id": str,
    "title": str,
    "url": (str, type(None)),
    "published": (str, type(None)),
    "source": (str, type(None)),
    "also_in": list,
    "text": str,
    "score": float,
    "start": int,
    "end": int,
}


@pytest.fixture(scope="module")
def snapshot(client):
    return client.app.state.live.current().snapshot


@pytest.fixture(scope="module")
def xss_client(tmp_path_factory):
    root = build_xss_index(tmp_path_factory.mktemp("xss") / "index")
    with app_client(root) as c:
        yield c


def check_fields(record: dict, fields: dict) -> None:
    assert set(record) == set(fields)
    for name, kind in fields.items():
        assert isinstance(record[name], kind), (name, record[name])


# ---------------------------------------------------------------- /ask
@pytest.mark.parametrize("question,answer", ANSWERS.items())
def test_ask_answers_with_its_evidence(client, snapshot, question, answer):
    response = client.post("/ask", json={"question": question})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == set(AskResponse.model_fields)
    assert data["question"] == data["resolved_question"] == question and isinstance(data["took_ms"], float)
    check_fields(data["answer"], ANSWER_FIELDS)
    got = data["answer"]
    assert got["text"] == answer
    assert got["text"] in got["sentence"]
    assert 0.0 < got["confidence"] <= 1.0
    article = snapshot.article(got["article_id"])
    assert article.text[got["start"] : got["end"]] == got["text"]
    assert article.text[got["sentence_start"] : got["sentence_end"]] == got["sentence"]
    for alternative in data["alternatives"]:
        check_fields(alternative, ANSWER_FIELDS)
        assert alternative["text"] != got["text"]
    assert got["title"] == article.title and got["source"] == "柳州日报" and got["published"] == "2024-08-02"
    # The cited passage comes first and holds the answer.
    cited = data["passages"][0]
    assert cited["passage_id"] == got["passage_id"] and got["text"] in cited["text"]
    assert cited["start"] <= got["start"] < got["end"] <= cited["end"]
    for passage in data["passages"]:
        check_fields(passage, PASSAGE_FIELDS)
        assert (
            snapshot.article(passage["article_id"]).text[passage["start"] : passage["end"]] == passage["text"]
        )


def test_no_answer_is_null_with_passages(client):
    data = client.post("/ask", json={"question": UNANSWERABLE}).json()
    assert data["answer"] is None
    assert data["passages"] and all(set(p) == set(PASSAGE_FIELDS) for p in data["passages"])


def test_get_equals_post_and_top_k_is_respected(client):
    question = next(iter(ANSWERS))
    posted = client.post("/ask", json={"question": question, "top_k": 2}).json()
    got = client.get("/ask", params={"q": question, "top_k": 2}).json()
    for data in (posted, got):
        data.pop("took_ms"), data.pop("conversation_id")
    assert posted == got
    assert 1 <= len(got["passages"]) <= 2
    assert len(client.get("/ask", params={"q": question, "top_k": 20}).json()["passages"]) >= 3


ERROR_CASES = [
    ("empty", "post", {"json": {"question": ""}}, 400, "empty"),
    ("whitespace", "post", {"json": {"question": " \n\t　 "}}, 400, "empty"),
    ("501 chars", "post", {"json": {"question": "问" * 501}}, 400, "501 characters"),
    (
        "bad json",
        "post",
        {"content": b'{"question": ', "headers": {"content-type": "application/json"}},
        422,
        "not valid JSON",
    ),
    (
        "no body",
        "post",
        {"content": b"", "headers": {"content-type": "application/json"}},
        422,
        "JSON body",
    ),
    ("not an object", "post", {"json": ["柳州市委书记是谁？"]}, 422, "JSON object"),
    ("form body", "post", {"data": {"question": "柳州市委书记是谁？"}}, 422, "JSON object"),
    ("missing question", "post", {"json": {"top_k": 3}}, 422, '"question" is required'),
    ("question a number", "post", {"json": {"question": 5}}, 422, '"question" must be a string'),
    ("question null", "post", {"json": {"question": None}}, 422, '"question" must be a string'),
    (
        "top_k 0",
        "post",
        {"json": {"question": "谁？", "top_k": 0}},
        422,
        '"top_k" must be between 1 and 20',
    ),
    (
        "top_k 21",
        "post",
        {"json": {"question": "谁？", "top_k": 21}},
        422,
        '"top_k" must be between 1 and 20',
    ),
    (
        "top_k a string",
        "post",
        {"json": {"question": "谁？", "top_k": "five"}},
        422,
        '"top_k" must be a whole number',
    ),
    (
        "top_k a float",
        "post",
        {"json": {"question": "谁？", "top_k": 2.5}},
        422,
        '"top_k" must be a whole number',
    ),
    ("get without q", "get", {}, 422, '"q" is required'),
    ("get empty q", "get", {"params": {"q": "  "}}, 400, "empty"),
    ("get 501 chars", "get", {"params": {"q": "问" * 501}}, 400, "501 characters"),
    (
        "get top_k 0",
        "get",
        {"params": {"q": "谁？", "top_k": 0}},
        422,
        '"top_k" must be between 1 and 20',
    ),
    (
        "get top_k 21",
        "get",
        {"params": {"q": "谁？", "top_k": 21}},
        422,
        '"top_k" must be between 1 and 20',
    ),
    (
        "get top_k text",
        "get",
        {"params": {"q": "谁？", "top_k": "x"}},
        422,
        '"top_k" must be a whole number',
    ),
    ("get since not a date", "get", {"params": {"q": "谁？", "since": "soon"}}, 422, "since must be a date"),
    (
        "get until before since",
        "get",
        {"params": {"q": "谁？", "since": "2024-08-02", "until": "2024-08-01"}},
        422,
        "after until",
    ),
    (
        "get 21 sources",
        "get",
        {"params": {"q": "谁？", "source": [f"报{i}" for i in range(21)]}},
        422,
        "at most 20 items",
    ),
]


@pytest.mark.parametrize("name,method,kwargs,status,says", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_requests_get_one_line_json_errors(client, name, method, kwargs, status, says):
    response = getattr(client, method)("/ask", **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False and set(body) == {"ok", "error"}
    assert says in body["error"]
    assert "\n" not in body["error"] and len(body["error"]) < 300


def test_empty_dates_in_a_query_string_are_no_filter(client):
    # what a form sends for the dates left blank
    response = client.get("/ask", params={"q": "柳州上半年地区生产总值是多少？", "since": "", "until": ""})
    assert response.status_code == 200 and response.json()["answer"]["text"].startswith("1472.3")


def test_500_chars_is_still_a_question(client):
    assert client.post("/ask", json={"question": "柳州" * 250}).status_code == 200


def test_unknown_paths_and_methods(client):
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json()["ok"] is False
    page = client.get("/nowhere", headers={"accept": "text/html"})
    assert page.status_code == 404 and "找不到页面" in page.text
    assert client.delete("/ask").status_code == 405


def test_health_index_info_and_docs(client, sample_index):
    health = client.get("/healthz").json()
    assert health["ok"] is True and health["generation"].startswith("gen-")
    info = client.get("/api/index").json()
    assert info["index"] == str(sample_index) and info["generation"] == health["generation"]
    assert info["articles"] == 7 and info["model"] == "use-multilingual-v3"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/healthz", "/api/index"} <= set(paths)


def test_reload_is_off_without_a_token(client):
    response = client.post("/admin/reload", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404 and "NEWSQA_RELOAD_TOKEN" in response.json()["error"]


def test_a_missing_index_is_a_503_not_a_crash(tmp_path):
    with app_client(tmp_path / "none") as c:
        for response in (
            c.post("/ask", json={"question": "谁？"}),
            c.get("/healthz"),
            c.get("/api/index"),
        ):
            assert response.status_code == 503
            assert "newsqa index build" in response.json()["error"]
        page = c.get("/articles/x")
        assert page.status_code == 503 and "newsqa index build" in html.unescape(page.text)
        chat = c.post("/", data={"question": "谁？"})
        assert chat.status_code == 503 and 'class="error"' in chat.text


def test_one_shape_for_the_answer(client):
    """AskResult.to_dict (the CLI's --json) is what AskResponse (the API) holds, and the reply
    template (the chat, with or without JavaScript) reads only those fields, all the citing ones."""
    data = client.app.state.live.current().ask("柳州市委书记是谁？").to_dict()
    assert set(data) | {"conversation_id"} == set(AskResponse.model_fields)
    assert set(data["answer"]) == set(AnswerOut.model_fields)
    assert all(set(a) == set(AnswerOut.model_fields) for a in data["alternatives"])
    assert set(data["passages"][0]) == set(PassageOut.model_fields)
    template = (Path(create_app.__code__.co_filename).parent / "templates" / "_answer.html").read_text()
    read = set(re.findall(r"\b(?:answer|alternative)\.(\w+)", template))
    cited = set(re.findall(r"\b(?:item|passage)\.(\w+)", template))
    assert read <= set(AnswerOut.model_fields)
    assert cited <= set(AnswerOut.model_fields) | set(PassageOut.model_fields)
    assert {"text", "article_id", "passage_id", "start", "end"} <= read
    assert {"title", "url", "source", "published", "also_in"} <= cited
    assert set(re.findall(r"\breply\.(\w+)", template)) <= set(AskResponse.model_fields)


# ---------------------------------------------------------------- pages
def test_article_page_shows_the_article(client, snapshot):
    article = next(a for a in snapshot.iter_articles() if a.subtitles and a.byline)
    page = client.get(f"/articles/{article.id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    for part in (article.title, *article.subtitles, article.byline, "柳州日报", "2024-08-02"):
        assert part in text
    assert 'id="hl"' not in page.text  # nothing asked, nothing highlighted
    assert page.text.count("<p>") >= article.text.count("\n")


def test_article_page_highlights_the_passage_and_answer(client, snapshot):
    data = client.post("/ask", json={"question": "柳州市委书记是谁？"}).json()
    answer = data["answer"]
    page = client.get(
        f"/articles/{answer['article_id']}",
        params={"p": answer["passage_id"], "a": f"{answer['start']}-{answer['end']}"},
    )
    assert page.status_code == 200
    assert '<mark class="passage" id="hl" tabindex="-1">' in page.text
    assert f'<mark class="answer">{answer["text"]}</mark>' in page.text
    # The highlighted runs put together are the passage.
    passage = snapshot.passage_by_id(answer["passage_id"])
    marked = "".join(re.findall(r'<mark class="(?:passage|answer)"[^>]*>([^<]*)</mark>', page.text))
    assert html.unescape(marked) == passage.text.replace("\n", "")


@pytest.mark.parametrize("query", ["p=nope", "a=abc", "a=9-2", "a=999999999-999999999", "p=&a=-1-3"])
def test_article_page_ignores_bad_highlights(client, snapshot, query):
    article = next(iter(snapshot.iter_articles()))
    assert client.get(f"/articles/{article.id}?{query}").status_code == 200


def test_unknown_article_is_a_404_page(client):
    page = client.get("/articles/no-such-article")
    assert "索引里没有" in page.text
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no-such-article" in html.unescape(page.text) and "找不到页面" in page.text
    assert client.get("/articles/").status_code == 404


def test_chat_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200
    assert '<form id="ask"' in page.text and 'lang="zh-CN"' in page.text and 'name="viewport"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "the chat page must work offline"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/chat.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "innerHTML" not in client.get("/static/chat.js").text


def test_chat_form_post_renders_the_reply_without_javascript(client):
    page = client.post("/", data={"question": "柳州市委书记是谁？"})
    assert page.status_code == 200
    assert "<mark>张晓钦</mark>" in page.text
    assert '<p class="short-answer">张晓钦</p>' in page.text
    assert re.search(
        r'<a href="/articles/[0-9a-f]+\?p=[^"]+&amp;a=\d+-\d+#hl">市委市政府召开全市年中工作会议</a>',
        page.text,
    )
    assert "<details" in page.text
    unanswered = client.post("/", data={"question": UNANSWERABLE})
    assert unanswered.status_code == 200 and "没有找到答案" in unanswered.text
    empty = client.post("/", data={"question": "  "})
    assert empty.status_code == 400 and 'class="error"' in empty.text and "请输入问题" in empty.text
    assert 'class="question"' not in empty.text  # no empty bubble
    assert client.post("/", data={}).status_code == 400


# ---------------------------------------------------------------- hostile text
def assert_escaped(page_text: str) -> None:
    assert SCRIPT not in page_text and "<img" not in page_text
    assert html.escape(SCRIPT, quote=False) in page_text
    assert 'href="javascript:' not in page_text


def test_article_page_escapes_markup(xss_client):
    page = xss_client.get("/articles/xss-1?p=xss-1:0")
    assert page.status_code == 200
    assert_escaped(page.text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_chat_reply_escapes_markup(xss_client):
    page = xss_client.post("/", data={"question": f"{SCRIPT}港口投资多少？{IMG}"})
    assert page.status_code == 200
    assert_escaped(page.text)
    assert "港口投资" in page.text
    # The article with an http(s) link is linked there, the local page one click away.
    assert 'href="https://example.org/port"' in page.text and ">本地</a>" in page.text


def test_api_returns_markup_verbatim_as_data(xss_client):
    data = xss_client.post("/ask", json={"question": "市长视察了什么？", "top_k": 5}).json()
    titles = {p["title"] for p in data["passages"]}
    assert f"{SCRIPT}市长视察{IMG}" in titles


def test_a_broken_new_generation_keeps_the_old_one_serving(sample_index, tmp_path):
    import shutil
    import time

    root = shutil.copytree(sample_index, tmp_path / "index")
    with app_client(root, reload_token="t") as c:
        before = c.get("/healthz").json()["generation"]
        broken = root / "gen-99999999T000000-broken"
        broken.mkdir()
        (broken / "manifest.json").write_text("{not json", encoding="utf-8")
        (root / "CURRENT").write_text(broken.name + "\n", encoding="utf-8")
        time.sleep(2.5)  # the watcher looks every second
        assert c.get("/healthz").json()["generation"] == before
        assert c.post("/ask", json={"question": "柳州市委书记是谁？"}).status_code == 200
        reload = c.post("/admin/reload", headers={"Authorization": "Bearer t"})
        assert reload.status_code == 503 and "manifest.json" in reload.json()["error"]
        assert c.get("/healthz").json()["generation"] == before
