"""A real `newsqa serve` (uvicorn in a subprocess) switching to a rebuilt index while it answers."""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from newsqa.index.layout import IndexLayout
from testbed.server import free_port, running_server
from tests.helpers import write_jsonl

pytestmark = pytest.mark.slow

TOKEN = "test-reload-token"
QUESTIONS = [
    "柳州市委书记是谁？",
    "文明市民礼仪大赛决赛有多少支队伍参赛？",
    "港口投资多少钱？",
    "新港口什么时候完工？",
]
NEW_ARTICLES = [
    {
        "id": "port-1",
        "title": "北部湾新港口开工建设",
        "source": "港城晚报",
        "published": "2025-03-01",
        "text": "3月1日，北部湾新港口正式开工建设。港口总投资十二亿元，预计2026年完工。\n市长李明出席开工仪式并讲话。",
    },
    {
        "id": "port-2",
        "title": "港城举办春季马拉松",
        "source": "港城晚报",
        "published": "2025-03-02",
        "text": "3月2日，港城春季马拉松鸣枪开跑，共有八千名选手参赛。\n男子组冠军成绩为2小时15分。",
    },
]
NEW_TITLES = {a["title"] for a in NEW_ARTICLES}


def generation(url: str) -> str:
    return httpx.get(f"{url}/healthz", timeout=5).json()["generation"]


