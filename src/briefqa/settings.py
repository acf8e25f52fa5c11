"""The one registry of settings.

Every tunable value of briefqa is a field of :class:`Settings`: its name, default and help live here and
nowhere else. The TOML config file, the CLI flags, the chat page's defaults, the evaluator's configurations
and ``docs/settings.md`` are all derived from this class, so a default changed here changes everywhere.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

#: The configuration file read by default from the working directory, when it exists.
DEFAULT_CONFIG_FILE = "briefqa.toml"


class Settings(BaseModel):
    """All of briefqa's settings. Build one with :func:`load_settings` to honour a config file."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- ingest -------------------------------------------------------------------------------------------
    index: str = Field("index", description="Directory of the index (FAISS vectors, chunks, manifest).",
                       json_schema_extra={"group": "ingest"})
    chunk_size: int = Field(128, ge=16, le=2048,
                            description="Target chunk length in tiktoken (cl100k) tokens; chunks end on sentence "
                                        "boundaries and never exceed the embedder's own input limit.",
                            json_schema_extra={"group": "ingest"})
    chunk_overlap: int = Field(0, ge=0, le=512,
                               description="Tokens of whole sentences repeated from the end of one chunk at the "
                                           "start of the next. Retrieval never returns two overlapping chunks of "
                                           "one article: the better-ranked one stands for both.",
                               json_schema_extra={"group": "ingest"})
    embed_runtime: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="Runtime that embeds chunks of a new index: the packaged model exported once to onnxruntime "
                    "with int8 per-channel weights (the default: about twice as fast as torch, same retrieval "
                    "scores on MultiHop-RAG), the same in fp32 ('onnx'), or sentence-transformers on torch. An "
                    "existing index keeps the runtime it was built with.",
        json_schema_extra={"group": "ingest"})
    index_prefix: Literal["none", "lexical", "dense", "both"] = Field(
        "lexical",
        description="Index 'title | source | date' before each chunk's text on the lexical side, the dense "
                    "side, both or neither (the passages themselves stay as written).",
        json_schema_extra={"group": "ingest"})
    lexical_stemmer: Literal["", "english"] = Field(
        "english",
        description="Snowball stemmer of the BM25 index and its queries ('' for none). Changing it re-indexes "
                    "the lexical side only, without re-embedding.",
        json_schema_extra={"group": "ingest"})
    batch_size: int = Field(32, ge=1, le=1024, description="Chunks embedded per batch.",
                            json_schema_extra={"group": "ingest"})
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped at ingest.",
                               json_schema_extra={"group": "ingest"})

    # -- retrieval ----------------------------------------------------------------------------------------
    k: int = Field(5, ge=1, le=50, description="Passages retrieved and given to the answerer.",
                   json_schema_extra={"group": "retrieval"})
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = Field(
        "lexical",
        description="'dense' (MiniLM + FAISS), 'lexical' (BM25 via bm25s) or 'hybrid' (both, fused by "
                    "reciprocal rank). Lexical is the default: with all-MiniLM-L6-v2, fusing the dense side in "
                    "lowered every MultiHop-RAG dev metric and left the seed questions unchanged (README).",
        json_schema_extra={"group": "retrieval"})
    candidates: int = Field(50, ge=1, le=1000,
                            description="Results taken from each side before hybrid fusion.",
                            json_schema_extra={"group": "retrieval"})
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant: score = weight / (rrf_k + rank).",
                       json_schema_extra={"group": "retrieval"})
    dense_weight: float = Field(1.0, ge=0.0, description="Weight of the dense ranking in hybrid fusion.",
                                json_schema_extra={"group": "retrieval"})
    lexical_weight: float = Field(1.0, ge=0.0, description="Weight of the BM25 ranking in hybrid fusion.",
                                  json_schema_extra={"group": "retrieval"})
    news_aware: bool = Field(True, description="Recognise publications, dates, date ranges and titles named in "
                                               "the question and search each named report too.",
                             json_schema_extra={"group": "retrieval"})
    part_weight: float = Field(1.0, ge=0.0, description="Weight, in fusion, of the ranking of each report the "
                                                        "question names.",
                               json_schema_extra={"group": "retrieval"})
    part_query: Literal["question", "clause"] = Field(
        "question",
        description="What searches each named report: the whole question, or the clause of it around that "
                    "report's mention.",
        json_schema_extra={"group": "retrieval"})
    part_reserve: int = Field(2, ge=0, le=10, description="When a question names two or more reports, the best "
                                                          "passages of each that are kept at the top.",
                              json_schema_extra={"group": "retrieval"})
    mmr: bool = Field(False, description="Re-order the top passages by maximal marginal relevance (diversity).",
                      json_schema_extra={"group": "retrieval"})
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0, description="MMR trade-off: 1 is relevance only, 0 diversity "
                                                               "only.",
                              json_schema_extra={"group": "retrieval"})
    reranker_model: str = Field("", description="Directory of a local sentence-transformers cross-encoder that "
                                                "re-ranks the top passages (empty: no reranking).",
                                json_schema_extra={"group": "retrieval"})
    rerank_top: int = Field(20, ge=1, le=200, description="Passages the reranker re-scores.",
                            json_schema_extra={"group": "retrieval"})

    # -- answering ----------------------------------------------------------------------------------------
    answer_mode: Literal["extractive", "llm"] = Field(
        "extractive",
        description="'extractive' answers with the passages' most relevant sentences, each cited; 'llm' asks "
                    "the backend to write the answer and then checks its citations.",
        json_schema_extra={"group": "answer"})
    backend: Literal["embedded", "openai"] = Field(
        "embedded",
        description="LLM backend for answer_mode 'llm': the embedded SmolLM2 GGUF (llama-cpp-python) or an "
                    "OpenAI-compatible server.",
        json_schema_extra={"group": "answer"})
    openai_base_url: str = Field("http://127.0.0.1:8000/v1",
                                 description="Base URL of the OpenAI-compatible server.",
                                 json_schema_extra={"group": "answer"})
    openai_model: str = Field("local", description="Model name sent to the OpenAI-compatible server.",
                              json_schema_extra={"group": "answer"})
    openai_api_key: str = Field("", description="API key for the OpenAI-compatible server (empty: none). "
                                                "Also read from BRIEFQA_OPENAI_API_KEY.",
                                json_schema_extra={"group": "answer"})
    llm_max_tokens: int = Field(200, ge=1, le=4096, description="Most tokens the LLM may generate.",
                                json_schema_extra={"group": "answer"})
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="LLM sampling temperature.",
                                   json_schema_extra={"group": "answer"})
    llm_context: int = Field(2048, ge=512, le=32768, description="Context window of the embedded LLM.",
                             json_schema_extra={"group": "answer"})
    llm_threads: int = Field(0, ge=0, description="Threads of the embedded LLM (0: one per core).",
                             json_schema_extra={"group": "answer"})
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for an OpenAI-compatible server.",
                               json_schema_extra={"group": "answer"})
    extractive_sentences: int = Field(3, ge=1, le=10,
                                      description="Most sentences in an extractive answer.",
                                      json_schema_extra={"group": "answer"})
    min_relevance: float = Field(0.45, ge=0.0, le=1.0,
                                 description="Cosine between the question and a passage sentence below which "
                                             "the extractive answerer abstains.",
                                 json_schema_extra={"group": "answer"})
    lexical_boost: float = Field(0.3, ge=0.0, le=2.0,
                                 description="Weight of rarity-weighted word overlap with the question, added to "
                                             "the cosine when the extractive answerer ranks sentences.",
                                 json_schema_extra={"group": "answer"})
    type_boost: float = Field(0.1, ge=0.0, le=1.0,
                              description="Added to a sentence's score when it holds what the question asks for "
                                          "(a cause for 'why', a date for 'when', a number for 'how many', a "
                                          "name for 'who').",
                              json_schema_extra={"group": "answer"})
    answer_margin: float = Field(0.15, ge=0.0, le=1.0,
                                 description="An extractive answer keeps sentences scoring within this margin "
                                             "of the best one.",
                                 json_schema_extra={"group": "answer"})
    min_coverage: float = Field(0.6, ge=0.0, le=1.0,
                                description="Share of the question's content words that the passages must "
                                            "contain; below it the answerer abstains.",
                                json_schema_extra={"group": "answer"})
    min_support: float = Field(0.55, ge=0.0, le=1.0,
                               description="Cosine between an answer sentence and a passage sentence at which "
                                           "the passage counts as supporting it.",
                               json_schema_extra={"group": "answer"})
    max_question_chars: int = Field(1000, ge=10, description="Longest question accepted, in characters.",
                                    json_schema_extra={"group": "answer"})

    # -- serving ------------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the chat server binds to.",
                      json_schema_extra={"group": "serve"})
    port: int = Field(7860, ge=0, le=65535, description="Port of the chat server.",
                      json_schema_extra={"group": "serve"})
    uploads_dir: str = Field("uploads", description="Where the chat stores uploaded articles (under names it "
                                                    "makes itself) before ingesting them.",
                             json_schema_extra={"group": "serve"})
    max_upload_mb: float = Field(5.0, gt=0, le=100, description="Largest file the chat accepts for upload.",
                                 json_schema_extra={"group": "serve"})
    feedback_file: str = Field("feedback.jsonl", description="JSON-lines file where the chat stores ratings "
                                                             "and comments on answers.",
                               json_schema_extra={"group": "serve"})
    auth_user: str = Field("", description="User name for the chat's login (empty: no login).",
                           json_schema_extra={"group": "serve"})
    auth_password: str = Field("", description="Password for the chat's login; also read from "
                                               "BRIEFQA_AUTH_PASSWORD.",
                               json_schema_extra={"group": "serve"})

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return _validated({**self.model_dump(), **changes}, "the given settings")


