"""Web article extraction accuracy on the fixture site (testbed/site/news, with its answer key).

For each page: is the headline exact, the publication date exact, the body exact
(paragraphs one per line, nothing else), and is a page that is not an article
skipped with the right reason. Prints newsqa's extraction (trafilatura plus
newsqa's own handling: headline from the <title>, a repeated headline dropped,
原标题 lines, paywall and index-page detection) and trafilatura's own
`extract` output with its defaults, beside each other.

    python -m bench.extraction [--show-misses]

The readability-lxml comparison runs in a separate environment (it cannot be
installed beside trafilatura in one resolve): see bench/readability_compare.py.
"""

import argparse
import json

from bench.common import report
from newsqa.index.html import NotAnArticle, PageMeta, decode_html, extract_article
from testbed import SITE

NEWS = SITE / "news"


def newsqa_extract(name: str) -> dict:
    data = (NEWS / name).read_bytes()
    try:
        article = extract_article(decode_html(data), name, meta=PageMeta())
    except NotAnArticle as exc:
        return {"skip": str(exc)}
    return {"title": article.title, "published": article.published, "text": article.text}


def trafilatura_alone(name: str, **options: bool) -> dict:
    import trafilatura

    found = trafilatura.bare_extraction((NEWS / name).read_bytes(), with_metadata=True, **options)
    doc = found.as_dict() if found is not None else {}
    if not doc.get("text"):
        return {"skip": "nothing extracted"}
    return {"title": doc.get("title"), "published": doc.get("date"), "text": doc.get("text")}


def score(extract, show_misses: bool, label: str) -> dict:
    key = json.loads((NEWS / "expected.json").read_text(encoding="utf-8"))["pages"]
    articles = {n: k for n, k in key.items() if "skip" not in k}
    others = {n: k for n, k in key.items() if "skip" in k}
    title = date = body = skipped_right = kept_wrongly = 0
    for name, want in articles.items():
        got = extract(name)
        if "skip" in got:
            if show_misses:
                print(f"{label}: {name} skipped: {got['skip']}")
            continue
        title += got["title"] == want["title"]
        date += got["published"] == want["published"]
        exact = got["text"] == "\n".join(want["paragraphs"])
        body += exact
        if show_misses and (
            not exact or got["title"] != want["title"] or got["published"] != want["published"]
        ):
            print(f"{label}: {name}: title {got['title']!r}, date {got['published']!r}, body {got['text']!r}")
    for name, want in others.items():
        got = extract(name)
        if "skip" in got and want["skip"] in got["skip"]:
            skipped_right += 1
        elif "skip" not in got:
            kept_wrongly += 1
            if show_misses:
                print(f"{label}: {name} was kept as an article: {got['title']!r}")
    n = len(articles)
    return {
        "extractor": label,
        "articles": n,
        "title_exact": round(title / n, 3),
        "date_exact": round(date / n, 3),
        "body_exact": round(body / n, 3),
        "non_articles": len(others),
        "skipped_right_reason": skipped_right,
        "non_articles_kept": kept_wrongly,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    rows = [
        score(newsqa_extract, args.show_misses, "newsqa (trafilatura + rules)"),
        score(
            lambda n: trafilatura_alone(n, favor_precision=True, include_comments=False),
            args.show_misses,
            "trafilatura precision alone",
        ),
        score(trafilatura_alone, args.show_misses, "trafilatura defaults"),
    ]
    report("extraction", rows)


if __name__ == "__main__":
    main()
