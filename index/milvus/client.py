"""Connecting to Milvus, and its failures as one-line newsqa errors.

A URI starting with http:// or https:// is a Milvus server (Standalone or
Distributed); a path ending in `.db` is Milvus Lite, which pymilvus runs inside
this process (one process at a time may open a Lite file).
"""

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from newsqa.errors import BackendUnavailable

logger = logging.getLogger(__name__)

SERVER_SCHEMES = ("http://", "https://")


def is_lite(uri: str) -> bool:
    """Whether the URI names a Milvus Lite file rather than a server."""
    return not uri.startswith(SERVER_SCHEMES)


def literal(value: str | int | Iterable[str]) -> str:
    """A value written into a Milvus filter expression: strings quoted and escaped, lists of them."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"


def _quiet_client_log(lite: bool) -> None:
    # pymilvus logs every failed call with a traceback on its own stderr handler; newsqa turns
    # each failure into one error line (and logs it once), so the client's copy is noise.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    if lite:
        # The in-process Lite server logs each call pymilvus tries and it does not implement
        # (pymilvus then falls back), and its jieba analyser logs loading its dictionary at DEBUG
        # on its own handler, which importing jieba sets up.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        with contextlib.suppress(ImportError):
            import jieba

            jieba.setLogLevel(logging.WARNING)


class Milvus:
    """One Milvus (a server, or a Lite file) and a client to it, connected on first use."""

    def __init__(self, uri: str, token: str | None = None, timeout: float = 10.0) -> None:
        if is_lite(uri) and not uri.endswith(".db"):
            raise BackendUnavailable(
                f"milvus_uri {uri!r} is neither http(s)://host:port (a Milvus server) nor a path "
                "ending in .db (Milvus Lite): e.g. --milvus-uri ./newsqa.milvus.db"
            )
        self.uri = uri
        self.token = token
        self.timeout = timeout
        self._client: Any = None

    @property
    def lite(self) -> bool:
        return is_lite(self.uri)

    def lite_path(self) -> Path:
        return Path(self.uri).expanduser()

    @property
    def client(self) -> Any:
        """The pymilvus client, connected."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        _quiet_client_log(self.lite)
        try:
            from pymilvus import MilvusClient
            from pymilvus.exceptions import MilvusException
        except ImportError as exc:
            raise BackendUnavailable(
                "the milvus backend needs pymilvus and Milvus Lite: pip install 'newsqa[milvus]'"
            ) from exc
        uri, options = self.uri, {}
        if self.lite:
            path = self.lite_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            uri = str(path)
            # The Lite server runs in this process, and its gRPC server refuses the client's
            # keepalive pings (every 10 s) with GOAWAY "too_many_pings", logged on stderr.
            options["grpc_options"] = {
                "grpc.keepalive_time_ms": 2**31 - 1,
                "grpc.keepalive_permit_without_calls": 0,
            }
        try:
            return MilvusClient(uri=uri, token=self.token or "", timeout=self.timeout, **options)
        except MilvusException as exc:
            raise BackendUnavailable(self._unreachable(exc.message)) from exc
        except Exception as exc:  # grpc and Lite raise their own types for "cannot connect"
            raise BackendUnavailable(self._unreachable(f"{type(exc).__name__}: {exc}")) from exc

    def _unreachable(self, reason: str) -> str:
        reason = " ".join(str(reason).split())[:200]
        if self.lite:
            return (
                f"cannot open Milvus Lite at {self.uri} ({reason}): Milvus Lite lets one process "
                "at a time open a file; stop the other one, or use a Milvus server"
            )
        return (
            f"cannot reach Milvus at {self.uri} ({reason}): start it, or check --milvus-uri "
            "(NEWSQA_MILVUS_URI) and NEWSQA_MILVUS_TOKEN"
        )

    @contextlib.contextmanager
    def calls(self, what: str) -> Iterator[None]:
        """Turn a failed Milvus call into one BackendUnavailable line saying what was being done."""
        from pymilvus.exceptions import MilvusException

        try:
            yield
        except MilvusException as exc:
            message = " ".join(str(exc.message).split())[:300]
            logger.warning("Milvus at %s: %s failed: %s", self.uri, what, message)
            if exc.code == 2 or "connect" in message.lower() or "unavailable" in message.lower():
                raise BackendUnavailable(self._unreachable(message)) from exc
            raise BackendUnavailable(f"Milvus at {self.uri} could not {what}: {message}") from exc

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def build_options(milvus: "Milvus", alias: str) -> str:
    """The command-line options that name this index, for messages."""
    options = f"--backend milvus --milvus-uri {milvus.uri}"
    return options if alias == "newsqa" else f"{options} --milvus-collection {alias}"