def rebuild(index_dir: Path, source: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "newsqa", "index", "build", str(source), "--index", str(index_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def index_copy(sample_index, tmp_path) -> Path:
    """A private copy of the sample index: these tests rebuild it."""
    return Path(shutil.copytree(sample_index, tmp_path / "index"))


@pytest.fixture
def new_source(tmp_path) -> Path:
    return write_jsonl(tmp_path / "port.jsonl", NEW_ARTICLES)


def every_worker_serves(url: str, wanted: str, workers: int, timeout: float = 60) -> None:
    """Wait until each of the `workers` processes has reported generation `wanted` on /healthz
    (a new connection each time: any worker may take it)."""
    deadline = time.monotonic() + timeout
    latest: dict[int, str] = {}
    while not (len(latest) >= workers and set(latest.values()) == {wanted}):
        if time.monotonic() > deadline:
            raise AssertionError(f"the workers did not all switch to {wanted} in {timeout}s: {latest}")
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        latest[health["worker"]] = health["generation"]
        time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
def test_rebuild_while_serving_drops_no_request(index_copy, new_source, tmp_path, workers):
    serve_log = tmp_path / "serve.log"
    args = ["--workers", str(workers)]
    with running_server(index_copy, serve_log, env={"NEWSQA_RELOAD_TOKEN": TOKEN}, args=args) as url:
        before = generation(url)
        failures: list[str] = []
        answered: list[tuple[float, set[str]]] = []  # (when the request started, titles cited)
        stop = threading.Event()

        def fire() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                i = 0
                while not stop.is_set():
                    question = QUESTIONS[i % len(QUESTIONS)]
                    i += 1
                    started = time.monotonic()
                    try:
                        response = client.post("/ask", json={"question": question})
                    except httpx.HTTPError as exc:
                        failures.append(f"{question}: {exc!r}")
                        continue
                    if response.status_code != 200:
                        failures.append(f"{question}: {response.status_code} {response.text[:200]}")
                        continue
                    answered.append((started, {p["title"] for p in response.json()["passages"]}))

        threads = [threading.Thread(target=fire) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(answered) >= 3, 60, "answers from the old index")
            rebuild(index_copy, new_source)
            new = IndexLayout(index_copy).current().name
            assert new != before
            # Each worker follows the pointer on its own: wait for the last one to switch (asking
            # /healthz which generation it serves may reach a worker that has not switched yet).
            every_worker_serves(url, new, workers)
            switched_at = time.monotonic()
            wait_for(
                lambda: sum(1 for t, _ in answered if t > switched_at) >= 5,
                60,
                "answers after the switch",
            )
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        log = (tmp_path / "serve.log").read_text()
        assert failures == [], f"{len(failures)} failed requests, e.g. {failures[:3]}\n{log}"
        assert any(titles and not titles & NEW_TITLES for t, titles in answered if t < switched_at)
        # A request that starts once /healthz shows the new generation is answered from it.
        late = [titles for t, titles in answered if t > switched_at]
        assert late and all(titles and titles <= NEW_TITLES for titles in late)
        data = httpx.post(f"{url}/ask", json={"question": "港口总投资多少？"}, timeout=30).json()
        assert {p["title"] for p in data["passages"]} <= NEW_TITLES
        assert data["answer"] is None or data["answer"]["article_id"] in {"port-1", "port-2"}

        # The reload endpoint: a bearer token, nothing else.
        assert httpx.post(f"{url}/admin/reload", timeout=30).status_code == 401
        wrong = httpx.post(f"{url}/admin/reload", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401 and wrong.json()["ok"] is False
        assert wrong.headers["www-authenticate"] == "Bearer"
        ok = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert ok.status_code == 200
        assert TOKEN not in serve_log.read_text()
        assert ok.json() == {
            "ok": True,
            "generation": generation(url),
            "previous": generation(url),
            "switched": False,
        }


def test_reload_endpoint_switches_every_worker_when_not_watching(index_copy, new_source, tmp_path):
    env = {"NEWSQA_RELOAD_TOKEN": TOKEN, "NEWSQA_WATCH_INDEX": "false"}
    with running_server(index_copy, tmp_path / "serve.log", env=env, args=["--workers", "2"]) as url:
        before = generation(url)
        rebuild(index_copy, new_source)
        time.sleep(2)  # a watcher would have switched by now
        assert {generation(url) for _ in range(12)} == {before}
        response = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert response.status_code == 200
        body = response.json()
        assert body["switched"] is True and body["previous"] == before and body["generation"] != before
        # The worker that took the request tells the other, which switches within a second or so.
        every_worker_serves(url, body["generation"], 2)
        data = httpx.get(f"{url}/ask", params={"q": "马拉松有多少名选手参赛？"}, timeout=30).json()
        assert data["passages"][0]["title"] in NEW_TITLES


def test_serve_refuses_a_missing_index_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "newsqa", "serve", "--index", str(tmp_path / "none"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no index at {tmp_path / 'none'}: run `newsqa index build SOURCES... --index {tmp_path / 'none'}` "
        "(or `newsqa demo` for the bundled sample)"
    ]


def test_demo_builds_the_sample_once_and_serves_it(tmp_path):
    index_dir = tmp_path / "sample-index"
    log = tmp_path / "demo.log"
    with running_server(index_dir, log, command="demo") as url:
        data = httpx.post(f"{url}/ask", json={"question": "柳州市委书记是谁？"}, timeout=30).json()
        assert (
            data["passages"][0]["source"] == "柳州日报" and data["passages"][0]["published"] == "2024-08-02"
        )
        info = httpx.get(f"{url}/api/index", timeout=10).json()
        assert info["articles"] == 7 and info["index"] == str(index_dir)
    assert "indexing the bundled sample" in log.read_text()
    assert f"newsqa: serving {index_dir} on {url}/ with 2 worker(s) (Ctrl-C to stop)" in log.read_text()
    # A second start serves the index it built.
    with running_server(index_dir, log, command="demo") as url:
        assert httpx.get(f"{url}/healthz", timeout=10).json()["ok"] is True
    assert "indexing" not in log.read_text()


def test_a_conversation_continues_on_any_worker(sample_index, tmp_path):
    with running_server(sample_index, tmp_path / "serve.log", args=["--workers", "2"]) as url:
        first = httpx.post(
            f"{url}/ask", json={"question": "柳州上半年地区生产总值是多少？"}, timeout=30
        ).json()
        conversation = first["conversation_id"]
        for _ in range(6):  # a new connection each time: either worker may take it
            body = {"question": "那同比增长多少？", "conversation_id": conversation}
            data = httpx.post(f"{url}/ask", json=body, timeout=30).json()
            assert data["resolved_question"] == "柳州上半年地区生产总值同比增长多少？"
            assert data["conversation_id"] == conversation


def test_the_demo_builds_the_default_index_when_there_is_none(tmp_path):
    """After `newsqa demo`, `newsqa ask` (same default index) answers: the README's next step."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "newsqa", "demo", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: (tmp_path / "data" / "newsqa" / "index" / "CURRENT").is_file(), 120, "the demo's index"
        )
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    asked = subprocess.run(
        [sys.executable, "-m", "newsqa", "ask", "柳州市委书记是谁？"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.startswith("答案: ")
