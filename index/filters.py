"""Search filters: which articles a question may be answered from (published dates, sources).

A filter travels from the surfaces (CLI flags, `/ask` fields) through
`Answerer.ask` and retrieval to the store, which applies it inside both
searches, so that the best passages *among the allowed articles* come back,
not the best passages overall with the disallowed ones dropped.

Publication dates are free text in sources ("2024-08-02", "2024/8/2",
"2024年8月2日", "2024-08-02T09:30:00+08:00"); each backend stores the day each
one names (`published_day`, ISO `YYYY-MM-DD`, or none) and filters on that.
An article without a recognisable date is left out by `since` and `until`.
"""

import datetime as dt
import re
from dataclasses import dataclass

from newsqa.errors import BadFilter

_ZH_NAMES = {"since": "起始日期", "until": "截止日期"}
_DAY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def published_day(published: str | None) -> str | None:
    """The day a publication date names, as `YYYY-MM-DD`; None when it names none."""
    if not published:
        return None
    match = _DAY.search(published)
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups())).isoformat()
    except ValueError:
        return None


def parse_day(value: str, name: str) -> str:
    """A filter bound given by a user, as `YYYY-MM-DD`.

    Raises:
        BadFilter: naming the field and the value.
    """
    day = published_day(value.strip())
    if day is None:
        raise BadFilter(
            f"{name} must be a date like 2024-08-02, got {value!r}",
            zh=f"{_ZH_NAMES.get(name, name)}要写成 2024-08-02 这样的日期，收到的是 {value!r}。",
        )
    return day


@dataclass(frozen=True)
class SearchFilter:
    """Articles published from `since` to `until` (both days included, `YYYY-MM-DD`) by one
    of `sources` (exact names); an empty field does not filter."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.since is not None and published_day(self.since) != self.since:
            raise BadFilter(f"since must be a date like 2024-08-02, got {self.since!r}")
        if self.until is not None and published_day(self.until) != self.until:
            raise BadFilter(f"until must be a date like 2024-08-02, got {self.until!r}")
        if self.since and self.until and self.since > self.until:
            raise BadFilter(
                f"since ({self.since}) is after until ({self.until}): no article can match",
                zh=f"起始日期 {self.since} 晚于截止日期 {self.until}，没有文章能符合。",
            )

    @classmethod
    def of(
        cls,
        since: str | None = None,
        until: str | None = None,
        sources: tuple[str, ...] | list[str] | str | None = (),
    ) -> "SearchFilter | None":
        """The filter user input describes (dates in any form `published_day` reads), or None
        when it describes none."""
        if isinstance(sources, str):
            sources = [sources]
        names = tuple(dict.fromkeys(s.strip() for s in sources or () if s and s.strip()))
        start = parse_day(since, "since") if since and since.strip() else None
        end = parse_day(until, "until") if until and until.strip() else None
        if start is None and end is None and not names:
            return None
        return cls(start, end, names)

    def allows(self, day: str | None, source: str | None) -> bool:
        """Whether an article published on `day` by `source` passes."""
        if (self.since or self.until) and day is None:
            return False
        if self.since and day is not None and day < self.since:
            return False
        if self.until and day is not None and day > self.until:
            return False
        return not self.sources or source in self.sources

    def to_dict(self) -> dict[str, object]:
        return {"since": self.since, "until": self.until, "sources": list(self.sources)}
