"""readability-lxml on the same fixture pages as bench.extraction, scored the same way.

readability-lxml and trafilatura cannot be installed in one resolve here (their
lxml extras clash), so this script needs only readability-lxml and runs from
its own throwaway environment, without newsqa:

    python3 -m venv /tmp/readability-venv
    /tmp/readability-venv/bin/pip install readability-lxml lxml_html_clean
    /tmp/readability-venv/bin/python bench/readability_compare.py

readability gives a title and the main block as HTML; the body is its block
elements' text, one per line, the same shape newsqa's extraction has. It finds
no dates and does not tell an article from an index or paywalled page: it
always returns some block, so the non-article columns count what it kept.
"""

import json
import re
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parents[1] / "testbed" / "site" / "news"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)


def decode(data: bytes) -> str:
    meta = _META_CHARSET.search(data[:4096])
    names = [meta.group(1).decode()] if meta else []
    for name in [*names, "utf-8", "gb18030"]:
        try:
            return data.decode("gb18030" if name.lower() in ("gbk", "gb2312") else name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def readability_extract(name: str) -> dict:
    import lxml.html
    from readability import Document

    doc = Document(decode((SITE / name).read_bytes()))
    summary = lxml.html.fromstring(doc.summary(html_partial=True))
    blocks = summary.xpath("//p|//h1|//h2|//h3|//h4|//li|//figcaption")
    lines = [" ".join(b.text_content().split()) for b in blocks]
    text = "\n".join(line for line in lines if line)
    if not text:
        text = " ".join(summary.text_content().split())
    return {"title": doc.short_title(), "published": None, "text": text}


def main() -> None:
    key = json.loads((SITE / "expected.json").read_text(encoding="utf-8"))["pages"]
    articles = {n: k for n, k in key.items() if "skip" not in k}
    others = [n for n, k in key.items() if "skip" in k]
    title = body = 0
    show = "--show-misses" in sys.argv
    for name, want in articles.items():
        got = readability_extract(name)
        title += got["title"] == want["title"]
        exact = got["text"] == "\n".join(want["paragraphs"])
        body += exact
        if show and (not exact or got["title"] != want["title"]):
            print(f"readability: {name}: title {got['title']!r}, body {got['text']!r}")
    kept = sum(bool(readability_extract(name)["text"]) for name in others)
    n = len(articles)
    row = {
        "extractor": "readability-lxml",
        "articles": n,
        "title_exact": round(title / n, 3),
        "date_exact": 0.0,
        "body_exact": round(body / n, 3),
        "non_articles": len(others),
        "skipped_right_reason": 0,
        "non_articles_kept": kept,
    }
    print(json.dumps({"bench": "readability_compare", "rows": [row]}, ensure_ascii=False))
    print("  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
