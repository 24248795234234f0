"""One settings object for the whole tool.

Values come from, in order of precedence: CLI flags, `NEWSQA_*` environment
variables, then the defaults below. Nothing else in newsqa reads the
environment.
"""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "use-multilingual-v3"
# The most supporting passages one question may ask for, on every surface (CLI, API, settings).
TOP_K_MAX = 20
# The most earlier turns one /ask request may send as its conversation's context.
CONTEXT_TURNS_MAX = 10
# The built-in readers, by the names --reader and NEWSQA_READER take.
READERS = ("span", "features")


def default_index_dir() -> Path:
    """`$XDG_DATA_HOME/newsqa/index`, i.e. `~/.local/share/newsqa/index` by default."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "newsqa" / "index"


class Settings(BaseSettings):
    """Every tunable of newsqa; each field is also `NEWSQA_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="ignore")

    index_dir: Path = Field(
        default_factory=default_index_dir,
        description="Index directory (env NEWSQA_INDEX_DIR).",
    )
    backend: Literal["local", "milvus"] = Field(
        "local",
        description="Where the index lives: 'local' (the index directory) or 'milvus' "
        "(collections in Milvus at milvus_uri).",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus to use with backend 'milvus': a path ending in .db for Milvus Lite "
        "(embedded, one process at a time), or http://host:19530 for a Milvus server.",
    )
    milvus_token: str | None = Field(
        None, description="Token for a Milvus server with authentication ('user:password' or an API key)."
    )
    milvus_collection: str = Field(
        "newsqa",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Name of the index in Milvus: the alias the live passages collection is reached by.",
    )
    milvus_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a Milvus server to answer.")
    milvus_shards: int = Field(
        1, ge=1, le=16, description="Shards of a new passages collection (write throughput on a cluster)."
    )
    milvus_replicas: int = Field(
        1, ge=1, description="In-memory replicas to load the index with (query throughput on a cluster)."
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="Embedder: 'use-multilingual-v3' (embedded) or a sentence-transformers "
        "model name from the local Hugging Face cache, or a local folder.",
    )
    device: str = Field("cpu", description="Device for sentence-transformers and hf readers.")
    batch_size: int = Field(64, gt=0, description="Embedding batch size.")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        gt=0,
        description="CPU threads for the embedded embedder.",
    )
    passage_chars: int = Field(300, ge=50, description="Longest passage, in characters.")
    passage_overlap: int = Field(60, ge=0, description="Overlap between passages, in characters.")
    top_k: int = Field(5, ge=1, le=TOP_K_MAX, description="Passages returned per question.")
    reader: str = Field(
        "features",
        description="'span' (the trained span reader), 'features' (the feature reader), or "
        "'hf:<name-or-path>' for a transformers question-answering model.",
    )
    abstain_below: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Confidence under which no answer is given; default: the tuned threshold "
        "shipped with the reader.",
    )
    max_question_chars: int = Field(500, gt=0, description="Longest question accepted.")
    reload_token: SecretStr | None = Field(
        None, description="Token for POST /admin/reload; the endpoint is off when unset."
    )
    watch_index: bool = Field(
        True, description="Serve: switch to a rebuilt index when its pointer file changes."
    )
    workers: int = Field(
        2, ge=1, le=64, description="Serve: worker processes (each answers on its own core)."
    )
    conversation_ttl_s: int = Field(
        1800, ge=1, description="Serve: seconds a conversation is kept after its last question."
    )
    conversations_max: int = Field(
        10_000, ge=1, description="Serve: conversations kept at most; the oldest go first."
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Serve: questions per minute one client may ask; 0 turns the limit off."
    )
    max_body_bytes: int = Field(65_536, ge=1024, description="Serve: largest request body accepted.")
    max_header_bytes: int = Field(16_384, ge=1024, description="Serve: largest request head accepted.")
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds before one web request gives up.")
    fetch_retries: int = Field(
        2, ge=0, description="Retries of a web request that timed out or got a 429/5xx, with backoff."
    )
    fetch_host_interval: float = Field(
        1.0, ge=0, description="Least seconds between two web requests to the same host."
    )
    user_agent: str | None = Field(
        None, description="User-Agent for web requests; default names newsqa and its version."
    )
    fault: str | None = Field(
        None,
        description="Testing only: make index writes stop, die or hit a full disk at a named stage, "
        "as ACTION@STAGE[#N] (see index/faults.py); unset in normal use.",
    )

    @field_validator("reader")
    @classmethod
    def _reader_form(cls, value: str) -> str:
        if value not in READERS and not (value.startswith("hf:") and len(value) > 3):
            raise ValueError(
                f"reader must be one of {', '.join(READERS)} or 'hf:<name-or-path>', got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _milvus_needs_a_uri(self) -> "Settings":
        if self.backend == "milvus" and not self.milvus_uri:
            raise ValueError(
                "backend 'milvus' needs milvus_uri: --milvus-uri ./newsqa.milvus.db (Milvus Lite) "
                "or http://host:19530 (a Milvus server), or NEWSQA_MILVUS_URI"
            )
        return self

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "Settings":
        if self.passage_overlap >= self.passage_chars:
            raise ValueError(
                f"passage_overlap ({self.passage_overlap}) must be smaller than "
                f"passage_chars ({self.passage_chars})"
            )
        return self
