"""Conversations the server keeps for API clients that send `conversation_id`.

A small SQLite file that every worker process of one server shares: a turn
asked on one worker is there for the next question, whichever worker takes it.
Conversations are kept for `conversation_ttl_s` after their last question and
at most `conversations_max` of them (the least recently used go first); each
keeps its last `CONTEXT_TURNS_MAX` turns. Nothing here is part of the index.
"""

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from newsqa.config import CONTEXT_TURNS_MAX
from newsqa.web.schemas import ContextTurn

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    updated REAL NOT NULL,
    turns TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_age ON conversations(updated);
"""
# Expired and surplus conversations are dropped every this many saves, not on each one.
PRUNE_EVERY = 50


class ConversationStore:
    def __init__(self, path: Path, ttl_s: float, max_conversations: int) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self.max_conversations = max_conversations
        self._local = threading.local()
        self._saves = 0
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # conversations are a convenience, not data
            self._local.conn = conn
        return conn

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(18)

    def turns(self, conversation_id: str, now: float | None = None) -> list[ContextTurn] | None:
        """The turns of a live conversation, oldest first; None when it is unknown or expired."""
        now = time.time() if now is None else now
        row = (
            self._conn()
            .execute(
                "SELECT turns FROM conversations WHERE id = ? AND updated >= ?",
                (conversation_id, now - self.ttl_s),
            )
            .fetchone()
        )
        if row is None:
            return None
        return [ContextTurn.model_validate(t) for t in json.loads(row[0])]

    def save(self, conversation_id: str, turns: list[ContextTurn], now: float | None = None) -> None:
        now = time.time() if now is None else now
        kept = [t.model_dump(exclude_none=True) for t in turns[-CONTEXT_TURNS_MAX:]]
        conn = self._conn()
        conn.execute(
            "INSERT INTO conversations (id, updated, turns) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, turns = excluded.turns",
            (conversation_id, now, json.dumps(kept, ensure_ascii=False)),
        )
        self._saves += 1
        if self._saves % PRUNE_EVERY == 0:
            self.prune(now)

    def prune(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        conn = self._conn()
        conn.execute("DELETE FROM conversations WHERE updated < ?", (now - self.ttl_s,))
        conn.execute(
            "DELETE FROM conversations WHERE id IN "
            "(SELECT id FROM conversations ORDER BY updated DESC LIMIT -1 OFFSET ?)",
            (self.max_conversations,),
        )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM conversations").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
