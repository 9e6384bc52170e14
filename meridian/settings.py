"""Settings read from the environment (``MERIDIAN_*``), built by entry points, not at import."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PasswordHashing = Literal["argon2", "argon2-minimal-for-tests"]
"""How much a password hash costs (see ``meridian.access.passwords``); tests only choose the
minimal one."""


class Settings(BaseSettings):
    """Runtime configuration.

    :ivar data_dir: where the embedded SQLite database and the file store live.
    :ivar database_url: a SQLAlchemy URL; when empty, SQLite in ``data_dir``.
    :ivar time_zone: the workspace time zone used for display and ``TODAY()``.
    :ivar password_hashing: ``argon2`` for every deployment; ``argon2-minimal-for-tests`` hashes
        at the least cost argon2id allows, for test suites, where nobody steals the passwords.
    :ivar job_lease_seconds: how long a worker holds a job it claimed without renewing it; a
        live worker renews every third of it, so a dead one's jobs wait at most this long.
    :ivar load_plugins: which installed plugins (``meridian`` entry points) load, by name,
        comma-separated; ``*`` loads every one, an empty value none.
    :ivar max_upload_bytes: the largest file anyone may upload; an attachment field's
        ``max_size`` can only lower it.
    :ivar request_max_bytes: the largest request body (JSON, forms), refused with 413 as it
        streams in; 2 MB holds a bulk call of 1,000 ordinary records. Uploads
        (``multipart/form-data``) may be as large as ``max_upload_bytes``.
    """

    model_config = SettingsConfigDict(env_prefix="MERIDIAN_", extra="ignore")

    data_dir: Path = Path("meridian-data")
    database_url: str = ""
    time_zone: str = "Asia/Shanghai"
    job_lease_seconds: float = Field(default=30.0, gt=0)
    admin_email: str = ""
    admin_password: str = ""
    session_idle_minutes: int = 8 * 60
    session_absolute_hours: int = 7 * 24
    login_max_failures: int = 20
    login_lock_minutes: int = 15
    login_address_max_delay_seconds: int = 60
    # Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is
    # believed; by default nobody's, so a client cannot choose the address it is throttled by.
    trusted_proxies: str = ""
    # The audit trail's HMAC key; when empty, ``audit.key`` in the data directory (made at the
    # first start). Either way it must not be stored in the database it protects.
    audit_key: SecretStr = SecretStr("")
    password_hashing: PasswordHashing = "argon2"
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "meridian@localhost"
    max_upload_bytes: int = 100 * 1024 * 1024
    request_max_bytes: int = 2 * 1024 * 1024
    seal_key: str = ""
    """Encrypts the company's signing certificate (a Fernet key); empty: a key file made in
    ``data_dir`` on first use."""
    load_plugins: str = "*"

    @property
    def plugin_names(self) -> tuple[str, ...] | None:
        """The installed plugins to load by name; None for every one."""
        if self.load_plugins.strip() == "*":
            return None
        return tuple(name.strip() for name in self.load_plugins.split(",") if name.strip())

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        _networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def job_lease(self) -> timedelta:
        return timedelta(seconds=self.job_lease_seconds)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'meridian.db').resolve()}"

    @property
    def file_store_dir(self) -> Path:
        return self.data_dir / "files"


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` as networks; a typo fails at start-up, naming the entry."""
    return tuple(
        ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
    )
