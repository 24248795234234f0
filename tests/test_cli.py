"""The command line: dry run, build, add, remove, info, and failures as one-line messages."""

import json

from click.testing import CliRunner

from newsqa.cli import cli
from tests.helpers import write_jsonl


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def test_dry_run_prints_one_json_object_per_article(sample_page):
    result = run(
        "ingest", sample_page, "--dry-run", "--json", "--source", "柳州日报", "--published", "2024-08-02"
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert len(records) == 7
    for record in records:
        assert {"id", "title", "text", "url", "published", "source"} <= set(record)
        assert record["source"] == "柳州日报" and record["published"] == "2024-08-02"
    assert "dry run" in result.stderr


def test_build_info_add_remove(tmp_path, sample_page):
    root = tmp_path / "ix"
    result = run("index", "build", sample_page, "--index", root, "--model", "hashing-test")
    assert result.exit_code == 0, result.output
    assert "7 added" in result.stdout
    info = run("index", "info", "--index", root, "--json")
    manifest = json.loads(info.stdout)
    assert manifest["articles"] == 7 and manifest["model"] == "hashing-test"
    assert "articles:   7" in run("index", "info", "--index", root).stdout
    again = run("index", "add", sample_page, "--index", root, "--model", "hashing-test")
    assert "0 added, 0 updated, 7 unchanged" in again.stdout
    ids = [
        json.loads(line)["id"]
        for line in run("ingest", sample_page, "--dry-run", "--json").stdout.splitlines()
    ]
    removed = run("index", "remove", ids[0], "nope", "--index", root)
    assert removed.exit_code == 0 and "1 removed" in removed.stdout
    assert "not in the index: nope" in removed.stderr
    assert run("index", "remove", "nope", "--index", root).exit_code == 1


def test_index_dir_from_the_environment(tmp_path, sample_page):
    root = tmp_path / "from-env"
    result = run(
        "index", "build", sample_page, "--model", "hashing-test", env={"NEWSQA_INDEX_DIR": str(root)}
    )
    assert result.exit_code == 0
    assert (root / "CURRENT").is_file()


def test_nothing_indexable_exits_non_zero_with_one_line_per_problem(tmp_path, sample_page):
    root = tmp_path / "ix"
    run("index", "build", sample_page, "--index", root, "--model", "hashing-test")
    bad = write_jsonl(tmp_path / "bad.jsonl", ["{broken", '{"title": "x"}'])
    result = run("index", "add", bad, "--index", root, "--model", "hashing-test")
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert (
        errors[0]
        == f"skipped {bad}:1: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    )
    assert errors[1] == f'skipped {bad}:2: no "text" (a non-empty string is required)'
    assert errors[2].startswith("Error: nothing could be indexed")
    # Good and bad together: exit 0, the bad part reported.
    mixed = write_jsonl(tmp_path / "mixed.jsonl", ['{"title": "好", "text": "正文。"}', "{broken"])
    result = run("index", "add", mixed, "--index", root, "--model", "hashing-test")
    assert result.exit_code == 0 and "1 skipped" in result.stdout


def test_missing_index_and_bad_settings_are_one_line_errors(tmp_path):
    result = run("index", "info", "--index", tmp_path / "none")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no index at {tmp_path / 'none'}: run `newsqa index build SOURCES... --index {tmp_path / 'none'}` (or `newsqa demo` for the bundled sample)"
    ]
    result = run(
        "index",
        "build",
        tmp_path,
        "--index",
        tmp_path / "x",
        "--passage-chars",
        "50",
        "--passage-overlap",
        "60",
    )
    assert result.exit_code == 2 and "passage_overlap (60) must be smaller" in result.stderr


def test_ask_refuses_an_undecodable_argument_in_one_line(tmp_path):
    # How Python hands over argv bytes that are not UTF-8: lone surrogates (surrogateescape).
    question = b"\xff\xfe\xe6\x9f\xb3".decode("utf-8", "surrogateescape")
    result = run("ask", question, "--index", tmp_path / "none")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the question is not valid UTF-8 (byte 0xFF at character 1): "
        "check the encoding of your terminal or client"
    ]


def test_ask_and_serve_take_the_same_top_k_limit_as_the_api():
    from newsqa.config import TOP_K_MAX

    result = run("ask", "谁？", "-k", str(TOP_K_MAX + 1))
    assert result.exit_code == 2 and f"1<=x<={TOP_K_MAX}" in result.stderr.replace(" ", "")


def test_a_failed_first_build_leaves_nothing_behind(tmp_path):
    root = tmp_path / "ix"
    bad = write_jsonl(tmp_path / "bad.jsonl", ["{broken"])
    result = run("index", "build", bad, "--index", root, "--model", "hashing-test")
    assert result.exit_code == 1
    assert "no index was written" in result.stderr and "existing index" not in result.stderr
    assert not root.exists()
