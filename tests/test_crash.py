"""Kill -9 at named stages of real `newsqa index build/add/remove` processes, and after a delay.

The long randomised series is `python -m bench.crash` (testbed/crash.py says what is checked).
"""

import random

import pytest

from newsqa.index.check import check_index
from newsqa.index.embedders import HASHING_MODEL, load_embedder
from newsqa.index.sources import read_sources
from newsqa.index.types import Article
from testbed.crash import kill_run, make_corpus
from tests.helpers import FIXTURES, hashing_writer

ENV = {"NEWSQA_MODEL": HASHING_MODEL}


def in_process_check(root):
    report = check_index(root, load_embedder)
    return report.ok, "\n".join([*report.lines(), report.summary()])


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory, sample_page):
    work = tmp_path_factory.mktemp("crash")
    paths = [sample_page, *sorted(FIXTURES.glob("*.txt"))]
    articles = [a for a in read_sources(paths) if isinstance(a, Article)]
    corpus = make_corpus(articles, work / "corpus")
    template = work / "template"
    hashing_writer(template).build(read_sources([corpus.base]))
    return work, template, corpus


@pytest.mark.parametrize(
    ("op", "stage", "state"),
    [
        ("add", "db-committed", "before"),  # SQLite written, FAISS and BM25 not yet
        ("add", "vectors-written", "before"),  # FAISS written, BM25 not yet
        ("remove", "bm25-written", "before"),
        ("build", "synced", "before"),  # everything on disk, the pointer not yet moved
        ("add", "published", "after"),  # the pointer moved, old generations not yet deleted
    ],
)
def test_killed_at_a_stage_the_index_is_before_or_after_and_the_rerun_completes(
    crash_setup, op, stage, state
):
    work, template, corpus = crash_setup
    run = kill_run(
        work, template, corpus, op, env=ENV, stage=stage, check=in_process_check, label=f"{op}-{stage}"
    )
    assert run.killed, "the writer never reached the stage"
    assert not run.failed, run.problems
    assert run.state == state and run.check_ok and run.rerun_ok and run.final_ok


def test_killed_after_a_random_delay(crash_setup):
    work, template, corpus = crash_setup
    delay = random.Random().uniform(0.5, 4.0)  # startup, or anywhere in the write, or after it
    run = kill_run(work, template, corpus, "add", env=ENV, delay=delay, check=in_process_check, label="timed")
    assert not run.failed, (delay, run.problems)
    assert run.state in ("before", "after")
