"""Settings from OKR_* environment variables (pydantic-settings). Built at start-up, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "secret", "password", "dev", "test", ""}


class Settings(BaseSettings):
    """Every setting of the service; see the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="OKR_", env_file=None, extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./okr-data")
    database_url: str | None = Field(
        default=None, description="postgresql://user:pass@host:port/db; unset = SQLite in data_dir"
    )
    database_schema: str | None = None
    pool_size: int = Field(default=5, ge=1, le=200)
    pool_max_overflow: int = Field(default=10, ge=0, le=500)
    pool_connect_timeout: int = Field(default=10, ge=1, le=600)
    snapshot_interval: int = Field(default=100, ge=2, le=100_000)
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    command_retries: int = Field(default=20, ge=1, le=100)
    reminders: bool | None = Field(
        default=None, description="run the check-in reminder scheduler in okr serve; unset = development only"
    )
    reminder_interval_s: float = Field(default=60.0, ge=1, le=3600)

    nats_url: str | None = None
    nats_stream: str = "OKR_EVENTS"
    nats_stream_max_age_days: float = Field(default=365.0, gt=0)
    nats_duplicate_window_s: float = Field(default=120.0, gt=0)
    nats_replicas: int = Field(default=1, ge=1, le=5)
    nats_subject_prefix: str = Field(
        default="okr", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="first subject token (stream okr.>)"
    )

    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_query_depth: int = Field(default=10, ge=2)
    max_query_tokens: int = Field(default=2_000, ge=50)
    max_aliases: int = Field(default=30, ge=1)
    max_subscriptions_per_token: int = Field(default=10, ge=1, le=10_000)
    max_subscriptions: int = Field(default=1_000, ge=1, le=1_000_000)  # per process
    introspection: bool | None = Field(
        default=None,
        description="__schema/__type and 'Did you mean' suggestions; unset = on except in production",
    )
    log_level: str = "INFO"

    @property
    def introspection_enabled(self) -> bool:
        """Introspection and suggestions: OKR_INTROSPECTION if set, else off in production only."""
        return self.introspection if self.introspection is not None else self.environment != "production"

    @property
    def reminders_enabled(self) -> bool:
        """The reminder scheduler in `okr serve`: OKR_REMINDERS if set, else in development only
        (in production run `okr remind`, or set OKR_REMINDERS=true on the API replicas)."""
        return self.reminders if self.reminders is not None else self.environment == "development"

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            msg = "OKR_DATABASE_URL must be a postgresql:// URL (unset it for embedded SQLite)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if (
            self.environment == "production"
            and self.jwt_secret is not None
            and (
                self.jwt_secret.get_secret_value().lower() in PLACEHOLDER_SECRETS
                or len(self.jwt_secret.get_secret_value()) < 32
            )
        ):
            msg = "OKR_JWT_SECRET is a placeholder or shorter than 32 characters"
            raise ValueError(msg)
        return self

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def sqlite_path(self) -> Path:
        """The embedded event store (the log)."""
        return self.data_dir / "okr.sqlite3"

    @property
    def views_sqlite_path(self) -> Path:
        """The embedded read models: a file of their own, so that the runners' commits never
        wait for (or hold up) the log's single SQLite writer lock."""
        return self.data_dir / "views.sqlite3"

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's Application reads."""
        env = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size) if self.aggregate_cache_size else "",
            # The application keeps its cache current itself: saved aggregates replace cached
            # ones, conflicts evict them, read-only loads evict first (see OkrApplication._load).
            "AGGREGATE_CACHE_FASTFORWARD": "n",
        }
        if self.database_url is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.sqlite_path),
                SQLITE_LOCK_TIMEOUT="30",
            )
            return env
        env.update(PERSISTENCE_MODULE="eventsourcing.postgres", **self.postgres_env())
        return env

    def postgres_env(self) -> dict[str, str]:
        assert self.database_url is not None
        url = urlsplit(self.database_url)
        env = {
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_max_overflow),
            "POSTGRES_CONNECT_TIMEOUT": str(self.pool_connect_timeout),
            "POSTGRES_PRE_PING": "y",
        }
        if self.database_schema:
            env["POSTGRES_SCHEMA"] = self.database_schema
        return env


def load_settings(**overrides: object) -> Settings:
    """Reads the environment now (call it at start-up, not at import)."""
    return Settings(**overrides)  # type: ignore[arg-type]
