"""What tests, benchmarks and tools share (never shipped): where the shared data sets live,
the bundled sample's answer key, and a real `newsqa serve` in a subprocess.

Tests and benches both import from here and never from each other.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_QA = REPO.parent / "shared" / "data" / "qa"
"""The SQuAD-style dev sets (CMRC 2018 trial and dev, DRCD dev), beside the repository; never copied in."""

DEV_SETS = ("cmrc2018_trial.json", "DRCD_dev.json")
"""The two sets the benches run on by default."""

SAMPLE_EXPECTED = Path(__file__).parent / "liuzhou_daily_2024-08_page1.expected.json"
"""How a careful reader splits the bundled sample page, and its questions with their answers."""


def shared_qa_file(name: str) -> Path:
    """A file of the shared dev sets, e.g. 'DRCD_dev.json' (it may be absent: check `.is_file()`)."""
    return SHARED_QA / name


NEWSPAPER_PAGES = Path(__file__).parent / "newspapers"
"""Plain-text pages of other papers than the sample (composed for testing), each `NAME.txt` with its
answer key `NAME.expected.json`: every article's title, sub-headlines, byline, paragraphs, credits."""

SITE = Path(__file__).parent / "site"
"""A small news web site for offline tests and benches: article pages of several site templates
(one in GBK), pages that are not articles, with an answer key in `news/expected.json`."""

WIRE_ARTICLES = Path(__file__).parent / "wire" / "articles.jsonl"
"""Wire stories with their reprints by other papers, and hard negatives, each with its gold `story`
(composed for testing; every article's `id` ends in `-orig` for the original wire copy)."""

DIALOGUES = Path(__file__).parent / "dialogues.json"
"""Two-turn dialogues for follow-up resolution, over the sample page and the dev sets (hand-written)."""