def _validated(values: dict[str, Any], where: str) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"Setting '{name}' in {where} is invalid: {first['msg']}; "
                          f"see `briefqa settings` for the allowed values.") from None


def setting_fields() -> list[tuple[str, Any, str, str]]:
    """(name, default, help, group) for every setting, in declaration order: what CLI and docs are built from."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        rows.append((name, info.default, info.description or "", str(extra.get("group", ""))))
    return rows


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then the TOML ``config`` (or ./briefqa.toml when present), then ``overrides``.

    The TOML file holds settings at top level or under a ``[briefqa]`` table.
    """
    values: dict[str, Any] = {}
    path = Path(config) if config else Path(DEFAULT_CONFIG_FILE)
    if config or path.is_file():
        values = read_toml(path)
        values.pop("name", None)  # a configuration's label (see briefqa eval), not a setting
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _validated(values, str(path) if (config or path.is_file()) else "the given settings")


def read_toml(path: Path) -> dict[str, Any]:
    """The settings table of a TOML file (with its optional ``name``), one clear error when missing or malformed."""
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist; create it or drop --config.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid TOML ({exc}); fix it or drop --config.") from None
    table = data.get("briefqa", data)
    if not isinstance(table, dict):
        raise ConfigError(f"Config file {path} has no settings table; put settings at top level or in [briefqa].")
    values = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if isinstance(data.get("name"), str):  # `name = "..."` above a [briefqa] table
        values.setdefault("name", data["name"])
    return values


def settings_markdown() -> str:
    """The settings reference, as written to ``docs/settings.md``."""
    lines = [
        "# Settings",
        "",
        "Generated from `briefqa.settings.Settings` by `briefqa settings --markdown`; do not edit by hand.",
        "",
        "Every setting can be given in a TOML file (`--config FILE`, or `./briefqa.toml` when present, at top",
        "level or under `[briefqa]`), as a CLI flag (`--name-with-dashes`), or as a keyword in Python",
        "(`briefqa.BriefQA.open(index, k=8)`). Later sources win: defaults < config file < flags.",
        "",
        "| name | default | group | help |",
        "|---|---|---|---|",
    ]
    for name, default, help_, group in setting_fields():
        lines.append(f"| `{name}` | `{default!r}` | {group} | {help_} |")
    return "\n".join(lines) + "\n"
