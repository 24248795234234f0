"""Web article pages → articles, with trafilatura.

trafilatura finds the main text of a page (dropping navigation, related links,
comments and footers), its title, publication date, author, site name and
canonical URL. The article text is trafilatura's text as extracted, paragraphs
one per line, so offsets in answers refer to it; nothing is rewritten beyond
dropping a first line that only repeats the headline.

Pages that are not articles are skipped with a one-line reason: an index page
(a list of links), a page behind a paywall (schema.org `isAccessibleForFree:
false`, so only a teaser is there), and pages with no main text (error pages,
video pages). HTTP errors such as a 404 are reported by the fetcher before any
of this runs.
"""

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsqa.index.newspaper import ORIGINAL_TITLE
from newsqa.index.types import Article, content_id

logger = logging.getLogger(__name__)

MIN_ARTICLE_CHARS = 40
"""Less main text than this is not an article (a video page, an error page, a teaser)."""

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_PAYWALLED = re.compile(r""""isAccessibleForFree"\s*:\s*(?:false|"false"|"False")""")
_LINK = re.compile(r"<a\s[^>]*href", re.IGNORECASE)
# Separators between a headline and the site's name in a <title>: "标题_频道_某某网", "Title - Site".
_TITLE_SEPARATORS = re.compile(r"\s*(?:_|--|——|\s[-–—|]\s|\||｜)\s*")
_HOSTNAME_LIKE = re.compile(r"^[\w.-]+\.[\w-]+(?::\d+)?$")


class NotAnArticle(ValueError):
    """The page holds no article; the message says what it is instead."""


@dataclass(frozen=True)
class PageMeta:
    """What a caller knows about a page besides its bytes."""

    url: str | None = None
    """Where it was fetched from (after redirects), if it was."""
    charset: str | None = None
    """The charset the HTTP response declared, if any."""


def decode_html(data: bytes, declared: str | None = None) -> str:
    """The page as text: the declared charset, else a BOM, a <meta> charset, UTF-8, then GB18030.

    Chinese sites still serve GBK and GB2312 pages; GB18030 reads both.
    """
    candidates: list[str] = []
    if declared:
        candidates.append(declared)
    if data.startswith(b"\xef\xbb\xbf"):
        candidates.append("utf-8-sig")
    meta = _META_CHARSET.search(data[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii"))
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        encoding = _widen(name)
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def _widen(encoding: str) -> str:
    """GB2312 and GBK pages routinely hold characters only their superset GB18030 has."""
    name = encoding.strip().lower().replace("_", "-")
    return "gb18030" if name in ("gb2312", "gbk", "x-gbk", "gb-2312", "cp936") else name


def extract_article(
    html: str,
    where: str,
    *,
    meta: PageMeta = PageMeta(),
    default_source: str | None = None,
    default_published: str | None = None,
) -> Article:
    """The article on one web page.

    Args:
        html: the page, decoded (see `decode_html`).
        where: the file or URL, for messages.
        meta: the URL the page came from, if fetched.
        default_source, default_published: for pages that carry none.

    Raises:
        NotAnArticle: an index page, a paywalled page, or no main text; the message says which.
    """
    import trafilatura

    if _PAYWALLED.search(html):
        raise NotAnArticle(
            "behind a paywall (the page marks itself isAccessibleForFree: false): only a teaser is there"
        )
    found = trafilatura.bare_extraction(
        html,
        url=meta.url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    links = len(_LINK.findall(html))
    doc: dict = found if isinstance(found, dict) else found.as_dict() if found is not None else {}
    if not (doc.get("text") or "").strip():
        raise NotAnArticle(_no_text_reason(0, links))
    title = _headline(str(doc.get("title") or ""), html)
    text = _without_repeated_title(str(doc["text"]), title)
    original_titles, text = _leading_original_titles(text)
    if len(text.strip()) < MIN_ARTICLE_CHARS or _is_link_list(text):
        raise NotAnArticle(_no_text_reason(len(text.strip()), links))
    if not title:
        title = text.splitlines()[0][:40]
    url = doc.get("url") or meta.url
    source = doc.get("sitename")
    if not source or _HOSTNAME_LIKE.match(source):
        source = default_source or (urlsplit(url).hostname if url else None) or source
    return Article(
        id=content_id(url) if url else content_id(title, text),
        title=title,
        text=text,
        url=url,
        published=doc.get("date") or default_published,
        source=source,
        byline=_byline(doc.get("author")),
        subtitles=tuple(original_titles),
    )


_BLOCK_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre")


def html_fragment_text(fragment: str) -> str:
    """The text of an HTML fragment (a feed item's content), one block element per line."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return ""
    for junk in list(root.iter("script", "style", "figcaption")):
        junk.drop_tree()
    blocks = [el for el in root.iter(*_BLOCK_TAGS) if not any(True for _ in el.iterdescendants(*_BLOCK_TAGS))]
    pieces = [el.text_content() for el in blocks] if blocks else [root.text_content()]
    lines = [" ".join(piece.split()) for piece in pieces]
    return "\n".join(line for line in lines if line)


def _no_text_reason(chars: int, links: int) -> str:
    if links >= 10:
        return f"an index page, not an article ({links} links, {chars} characters of main text)"
    return f"no article text on the page ({chars} characters of main text): an error, video or empty page?"


def _headline(title: str, html: str) -> str:
    """The headline: a page's <title> often appends the channel and site ("标题_城市_某某网");
    when the part before a separator is printed on the page on its own, that part is the headline."""
    parts = _TITLE_SEPARATORS.split(title.strip())
    if len(parts) > 1:
        for n in range(len(parts) - 1, 0, -1):
            head = title[: _nth_separator_end(title, n)].strip()
            if head and re.search(r">\s*" + re.escape(head) + r"\s*<", html):
                return head
    return title.strip()


def _nth_separator_end(title: str, n: int) -> int:
    """Where the n-th separator in `title` starts."""
    matches = list(_TITLE_SEPARATORS.finditer(title.strip()))
    return matches[n - 1].start()


def _without_repeated_title(text: str, title: str) -> str:
    """Drop a first line that only repeats the headline (pages print their <h1> inside the article)."""
    first, _, rest = text.partition("\n")
    if title and first.strip() == title and rest.strip():
        return rest
    return text


def _leading_original_titles(text: str) -> tuple[list[str], str]:
    """Reprints open with "原标题：…" (the headline the first publisher gave): a sub-headline, not body."""
    lines = text.split("\n")
    taken = []
    while len(lines) > 1 and ORIGINAL_TITLE.match(lines[0].strip()):
        taken.append(lines.pop(0).strip())
    return taken, "\n".join(lines)


def _is_link_list(text: str) -> bool:
    """Main text that is a list of headlines (short lines, none ending a sentence): an index page."""
    from newsqa.index.text import ends_sentence

    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 5:
        return False
    listy = sum(len(line) < 40 and not ends_sentence(line) for line in lines)
    return listy >= 0.7 * len(lines)


def _byline(author: object) -> str | None:
    """trafilatura's author, unless it picked up page furniture ("【责任编辑：…")."""
    if not isinstance(author, str) or not author.strip():
        return None
    if re.search(r"编辑|編輯|[【】：:]", author):
        return None
    return author.strip()
