"""Settings: config/gateway.toml, overridden by GATEWAY_* environment variables, then CLI flags.

A bad setting is reported as one line naming it (``SettingsError``).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.i18n.formatting import host_zone_name, valid_zone
from gateway.redis_client import RedisURLError, check_url


def config_dir() -> Path:
    """The shipped config/ folder: beside the packages in a checkout, inside the wheel otherwise."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "config", here / "_config"):
        if (candidate / "gateway.toml").exists():
            return candidate
    raise SettingsError("config", "cannot find the gateway's config/ folder")


# Upper bounds of the numeric settings: every number has one (a typo such as 1e308 is refused at
# startup, not met as an overflow in the first request that uses it).
HOUR = 3600
DAY = 86_400
WEEK = 7 * DAY
YEAR = 365 * DAY
GIB = 1 << 30


class SettingsError(Exception):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting {name}: {problem}")
        self.name = name


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: str = "./data"
    redis_url: str = ""
    redis_prefix: str = Field("gw", pattern=r"^[A-Za-z0-9_.-]+$")
    public_url: str = "http://127.0.0.1:8080"
    workers: int = Field(1, ge=1, le=64)
    log_level: str = "INFO"
    secret_key: str = ""  # from GATEWAY_SECRET_KEY; empty -> a key file in data_dir
    admin_email: str = ""
    admin_password: str = ""
    # The first admin's display name (customers may see it beside a reply): Chinese first.
    admin_name: str = Field("管理员", min_length=1, max_length=100)

    max_body_bytes: int = Field(1_048_576, ge=1024, le=GIB)
    max_attachment_bytes: int = Field(20_971_520, ge=1024, le=GIB)
    # A request body must arrive whole within this many seconds (408 otherwise); a body larger
    # than max_body_bytes (a file upload) within upload_timeout_seconds.
    body_timeout_seconds: float = Field(30, gt=0, le=3600)
    upload_timeout_seconds: float = Field(300, gt=0, le=86_400)
    # Web chat visitor sockets open at once, counted in Redis across processes: per client
    # address (429 beyond) and per visitor session (closed with 4429 beyond).
    webchat_max_sockets_per_address: int = Field(20, ge=1, le=100_000)
    webchat_max_sockets_per_session: int = Field(5, ge=1, le=1000)
    reopen_window_seconds: int = Field(604_800, ge=0, le=YEAR)
    dedupe_ttl_seconds: int = Field(1_209_600, ge=60, le=YEAR)

    offer_timeout_seconds: float = Field(30, gt=0, le=HOUR)
    agent_heartbeat_ttl_seconds: float = Field(90, gt=0, le=DAY)
    router_sweep_seconds: float = Field(5, gt=0, le=HOUR)
    max_missed_offers: int = Field(3, ge=1, le=1000)

    outbox_max_attempts: int = Field(6, ge=1, le=1000)
    outbox_backoff_base_seconds: float = Field(2.0, gt=0, le=HOUR)
    outbox_backoff_max_seconds: float = Field(300.0, gt=0, le=WEEK)
    # A reply a crashed process was sending is taken over by another after this long.
    outbox_claim_idle_seconds: float = Field(60.0, gt=0, le=DAY)
    outbox_concurrency: int = Field(16, ge=1, le=1000)

    token_ttl_seconds: int = Field(43_200, ge=1, le=30 * DAY)
    # An open agent WebSocket re-checks its token this often (revocations also close it at once
    # through pub/sub; this bounds the delay when such a message is lost).
    session_recheck_seconds: float = Field(30, gt=0, le=3600)
    # Failed logins per (account, address) before a lockout, which lasts login_lockout_seconds
    # and doubles with each further failure, up to login_lockout_max_seconds.
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_lockout_seconds: int = Field(300, ge=1, le=WEEK)
    login_lockout_max_seconds: int = Field(86_400, ge=1, le=30 * DAY)
    # Failed logins from one address (any account) within the window before it is refused.
    login_max_failures_per_address: int = Field(50, ge=1, le=1_000_000)
    login_address_window_seconds: int = Field(300, ge=1, le=DAY)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs; see gateway/clientaddr.py).
    trusted_proxies: list[str] = Field(default_factory=list)

    shutdown_grace_seconds: float = Field(10, ge=0, le=HOUR)
    # Self-service (gateway/kb/): a customer silent this long after the bot's answer is resolved.
    selfservice_idle_seconds: float = Field(1800, ge=1, le=YEAR)
    # When set, GET /metrics needs "Authorization: Bearer <metrics_token>" (else it is public).
    metrics_token: str = ""
    # Optional: mention-spike alerts are also POSTed here as JSON.
    spike_webhook_url: str = ""

    # The deployment's time zone (IANA name, e.g. Asia/Shanghai); empty: the host's. Business
    # hours of calendars that name no zone and the reports' day boundaries use it; the console
    # shows every time in the viewer's own zone.
    time_zone: str = ""

    # Files in config/ (paths relative to it unless absolute).
    priority_rules_file: str = "priority_rules.toml"
    sla_file: str = "sla.toml"

    @field_validator("redis_url")
    @classmethod
    def _known_redis_url(cls, value: str) -> str:
        # A typo in the URL is reported at startup, not as a crash in every worker.
        if value:
            try:
                check_url(value)
            except RedisURLError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        value = value.strip()
        if value and not valid_zone(value):
            raise ValueError(f"{value!r} is not a time zone name such as Asia/Shanghai")
        return value

    @property
    def zone_name(self) -> str:
        """The deployment's zone: the setting, else the host's."""
        return self.time_zone or host_zone_name()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: Any) -> Any:
        # GATEWAY_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7"
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        for entry in value if isinstance(value, list) else []:
            try:
                ipaddress.ip_network(str(entry).strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return value

    def config_path(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else config_dir() / path


def load_settings(
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Defaults file < GATEWAY_* environment < ``overrides`` (CLI flags, tests)."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(environ.get("GATEWAY_CONFIG") or config_dir() / "gateway.toml")
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError("GATEWAY_CONFIG", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("GATEWAY_CONFIG", f"{path} is not valid TOML: {exc}") from None
    for name in Settings.model_fields:
        env_name = f"GATEWAY_{name.upper()}"
        if env_name in environ:
            values[name] = environ[env_name]
    if "REDIS_URL" in environ and "GATEWAY_REDIS_URL" not in environ:
        values["redis_url"] = environ["REDIS_URL"]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        shown = f"GATEWAY_{name.upper()}" if f"GATEWAY_{name.upper()}" in environ else name
        raise SettingsError(shown, err["msg"]) from None
