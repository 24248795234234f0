"""The exceptions newsqa raises for expected failures.

Each message says what went wrong and what to do about it; the CLI prints it
as one line and the web app returns it as JSON or an error page.
"""


class NewsQAError(Exception):
    """Base class for every expected failure."""

    status_code = 400
    zh: str | None = None
    """The message in Chinese, for the chat page; None: the chat shows the English one."""

    def __init__(self, message: str = "", *, zh: str | None = None) -> None:
        super().__init__(message)
        if zh is not None:
            self.zh = zh


class IndexNotFound(NewsQAError):
    status_code = 503

    def __init__(self, index_dir: object, build_options: str | None = None) -> None:
        options = build_options if build_options is not None else f"--index {index_dir}"
        super().__init__(
            f"no index at {index_dir}: run `newsqa index build SOURCES... {options}` "
            "(or `newsqa demo` for the bundled sample)"
        )


class IndexCorrupt(NewsQAError):
    status_code = 503


class IndexMismatch(NewsQAError):
    """The index was built with a different embedder than the one asked for."""

    status_code = 409

    def __init__(self, index_dir: object, index_model: str, asked_model: str) -> None:
        super().__init__(
            f"the index at {index_dir} was built with model {index_model!r}, "
            f"but model {asked_model!r} was asked for: use --model {index_model} "
            "or rebuild the index with `newsqa index build --model ...`"
        )


class IndexBusy(NewsQAError):
    status_code = 409


class DiskFull(NewsQAError):
    """The index's disk has no room for the new generation; the live one is untouched."""

    status_code = 507

    def __init__(self, path: object, needed: int, free: int, what: str = "the new index generation") -> None:
        super().__init__(
            f"not enough space on the disk of {path}: {what} needs about {_mb(needed)} MB, "
            f"{_mb(free)} MB are free; free some space (or use --index on another disk) and run the "
            "command again; the index is unchanged"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}" if n < 10e6 else f"{n / 1e6:.0f}"


class ModelUnavailable(NewsQAError):
    status_code = 500


class EmptyQuestion(NewsQAError):
    def __init__(self) -> None:
        super().__init__(
            "the question is empty: type a question about the news in the index", zh="请输入问题。"
        )


class QuestionTooLong(NewsQAError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(
            f"the question is {length} characters long; the limit is {limit}: ask a shorter question",
            zh=f"问题有{length}个字，最多只能{limit}个字：请把问题问得短一些。",
        )


class InvalidQuestion(NewsQAError):
    """The question holds characters that are not text (undecodable bytes, control characters)."""


class ArticleNotFound(NewsQAError):
    status_code = 404

    def __init__(self, article_id: str) -> None:
        shown = article_id if len(article_id) <= 80 else article_id[:79] + "…"
        super().__init__(
            f"no article with id {shown!r} in the index", zh=f"索引里没有 id 为 {shown} 的文章。"
        )


class DataFileError(NewsQAError):
    """A data file (e.g. an evaluation set) that cannot be read at all."""


class NothingIndexed(NewsQAError):
    """Every source failed: nothing could be indexed."""


class BadFilter(NewsQAError):
    """A search filter value that is not a date, or a date range no article can be in."""

    status_code = 422


class BackendUnavailable(NewsQAError):
    """The index backend cannot be reached or opened (e.g. a Milvus server that does not answer)."""

    status_code = 503
