"""Real-world data files: numbers where text is expected are read as their text; anything else
odd is skipped with one line naming the file, the item and the reason; no loader ever crashes."""

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsqa.cli import cli
from newsqa.errors import DataFileError
from newsqa.index.embedders import HASHING_MODEL
from newsqa.index.sources import SourceProblem, read_sources
from newsqa.index.types import Article
from newsqa.qa.evaluate import load_squad
from tests.helpers import write_jsonl

NUMERIC_SQUAD = {
    "version": "v1.0",
    "data": [
        {
            "title": 2024,
            "paragraphs": [
                {
                    "context": "今年上半年全市生产总值1472亿元，新建学校180所。",
                    "qas": [
                        {
                            "id": 1,
                            "question": "新建学校多少所？",
                            "answers": [{"text": 180, "answer_start": 21}],
                        },
                        {"id": "q2", "question": "生产总值多少？", "answers": [{"text": "1472亿元"}]},
                        {"id": "q3", "question": "坏的答案？", "answers": [{"text": True}]},
                        {"id": "q4", "question": ["不是文字"], "answers": [{"text": "x"}]},
                        "not an object",
                    ],
                }
            ],
        }
    ],
}


def test_numbers_as_gold_answers_are_their_text_and_bad_items_are_named(tmp_path):
    path = tmp_path / "news.json"
    path.write_text(json.dumps(NUMERIC_SQUAD, ensure_ascii=False), encoding="utf-8")
    problems: list[str] = []
    questions, n_articles = load_squad(path, problems.append)
    assert n_articles == 1
    assert [(q.question, q.answers) for q in questions] == [
        ("新建学校多少所？", ["180"]),
        ("生产总值多少？", ["1472亿元"]),
    ]
    assert len(problems) == 3 and all(p.startswith(f"{path}: data[0].paragraphs[0].qas[") for p in problems)
    assert "qas[2]: answer 0 (id q3) must be text, got true; skipped" in problems[0]
    assert '"question" (id q4) must be text, got a list' in problems[1]
    assert "qas[4]: expected an object, got str" in problems[2]


def test_newsqa_eval_runs_on_a_set_with_numeric_answers(tmp_path):
    path = tmp_path / "news.json"
    path.write_text(json.dumps(NUMERIC_SQUAD, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["eval", str(path), "--model", HASHING_MODEL, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["questions"] == 2
    assert result.stderr.count("skipped ") == 3


def test_a_broken_eval_file_is_one_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": 5}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(path), "--model", HASHING_MODEL])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f'Error: {path} is not SQuAD-style JSON: expected {{"data": [...]}}'
    ]


def test_jsonl_numbers_become_text_other_types_are_rejected(tmp_path):
    path = write_jsonl(
        tmp_path / "odd.jsonl",
        [
            {"id": 7, "title": 2024, "text": 180, "published": 20240802},
            {"title": "布尔正文", "text": True},
            {"title": {"a": 1}, "text": "正文"},
            {"title": "列表", "text": ["一段", "两段"]},
            "[" * 5000 + "]" * 5000,
            '{"title": "大数", "text": ' + "9" * 5000 + "}",
        ],
    )
    items = list(read_sources([path]))
    articles = [i for i in items if isinstance(i, Article)]
    problems = [str(i) for i in items if isinstance(i, SourceProblem)]
    assert [(a.id, a.title, a.text, a.published) for a in articles] == [("7", "2024", "180", "20240802")]
    assert problems[:3] == [
        f'{path}:2: "text" must be text, got true',
        f'{path}:3: "title" must be text, got an object',
        f'{path}:4: "text" must be text, got a list',
    ]
    assert problems[3].startswith(f"{path}:5: ") and problems[4].startswith(f"{path}:6: ")


def test_squad_ingestion_names_what_it_skips(tmp_path):
    path = tmp_path / "squad.json"
    data = {
        "data": [
            {"title": "好", "paragraphs": [{"context": "正文。"}, {"context": 5}, 3]},
            "x",
            {"paragraphs": 4},
        ]
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    items = list(read_sources([path]))
    assert [a.text for a in items if isinstance(a, Article)] == ["正文。\n5"]
    assert [str(p) for p in items if isinstance(p, SourceProblem)] == [
        f"{path}: data[0].paragraphs[2]: expected an object, got int",
        f"{path}: data[1]: expected an object, got str",
        f'{path}: data[2]: "paragraphs" must be a list, got int',
    ]


# ---------- property-based: whatever the JSON, no loader raises ----------
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def shaped(fields: dict) -> st.SearchStrategy:
    """Objects with the expected keys, each holding any value (or one of its own shape), some keys missing."""
    return st.fixed_dictionaries({}, optional={k: v | values for k, v in fields.items()}) | values


answer = shaped({"text": st.text(max_size=10) | st.integers(), "answer_start": st.integers()})
qa = shaped(
    {"id": st.text(max_size=5), "question": st.text(max_size=20), "answers": st.lists(answer, max_size=3)}
)
paragraph = shaped({"context": st.text(max_size=60), "qas": st.lists(qa, max_size=3)})
entry = shaped({"title": st.text(max_size=10) | st.integers(), "paragraphs": st.lists(paragraph, max_size=3)})
squad = shaped({"version": st.text(max_size=3), "data": st.lists(entry, max_size=4)})
record = shaped(
    {
        "id": st.text(max_size=6) | st.integers(),
        "title": st.text(max_size=10),
        "text": st.text(max_size=60),
        "url": st.text(max_size=10),
        "published": st.text(max_size=10),
        "source": st.text(max_size=10),
    }
)


def load_everything(path: Path) -> None:
    for item in read_sources([path]):
        assert isinstance(item, Article | SourceProblem)
        if isinstance(item, SourceProblem):
            assert str(item).startswith(str(path)) and "\n" not in str(item)
        else:
            assert isinstance(item.title, str) and isinstance(item.text, str) and item.text.strip()


def check_squad(data) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "set.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        load_everything(path)
        problems: list[str] = []
        try:
            questions, _ = load_squad(path, problems.append)
        except DataFileError:
            return
        assert all(isinstance(a, str) for q in questions for a in q.answers)
        assert all(p.startswith(f"{path}: ") and "\n" not in p for p in problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(squad)
def test_squad_loaders_never_raise(data):
    check_squad(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record | st.text(max_size=20), max_size=6))
def test_jsonl_and_json_list_loaders_never_raise(records):
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "export.jsonl"
        lines.write_text(
            "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records),
            encoding="utf-8",
        )
        load_everything(lines)
        as_list = Path(tmp) / "export.json"
        as_list.write_text(
            json.dumps([r for r in records if not isinstance(r, str)], ensure_ascii=False), encoding="utf-8"
        )
        load_everything(as_list)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_never_raise(data):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("x.jsonl", "x.json", "x.txt"):
            path = Path(tmp) / name
            path.write_bytes(data)
            load_everything(path)
        problems: list[str] = []
        try:
            load_squad(Path(tmp) / "x.json", problems.append)
        except DataFileError:
            pass


def test_jsonl_is_read_a_line_at_a_time(tmp_path):
    import tracemalloc

    big = tmp_path / "big.jsonl"
    line = json.dumps({"title": "标题", "text": "很长的正文。" * 400}, ensure_ascii=False) + "\n"
    big.write_text(line * 4000, encoding="utf-8")  # about 29 MB
    tracemalloc.start()
    try:
        items = read_sources([big])
        first = next(items)
        for _ in range(100):
            next(items)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(first, Article)
    assert peak < 2_000_000, f"reading 101 articles of a {big.stat().st_size} byte file took {peak} bytes"
