"""Channels registered at run time: stored with encrypted credentials, and one running adapter
per channel in every gateway process, started and stopped as admins change them."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from adapters.base import Adapter, AdapterContext
from adapters.registry import adapter_class
from gateway.events import EventBus
from gateway.failurelog import FailureLog
from gateway.ids import new_id
from gateway.keys import Keys
from gateway.models import now_ms
from gateway.scripts import load_script
from gateway.secretbox import SecretBox
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANGED = "channel.changed"


class ChannelNotFound(LookupError):
    pass


class DuplicateName(ValueError):
    """Another channel has this name (compared trimmed and case-insensitively)."""


class DuplicateAccount(ValueError):
    """Another channel receives this platform account already (two would fetch each other's
    access tokens out of date and file every message twice)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def name_key(name: str) -> str:
    """What two channel names are compared by: trimmed and case-folded."""
    return name.strip().casefold()


class ChannelConfigError(ValueError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "config"
        super().__init__(f"{field}: {first.get('msg')}")
        self.field = field
        self.first = first  # pydantic's error: its type and limits (error_detail)


class CredentialsRequired(ChannelConfigError):
    """An endpoint changed and the stored credentials would follow it: they must be entered
    again (an admin token alone must not be able to send them to a host of its choosing)."""

    def __init__(self, changed: list[str], fields: list[str]) -> None:
        ValueError.__init__(
            self,
            f"{', '.join(changed)} changed: enter {', '.join(fields)} again "
            "(stored credentials are not sent to a new endpoint)",
        )
        self.field = fields[0]
        self.changed = changed
        self.fields = fields


def validate_config(channel_type: str, config: dict[str, Any]) -> BaseModel:
    cls = adapter_class(channel_type)
    try:
        return cls.Config(**config)
    except ValidationError as exc:
        raise ChannelConfigError(exc.errors()) from None


# The contract an adapter's Config declares (class attributes, all optional):
#   endpoint_fields: where the channel connects (hosts, ports, base URLs, TLS settings); a change
#       of any of them requires every stored credential again.
#   secret_url_fields: URLs the credentials are sent to: https only, unless the host is loopback.
#   account_fields: what names the platform account the channel receives (WeChat's AppID): two
#       channels may not receive one account.
def endpoint_fields(channel_type: str) -> frozenset[str]:
    return frozenset(getattr(adapter_class(channel_type).Config, "endpoint_fields", ()))


def secret_url_fields(channel_type: str) -> frozenset[str]:
    return frozenset(getattr(adapter_class(channel_type).Config, "secret_url_fields", ()))


def account_fields(channel_type: str) -> tuple[str, ...]:
    """The config fields naming the platform account a channel receives (its Config's
    ``account_fields``, e.g. WeChat's AppID); none: any number of channels may share one."""
    return tuple(getattr(adapter_class(channel_type).Config, "account_fields", ()))


def account_key(channel_type: str, model: BaseModel) -> str:
    """What two channels' accounts are compared by ('' when the type names none)."""
    fields = account_fields(channel_type)
    if not fields:
        return ""
    values = model.model_dump(mode="json")
    parts = (str(values.get(field) or "").strip().casefold() for field in fields)
    return channel_type + ":" + "\x1f".join(parts)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_secret_urls(channel_type: str, model: BaseModel) -> None:
    for name in sorted(secret_url_fields(channel_type)):
        value = getattr(model, name, None)
        if not value:
            continue
        parts = urlsplit(str(value))
        if parts.scheme == "https" and parts.hostname:
            continue
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            continue
        raise ChannelConfigError([{
            "loc": (name,),
            "type": "https_required",
            "msg": "credentials are sent here: an https:// URL is required "
                   "(plain http:// only on a loopback host)",
        }])  # fmt: skip


def _endpoint(value: Any) -> Any:
    """What identifies where a field points: for a URL its scheme, host and port (a new path
    on the same host is not a new endpoint); otherwise the value itself."""
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        return (parts.scheme.lower(), (parts.hostname or "").lower(), port)
    if isinstance(value, str):
        return value.strip().lower()
    return value


class ChannelStore:
    def __init__(self, redis: Redis, keys: Keys, box: SecretBox, events: EventBus) -> None:
        self.redis = redis
        self.keys = keys
        self.box = box
        self.events = events
        self._claim_name = load_script(redis, __file__, "channel_name")

    async def create(self, channel_type: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
        model = validate_config(channel_type, config)
        _check_secret_urls(channel_type, model)
        channel_id = new_id("ch")
        account = account_key(channel_type, model)
        await self.claim_name(channel_id, name, "")
        now = now_ms()
        try:
            await self.claim_account(channel_id, channel_type, account, "")
            await self._save(channel_id, channel_type, name, model, created_at=now, enabled=True)
        except BaseException:
            await self.claim_name(channel_id, "", name)  # the name is free again
            await self.claim_account(channel_id, channel_type, "", account)
            raise
        await self.redis.sadd(self.keys.channels(), channel_id)
        await self.events.publish(CHANGED, {"channel_id": channel_id})
        return await self.get(channel_id)

    async def _save(
        self,
        channel_id: str,
        channel_type: str,
        name: str,
        model: BaseModel,
        *,
        created_at: int,
        enabled: bool,
    ) -> None:
        secret_names = adapter_class(channel_type).secret_fields
        values = model.model_dump(mode="json")
        public = {k: v for k, v in values.items() if k not in secret_names}
        secret = {k: v for k, v in values.items() if k in secret_names}
        await self.redis.hset(self.keys.channel(channel_id), mapping={
            "id": channel_id, "type": channel_type, "name": name,
            "config": json.dumps(public, ensure_ascii=False),
            "secrets": self.box.seal(json.dumps(secret)),
            "secret_fields": json.dumps(sorted(k for k, v in secret.items() if v)),
            "enabled": "1" if enabled else "0",
            "created_at": created_at, "updated_at": now_ms(), "revision": new_id("rev"),
        })  # fmt: skip

    async def claim_name(self, channel_id: str, name: str, old_name: str) -> None:
        """Two channels may not share a name (agents and reports tell channels apart by it):
        the name is claimed in the index, and the old one given up, in one script."""
        holder = await self._claim_name(
            keys=[self.keys.channel_names()],
            args=[channel_id, name_key(name) if name else "", name_key(old_name)],
        )
        if holder:
            other = await self.redis.hget(self.keys.channel(str(holder)), "name")
            raise DuplicateName(f"name: a channel named {other or name!r} exists")

    async def claim_account(
        self, channel_id: str, channel_type: str, account: str, old_account: str
    ) -> None:
        """Two channels may not receive one platform account: claimed like a name (the same
        script, its own index)."""
        if account == old_account:
            return
        holder = await self._claim_name(
            keys=[self.keys.channel_accounts()], args=[channel_id, account, old_account]
        )
        if holder:
            other = await self.redis.hget(self.keys.channel(str(holder)), "name")
            fields = account_fields(channel_type)
            raise DuplicateAccount(
                f"config.{', config.'.join(fields)}: the channel {other!r} receives this "
                "account already (delete it, or change its settings, first)",
                field=f"config.{fields[0]}",
            )

    async def index_names(self) -> None:
        """Channels made before the indexes claim their names and accounts (at start;
        idempotent; of two older channels sharing an account, the first listed keeps it)."""
        for channel in await self.list():
            with contextlib.suppress(DuplicateName):
                await self.claim_name(channel["id"], channel["name"], "")
            with contextlib.suppress(DuplicateAccount, ChannelConfigError, ChannelNotFound):
                channel_type, model, _ = await self.config(channel["id"])
                account = account_key(channel_type, model)
                await self.claim_account(channel["id"], channel_type, account, "")

    async def revision(self, channel_id: str) -> str | None:
        """Changes with every save: what a process's running adapter was started from."""
        return await self.redis.hget(self.keys.channel(channel_id), "revision")

    async def _row(self, channel_id: str) -> dict[str, str]:
        row = await self.redis.hgetall(self.keys.channel(channel_id))
        if not row:
            raise ChannelNotFound(channel_id)
        return row

    async def get(self, channel_id: str) -> dict[str, Any]:
        """The channel as the API shows it: credentials redacted (only which ones are set)."""
        row = await self._row(channel_id)
        return {
            "id": row["id"],
            "type": row["type"],
            "name": row["name"],
            "enabled": row.get("enabled") == "1",
            "config": json.loads(row["config"]),
            "credentials_set": json.loads(row.get("secret_fields") or "[]"),
            "created_at": int(row["created_at"]),
            "updated_at": int(row["updated_at"]),
        }

    async def why_not_sending(self, channel_id: str) -> str | None:
        """Why replies of this channel can never go out (deleted, disabled); None when it may
        send (it is only restarting or not running in the asking process)."""
        enabled = await self.redis.hget(self.keys.channel(channel_id), "enabled")
        if enabled is None:
            return "the channel no longer exists"
        return None if enabled in ("1", b"1") else "the channel is disabled"

    async def list(self) -> list[dict[str, Any]]:
        ids = sorted(await self.redis.smembers(self.keys.channels()))
        out = []
        for channel_id in ids:
            try:
                out.append(await self.get(channel_id))
            except ChannelNotFound:
                continue
        return out

    async def config(self, channel_id: str) -> tuple[str, BaseModel, bool]:
        """(type, full config with decrypted credentials, enabled)."""
        row = await self._row(channel_id)
        values = json.loads(row["config"]) | json.loads(self.box.open(row["secrets"]))
        return row["type"], validate_config(row["type"], values), row.get("enabled") == "1"

    async def update(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        row = await self._row(channel_id)
        channel_type, current, was_enabled = await self.config(channel_id)
        before = current.model_dump(mode="json")
        merged = before | (config or {})
        model = validate_config(channel_type, merged)
        after = model.model_dump(mode="json")
        changed = sorted(
            name
            for name in endpoint_fields(channel_type)
            if _endpoint(before.get(name)) != _endpoint(after.get(name))
        )
        if changed:
            stored = json.loads(row.get("secret_fields") or "[]")
            missing = sorted(k for k in stored if k not in (config or {}))
            if missing:
                raise CredentialsRequired(changed, missing)
        _check_secret_urls(channel_type, model)
        account = account_key(channel_type, model)
        await self.claim_account(channel_id, channel_type, account, "")
        if name is not None:
            try:
                await self.claim_name(channel_id, name, row["name"])
            except DuplicateName:
                await self.claim_account(channel_id, channel_type, "", account)
                raise
        before_account = account_key(channel_type, current)
        if before_account != account:  # the account it had is free now
            await self.claim_account(channel_id, channel_type, "", before_account)
        await self._save(
            channel_id,
            channel_type,
            name or row["name"],
            model,
            created_at=int(row["created_at"]),
            enabled=was_enabled if enabled is None else enabled,
        )
        await self.events.publish(CHANGED, {"channel_id": channel_id})
        return await self.get(channel_id)

    async def delete(self, channel_id: str) -> None:
        row = await self._row(channel_id)
        await self.claim_name(channel_id, "", row["name"])
        with contextlib.suppress(ChannelConfigError):
            channel_type, model, _ = await self.config(channel_id)
            await self.claim_account(channel_id, channel_type, "", account_key(channel_type, model))
        await self.redis.delete(self.keys.channel(channel_id))
        await self.redis.srem(self.keys.channels(), channel_id)
        await self.events.publish(CHANGED, {"channel_id": channel_id})
        # What its adapter kept goes too: cached and sealed tokens are as secret as the config.
        state = [k async for k in self.redis.scan_iter(self.keys.channel_state_pattern(channel_id))]
        for start in range(0, len(state), 500):
            await self.redis.delete(*state[start : start + 500])


ContextFactory = Callable[[str, BaseModel], AdapterContext]


class ChannelManager:
    """Runs one adapter per enabled channel in this process and dispatches its webhooks."""

    def __init__(self, store: ChannelStore, make_context: ContextFactory) -> None:
        self.store = store
        self.make_context = make_context
        self.running: dict[str, Adapter] = {}
        self.revisions: dict[str, str | None] = {}  # the revision each reload acted on
        self._lock = asyncio.Lock()
        self._resync: asyncio.Task[None] | None = None

    def adapter(self, channel_id: str) -> Adapter | None:
        return self.running.get(channel_id)

    async def start_all(self) -> None:
        await self.store.index_names()
        for channel in await self.store.list():
            await self.reload(channel["id"])

    def on_subscribed(self) -> None:
        """The event bus (re)subscribed: a channel created, changed or deleted while it was down
        told nobody here, so every channel's revision is looked at again."""
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self._resync_all(), name="channels-resync")

    async def _resync_all(self) -> None:
        failures = FailureLog(log, "channels re-read after the event bus came back")
        while True:
            try:
                ids = {channel["id"] for channel in await self.store.list()} | set(self.running)
                for channel_id in sorted(ids):
                    await self.reload(channel_id)
                failures.worked()
                return
            except Exception as exc:  # Redis away again: look again shortly
                failures.failed(exc)
                await asyncio.sleep(1)

    async def stop_all(self) -> None:
        await cancel_and_wait(self._resync)
        for channel_id in list(self.running):
            await self._stop(channel_id)
        self.revisions.clear()

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == CHANGED:
            await self.reload(event["data"]["channel_id"])

    async def reload(self, channel_id: str) -> None:
        """Start, restart or stop the channel's adapter as its stored revision says; a revision
        this process already acted on (the API's own reload, then the change event) is a no-op,
        so each change starts the channel once."""
        async with self._lock:
            revision = await self.store.revision(channel_id)
            if revision is not None and self.revisions.get(channel_id) == revision:
                return
            self.revisions.pop(channel_id, None)
            await self._stop(channel_id)
            try:
                channel_type, config, enabled = await self.store.config(channel_id)
            except ChannelNotFound:
                return
            if not enabled:
                self.revisions[channel_id] = revision
                return
            try:
                adapter = adapter_class(channel_type)(self.make_context(channel_id, config))
                await adapter.start()
            except Exception:
                log.exception("channel %s (%s) failed to start", channel_id, channel_type)
                return
            self.running[channel_id] = adapter
            self.revisions[channel_id] = revision
            log.info("channel %s (%s) started", channel_id, channel_type)

    async def _stop(self, channel_id: str) -> None:
        adapter = self.running.pop(channel_id, None)
        if adapter is not None:
            try:
                await adapter.stop()
            except Exception:
                log.exception("channel %s failed to stop cleanly", channel_id)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        channel_id = request.match_info["channel_id"]
        adapter = self.running.get(channel_id)
        if adapter is None:
            if await self.store.why_not_sending(channel_id) is None:
                # Stored and enabled, but not running here yet (restarting after an edit, or
                # re-read after the event bus came back): the platform retries later.
                raise web.HTTPServiceUnavailable(
                    text="channel starting, retry shortly", headers={"Retry-After": "1"}
                )
            raise web.HTTPNotFound(text="unknown channel")
        path = "/" + request.match_info["tail"]
        allowed = []
        for route in adapter.routes():
            if route.path != path:
                continue
            if route.method in ("*", request.method):
                return await route.handler(request)
            allowed.append(route.method)
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound(text="unknown channel endpoint")
