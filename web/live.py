"""The answerer a server is using, and the switch to a rebuilt index while it serves.

A rebuild publishes a new generation: with the local backend, `newsqa index
build/add/remove` replace the index's CURRENT pointer; with Milvus, `index
build` switches the collection alias (`index add/remove` write into the live
collections in place, and are seen at once). `LiveAnswerer` watches the
backend's pointer, loads the new generation beside the old one (in a
background thread, or on `POST /admin/reload`) and then swaps one reference: a
request holds the answerer it started with, so requests in flight finish on
the old generation, which both backends keep for one more switch.

A server of several worker processes has one `LiveAnswerer` in each. Each
watches the pointer itself; `POST /admin/reload` reaches one of them, which
reloads and then touches the shared reload signal file that the others watch.
"""

import logging
import os
import secrets
import threading
from pathlib import Path

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

    def __init__(
        self,
        settings: Settings,
        *,
        watch_interval: float = WATCH_INTERVAL_S,
        reload_signal: Path | None = None,
    ) -> None:
        self.settings = settings
        self.backend = open_backend(settings)
        self.watch_interval = watch_interval
        self.reload_signal = reload_signal
        self._signal_seen = self._read_signal()
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
                current = self._answerer
                # The same model as before: keep its embedder (loading one takes seconds).
                answerer = Answerer.load(
                    settings=self.settings, embedder=current.embedder if current else None
                )
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

    # ---------- the other workers ----------
    def tell_others(self) -> None:
        """Ask the other worker processes of this server to reload too."""
        if self.reload_signal is None:
            return
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        tmp = self.reload_signal.with_name(f".{self.reload_signal.name}.{token}")
        tmp.write_text(token, encoding="utf-8")
        os.replace(tmp, self.reload_signal)
        self._signal_seen = token

    def _read_signal(self) -> str | None:
        if self.reload_signal is None:
            return None
        try:
            return self.reload_signal.read_text(encoding="utf-8")
        except OSError:
            return None

    # ---------- the watcher ----------
    def start_watching(self) -> None:
        """Follow the pointer (when `settings.watch_index`) and the other workers' reloads."""
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
                signal = self._read_signal()
                if signal != self._signal_seen:
                    self._signal_seen = signal
                    self.load()
                if not self.settings.watch_index:
                    continue
                pointer = self.backend.pointer()
                if pointer is not None and pointer != self.generation and pointer != self._failed_pointer:
                    self.load()
            except NewsQAError as exc:  # e.g. a Milvus server that went away: keep serving what we have
                logger.warning("index watcher: %s", exc)
            except Exception:  # the watcher must outlive any one bad generation
                logger.exception("index watcher: could not check or load %s", self.location)
