"""Reading sources: formats, metadata, stable ids, and every kind of bad input."""

import json
import os

from newsqa.index.sources import SourceDefaults, SourceProblem, read_sources
from tests.helpers import FIXTURES, write_jsonl


def split(items):
    items = list(items)
    return (
        [i for i in items if not isinstance(i, SourceProblem)],
        [i for i in items if isinstance(i, SourceProblem)],
    )


def test_plain_text_page_with_metadata(sample_page):
    articles, problems = split(
        read_sources([sample_page], SourceDefaults(source="柳州日报", published="2024-08-02"))
    )
    assert not problems
    assert len(articles) == 7
    assert {a.source for a in articles} == {"柳州日报"}
    assert {a.published for a in articles} == {"2024-08-02"}
    assert all(a.url is None for a in articles)


def test_ids_are_stable_content_hashes(sample_page):
    first, _ = split(read_sources([sample_page]))
    again, _ = split(read_sources([sample_page]))
    assert [a.id for a in first] == [a.id for a in again]
    assert len({a.id for a in first}) == 7


def test_jsonl_keeps_given_ids_and_fields(tmp_path):
    path = write_jsonl(
        tmp_path / "export.jsonl",
        [
            {
                "id": "n-1",
                "title": "标题一",
                "text": "正文一。",
                "url": "https://example.com/1",
                "published": "2024-08-01",
                "source": "晚报",
            },
            {"title": "标题二", "text": "正文二。"},
        ],
    )
    (given, hashed), problems = split(read_sources([path], SourceDefaults(source="默认来源")))
    assert not problems
    assert given.id == "n-1" and given.url == "https://example.com/1" and given.source == "晚报"
    assert hashed.source == "默认来源" and len(hashed.id) == 16
    again, _ = split(read_sources([path], SourceDefaults(source="默认来源")))
    assert again[1].id == hashed.id


def test_squad_style_json_gives_one_article_per_title(shared_qa):
    articles, problems = split(read_sources([shared_qa / "cmrc2018_trial.json"]))
    assert not problems
    data = json.loads((shared_qa / "cmrc2018_trial.json").read_text(encoding="utf-8"))["data"]
    titles = {d["title"] for d in data}
    assert len(articles) == len(titles)
    first = data[0]
    article = next(a for a in articles if a.title == first["title"])
    assert first["paragraphs"][0]["context"].strip() in article.text


def test_small_squad_file(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "title": "甲",
                        "paragraphs": [
                            {"context": "第一段。", "qas": []},
                            {"context": "第二段。", "qas": []},
                        ],
                    },
                    {"title": "甲", "paragraphs": [{"context": "第三段。", "qas": []}]},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (article,), problems = split(read_sources([path]))
    assert article.title == "甲" and article.text == "第一段。\n第二段。\n第三段。"


def test_folder_reads_every_supported_file(tmp_path, sample_page):
    folder = tmp_path / "news"
    (folder / "sub").mkdir(parents=True)
    (folder / "page.txt").write_text(sample_page.read_text(encoding="utf-8"), encoding="utf-8")
    write_jsonl(folder / "sub" / "more.jsonl", [{"title": "另一篇", "text": "内容。"}])
    (folder / "notes.md").write_text("ignored", encoding="utf-8")
    articles, problems = split(read_sources([folder]))
    assert len(articles) == 8 and not problems


def test_gb18030_page_is_read(tmp_path):
    page = (FIXTURES / "jiangcheng_evening_page.txt").read_text(encoding="utf-8")
    path = tmp_path / "gbk.txt"
    path.write_bytes(page.encode("gb18030"))
    articles, problems = split(read_sources([path]))
    assert not problems and len(articles) == 5
    assert articles[1].title == "春季招聘会今日开幕，3000余个岗位等你来"


def test_bad_inputs_are_skipped_with_one_line_that_names_file_and_line(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"title": "好", "text": "好的正文。"}])
    bad_lines = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"title": "一", "text": "第一篇。"},
            "{not json",
            {"title": "无正文"},
            {"title": "空正文", "text": "   "},
            '["not", "an", "object"]',
            {"title": ["一个", "列表"], "text": "标题不是字符串"},
            {"title": "二", "text": "第二篇。"},
        ],
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    undecodable = tmp_path / "latin.txt"
    undecodable.write_bytes(b"\xff\xfe\xfa caf\xe9 \xff\xff")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    unreadable = tmp_path / "locked.txt"
    if os.geteuid() == 0:
        # root reads anything chmod forbids; a file the kernel refuses to read stands in.
        unreadable.symlink_to("/proc/self/mem")
    else:
        unreadable.write_text("秘密", encoding="utf-8")
        unreadable.chmod(0)
    missing = tmp_path / "missing.txt"
    unsupported = tmp_path / "page.pdf"
    unsupported.write_bytes(b"%PDF-1.4")

    articles, problems = split(
        read_sources([good, bad_lines, empty, undecodable, binary, unreadable, missing, unsupported])
    )
    assert [a.title for a in articles] == ["好", "一", "二"]
    messages = [str(p) for p in problems]
    assert all("\n" not in m for m in messages)
    expect = [
        (f"{bad_lines}:2:", "not valid JSON"),
        (f"{bad_lines}:3:", 'no "text"'),
        (f"{bad_lines}:4:", 'no "text"'),
        (f"{bad_lines}:5:", "expected a JSON object"),
        (f"{bad_lines}:6:", '"title" must be text, got a list'),
        (f"{empty}:", "empty"),
        (f"{undecodable}:", "UTF-8 or GB18030"),
        (f"{binary}:", "binary"),
        (f"{unreadable}:", "cannot read"),
        (f"{missing}:", "no such file"),
        (f"{unsupported}:", "unsupported file type .pdf"),
    ]
    assert len(messages) == len(expect), messages
    for message, (where, what) in zip(messages, expect, strict=True):
        assert message.startswith(where) and what in message, message
