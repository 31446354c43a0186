"""Node settings: one pydantic-settings class, read from the environment and a TOML file.

Every setting can be given as an environment variable ``BAYANIHAN_<NAME>`` or in
the TOML file named by ``BAYANIHAN_CONFIG``; command-line flags override both.
Nothing reads settings at import time: the CLI builds a ``Settings`` and hands
it to the core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

TlpName = Literal["clear", "green", "amber", "amber+strict", "red"]


def default_db_url() -> str:
    """A SQLite file ``bayanihan.db`` in the working directory."""
    return f"sqlite:///{Path.cwd() / 'bayanihan.db'}"


class Settings(BaseSettings):
    """Configuration of one node."""

    model_config = SettingsConfigDict(env_prefix="BAYANIHAN_", extra="forbid")

    db: str = Field(
        default_factory=default_db_url,
        description="Database URL: sqlite:///PATH (default ./bayanihan.db) or "
        "postgresql://user@host/dbname (psycopg 3).",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8640, description="Port `serve` listens on.")
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain for HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key for HTTPS.")
    tls_client_ca: Path | None = Field(
        default=None,
        description="PEM CA bundle: with HTTPS, `serve` requires every client to present a "
        "certificate signed by it (mutual TLS).",
    )
    max_content_length: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest TAXII POST body accepted, in bytes (announced in the API root).",
    )
    page_limit: int = Field(
        default=1000, ge=1, description="Objects per TAXII page when the client names no limit."
    )
    max_page_limit: int = Field(
        default=10000, ge=1, description="Largest `limit` a TAXII client may ask for."
    )
    untagged_tlp: TlpName = Field(
        default="amber",
        description="How objects that carry no TLP marking are treated: AMBER unless changed.",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description="SQLite `synchronous` pragma. NORMAL (with WAL) survives a crash of the "
        "process; FULL also survives a power cut, at the cost of an fsync per commit.",
    )

    correlation: bool = Field(
        default=True,
        description="Extract observables from every stored object, index them and raise hits.",
    )
    correlation_max_objects: int = Field(
        default=20,
        ge=1,
        description="A value carried by more objects than this is noise: no hits (as MISP).",
    )
    alert_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between two rounds of alert deliveries while `serve` runs.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail alerts (none: e-mail alerts wait)."
    )
    smtp_port: int = Field(default=25, description="SMTP server port.")
    smtp_sender: str = Field(
        default="bayanihan@localhost", description="From address of e-mail alerts."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if required.")
    smtp_password: str | None = Field(default=None, description="SMTP password, if required.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="SMTP transport security: none, starttls or tls."
    )

    peer_connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds `sync` waits to connect to a peer."
    )
    peer_read_timeout: float = Field(
        default=60.0, gt=0, description="Seconds `sync` waits for each read from a peer."
    )
    sync_interval: float = Field(
        default=60.0,
        ge=0,
        description="Seconds between two background sync rounds (pull, then push, with "
        "every peer) while `serve` runs; 0 turns background sync off.",
    )
    push_delay: float = Field(
        default=1.0,
        gt=0,
        description="While `serve` runs, a push round starts at most this many seconds "
        "after a new local write (from any process on this database).",
    )
    push_batch_size: int = Field(
        default=100, ge=1, description="Objects per TAXII envelope pushed to a peer."
    )
    push_retry_base: float = Field(
        default=30.0,
        gt=0,
        description="Seconds before the first retry of a push the peer could not take; "
        "each further failure doubles it.",
    )
    push_retry_max: float = Field(
        default=6 * 3600.0, gt=0, description="Longest wait, in seconds, between push retries."
    )
    push_status_polls: int = Field(
        default=3,
        ge=0,
        description="Times a push follows a pending TAXII status (a second apart) before "
        "leaving it for the next round.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("BAYANIHAN_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)
