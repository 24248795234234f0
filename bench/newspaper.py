"""How well plain-text newspaper pages are split into articles.

Runs the page splitter over the held-out pages in testbed/newspapers/ (other
papers than the bundled sample, each with an answer key) and prints, per page
and overall: headlines found (an expected title among the titles read), bodies
exact (the article under that title has exactly the expected text), and the
sub-headlines, bylines and photo credits read right.

    python -m bench.newspaper [--show-misses]
"""

import argparse
import json
from pathlib import Path

from bench.common import report
from newsqa.index.newspaper import split_page
from testbed import NEWSPAPER_PAGES


def score_page(page: Path, show_misses: bool) -> dict:
    expected = json.loads(page.with_suffix(".expected.json").read_text(encoding="utf-8"))["articles"]
    read = split_page(page.read_text(encoding="utf-8"))
    by_title = {a.title: a for a in read}
    found = exact = meta = 0
    for want in expected:
        got = by_title.get(want["title"])
        body = "\n".join(want["paragraphs"])
        if got is None:
            if show_misses:
                print(f"{page.name}: headline not found: {want['title']}  (read: {list(by_title)})")
            continue
        found += 1
        if got.text == body:
            exact += 1
        elif show_misses:
            print(f"{page.name}: body differs under {want['title']}:\n  want {body!r}\n  got  {got.text!r}")
        if (
            got.subtitles == want.get("subtitles", [])
            and got.byline == want.get("byline")
            and got.captions == want.get("captions", [])
        ):
            meta += 1
        elif show_misses:
            print(
                f"{page.name}: under {want['title']}: subtitles {got.subtitles}, byline {got.byline!r}, "
                f"captions {got.captions}"
            )
    return {
        "page": page.stem,
        "articles": len(expected),
        "read": len(read),
        "headlines_found": found,
        "bodies_exact": exact,
        "meta_right": meta,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show-misses", action="store_true", help="Print every miss.")
    args = parser.parse_args()
    pages = sorted(NEWSPAPER_PAGES.glob("*.txt"))
    rows = [score_page(page, args.show_misses) for page in pages]
    total = {
        k: sum(r[k] for r in rows)
        for k in ("articles", "read", "headlines_found", "bodies_exact", "meta_right")
    }
    rows.append({"page": "all", **total})
    n = total["articles"]
    report(
        "newspaper",
        rows,
        pages=len(pages),
        headline_found_pct=round(100 * total["headlines_found"] / n, 1),
        body_exact_pct=round(100 * total["bodies_exact"] / n, 1),
        subtitles_byline_captions_pct=round(100 * total["meta_right"] / n, 1),
    )
    print(
        f"\nheadlines found {100 * total['headlines_found'] / n:.1f}% (goal 90%), "
        f"bodies exact {100 * total['bodies_exact'] / n:.1f}% (goal 80%), "
        f"sub-headlines/byline/credits right {100 * total['meta_right'] / n:.1f}%, over {n} articles"
    )


if __name__ == "__main__":
    main()
