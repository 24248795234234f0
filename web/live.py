"""The answerer a server is using, and the switch to a rebuilt index while it serves.

A rebuild publishes a new generation: with the local backend, `newsqa index
build/add/remove` replace the index's CURRENT pointer; with Milvus, `index
build` switches the collection alias (`index add/remove` write into the live
collections in place, and are seen at once). `LiveAnswerer` watches the
backend's pointer, loads the new generation beside the old one (in a
background thread, or on `POST /admin/reload`) and then swaps one reference: a
request holds the answerer it started with, so requests in flight finish on
the old generation, which both backends keep for one more switch.
"""

import logging
import threading

from newsqa.config import Settings
from newsqa.errors import NewsQAError
from newsqa.index.backend import open_backend
from newsqa.qa.answerer import Answerer

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0


class IndexLoadFailed(NewsQAError):
    """Loading the index failed for a reason other than the expected ones (see the log)."""

    status_code = 503


class LiveAnswerer:
    """Holds the current `Answerer` of one index; replaces it when the index changes."""

    def __init__(self, settings: Settings, *, watch_interval: float = WATCH_INTERVAL_S) -> None:
        self.settings = settings
        self.backend = open_backend(settings)
        self.watch_interval = watch_interval
        self._answerer: Answerer | None = None
        self._error: NewsQAError | None = None
        self._failed_pointer: str | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def location(self) -> str:
        return self.backend.location

    def current(self) -> Answerer:
        """The answerer to use for one request.

        Raises:
            NewsQAError: no index could be loaded (e.g. IndexNotFound: none is built yet).
        """
        answerer = self._answerer
        if answerer is None:
            raise self._error or NewsQAError("the index is still loading: try again in a moment")
        return answerer

    @property
    def generation(self) -> str | None:
        answerer = self._answerer
        return answerer.snapshot.generation if answerer is not None else None

    def load(self) -> bool:
        """Load the live generation if it is not the one in use; True when it switched.

        A failure is kept (and raised to requests while nothing is loaded); the
        previous answerer, if any, stays in use, and that generation is not tried
        again until the pointer moves.
        """
        with self._load_lock:
            pointer = self.backend.pointer()
            if self._answerer is not None and pointer == self.generation:
                return False
            try:
                answerer = Answerer.load(settings=self.settings)
            except NewsQAError as exc:
                self._failed(pointer, exc)
                logger.warning("index not loaded: %s", exc)
                return False
            except Exception as exc:  # a bug: keep serving what we have, say why in the log
                message = f"could not load the index at {self.location}: {exc!r}"
                self._failed(pointer, IndexLoadFailed(message))
                logger.exception("index not loaded: %s", self.location)
                return False
            previous = self.generation
            self._answerer = answerer  # the swap: one reference, atomic for readers
            self._error = None
            self._failed_pointer = None
            logger.info("serving index generation %s (was %s)", self.generation, previous)
            return True

    def _failed(self, pointer: str | None, error: NewsQAError) -> None:
        self._failed_pointer = pointer
        self._error = error

    def reload(self) -> bool:
        """Load the live generation now (POST /admin/reload); raise when it cannot be loaded."""
        switched = self.load()
        pointer = self.backend.pointer()
        if not switched and pointer is not None and pointer == self._failed_pointer:
            raise self._error or NewsQAError(f"could not load index generation {pointer}")
        if self._answerer is None:
            self.current()  # raises the stored error
        return switched

    # ---------- the watcher ----------
    def start_watching(self) -> None:
        if self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="newsqa-index-watcher", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch(self) -> None:
        while not self._stop.wait(self.watch_interval):
            try:
                pointer = self.backend.pointer()
                if pointer is not None and pointer != self.generation and pointer != self._failed_pointer:
                    self.load()
            except NewsQAError as exc:  # e.g. a Milvus server that went away: keep serving what we have
                logger.warning("index watcher: %s", exc)
            except Exception:  # the watcher must outlive any one bad generation
                logger.exception("index watcher: could not check or load %s", self.location)
