"""Admin endpoints: channels (credentials encrypted, never returned) and users."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, EmailStr, Field

from adapters.base import VerifyError
from adapters.registry import UnknownChannelType, adapter_class, available_types
from gateway.api.http import error, error_detail, ok, parse, requires
from gateway.appkeys import GATEWAY
from gateway.auth import LastAdmin, UserExists, WeakPassword
from gateway.channels import (
    ChannelConfigError,
    ChannelNotFound,
    CredentialsRequired,
    DuplicateAccount,
    DuplicateName,
)
from gateway.models import Role

routes = web.RouteTableDef()
ADMIN = (Role.ADMIN,)


def _channel_json(request: web.Request, channel: dict[str, Any]) -> dict[str, Any]:
    adapter = request.app[GATEWAY].channels.adapter(channel["id"])
    settings = request.app[GATEWAY].settings
    return {
        **channel,
        "running": adapter is not None,
        "webhook_base": f"{settings.public_url.rstrip('/')}/channels/{channel['id']}",
        "info": adapter.describe() if adapter else None,
    }


@routes.get("/api/v1/channel-types")
@requires(*ADMIN)
async def channel_types(request: web.Request) -> web.Response:
    out = []
    for name in available_types():
        cls = adapter_class(name)
        schema = cls.Config.model_json_schema()
        out.append({"type": name, "secret_fields": sorted(cls.secret_fields), "schema": schema})
    return ok({"types": out})


class ChannelBody(BaseModel):
    type: str
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)


class ChannelPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    enabled: bool | None = None


def _duplicate(exc: DuplicateName | DuplicateAccount) -> web.HTTPException:
    if isinstance(exc, DuplicateAccount):
        return error(409, "duplicate_account", str(exc), field=exc.field)
    return error(409, "duplicate_name", str(exc), field="name")


@routes.post("/api/v1/channels")
@requires(*ADMIN)
async def create_channel(request: web.Request) -> web.Response:
    body = await parse(request, ChannelBody)
    gw = request.app[GATEWAY]
    try:
        channel = await gw.channel_store.create(body.type, body.name, body.config)
    except UnknownChannelType as exc:
        raise error(400, "invalid_field", f"type: {exc}", field="type") from None
    except (DuplicateName, DuplicateAccount) as exc:
        raise _duplicate(exc) from None
    except ChannelConfigError as exc:
        detail = error_detail(exc.first)
        raise error(
            400, "invalid_field", f"config.{exc}", field=f"config.{exc.field}", **detail
        ) from None
    await gw.channels.reload(channel["id"])  # this process at once; others via pub/sub
    return ok({"channel": _channel_json(request, channel)}, status=201)


@routes.get("/api/v1/channels")
@requires(*ADMIN)
async def list_channels(request: web.Request) -> web.Response:
    channels = await request.app[GATEWAY].channel_store.list()
    return ok({"channels": [_channel_json(request, c) for c in channels]})


async def _channel(request: web.Request) -> dict[str, Any]:
    try:
        return await request.app[GATEWAY].channel_store.get(request.match_info["id"])
    except ChannelNotFound:
        raise error(404, "not_found", "no such channel") from None


@routes.get("/api/v1/channels/{id}")
@requires(*ADMIN)
async def get_channel(request: web.Request) -> web.Response:
    return ok({"channel": _channel_json(request, await _channel(request))})


@routes.patch("/api/v1/channels/{id}")
@requires(*ADMIN)
async def patch_channel(request: web.Request) -> web.Response:
    body = await parse(request, ChannelPatch)
    channel = await _channel(request)
    gw = request.app[GATEWAY]
    try:
        channel = await gw.channel_store.update(
            channel["id"], name=body.name, config=body.config, enabled=body.enabled
        )
    except (DuplicateName, DuplicateAccount) as exc:
        raise _duplicate(exc) from None
    except CredentialsRequired as exc:
        fields = [f"config.{f}" for f in exc.fields]
        changed = ", ".join(f"config.{f}" for f in exc.changed)
        raise error(
            400,
            "credentials_required",
            f"{changed} changed: enter {', '.join(fields)} again "
            "(stored credentials are never sent to a new endpoint)",
            field=fields[0],
            fields=fields,
        ) from None
    except ChannelConfigError as exc:
        detail = error_detail(exc.first)
        raise error(
            400, "invalid_field", f"config.{exc}", field=f"config.{exc.field}", **detail
        ) from None
    await gw.channels.reload(channel["id"])
    return ok({"channel": _channel_json(request, channel)})


@routes.delete("/api/v1/channels/{id}")
@requires(*ADMIN)
async def delete_channel(request: web.Request) -> web.Response:
    channel = await _channel(request)
    gw = request.app[GATEWAY]
    await gw.channel_store.delete(channel["id"])
    await gw.channels.reload(channel["id"])
    return ok({"deleted": channel["id"]})


@routes.post("/api/v1/channels/{id}/verify")
@requires(*ADMIN)
async def verify_channel(request: web.Request) -> web.Response:
    channel = await _channel(request)
    adapter = request.app[GATEWAY].channels.adapter(channel["id"])
    if adapter is None:
        raise error(409, "not_running", "the channel is disabled or failed to start")
    try:
        await adapter.verify()
    except VerifyError as exc:
        return ok({"ok": False, "reason": str(exc)})
    return ok({"ok": True})


class UserBody(BaseModel):
    email: EmailStr
    password: str = Field(min_length=10, max_length=1024)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    capacity: int = Field(5, ge=0, le=100)
    teams: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class UserPatch(BaseModel):
    password: str | None = Field(None, min_length=10, max_length=1024)
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    capacity: int | None = Field(None, ge=0, le=100)
    teams: list[str] | None = None
    skills: list[str] | None = None
    languages: list[str] | None = None


def _weak(exc: WeakPassword) -> web.HTTPException:
    return error(400, "weak_password", f"password: {exc}", field="password")


@routes.post("/api/v1/users")
@requires(*ADMIN)
async def create_user(request: web.Request) -> web.Response:
    body = await parse(request, UserBody)
    gw = request.app[GATEWAY]
    try:
        user = await gw.users.create(
            body.email,
            body.password,
            name=body.name,
            role=body.role,
            capacity=body.capacity,
            teams=body.teams,
            skills=body.skills,
            languages=body.languages,
        )
    except WeakPassword as exc:
        raise _weak(exc) from None
    except UserExists:
        raise error(409, "exists", "a user with this email exists") from None
    await gw.sync_agent(user.id)
    return ok({"user": user.model_dump(mode="json")}, status=201)


@routes.get("/api/v1/users")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def list_users(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    users = []
    for user in await gw.users.all():
        agent = await gw.router_store.agent_raw(user.id)
        users.append(
            {
                **user.model_dump(mode="json"),
                "status": agent.get("status", "offline"),
                "load": float(agent.get("load") or 0),
            }
        )
    return ok({"users": users})


def _last_admin(exc: LastAdmin) -> web.HTTPException:
    return error(409, "last_admin", f"{exc}: make another user an admin first, so that "
                 "someone can still manage users and channels")  # fmt: skip


@routes.patch("/api/v1/users/{id}")
@requires(*ADMIN)
async def patch_user(request: web.Request) -> web.Response:
    body = await parse(request, UserPatch)
    gw = request.app[GATEWAY]
    try:
        user = await gw.users.update(request.match_info["id"], body.model_dump(exclude_none=True))
    except WeakPassword as exc:
        raise _weak(exc) from None
    except LastAdmin as exc:
        raise _last_admin(exc) from None
    if user is None:
        raise error(404, "not_found", "no such user")
    await gw.sync_agent(user.id)
    return ok({"user": user.model_dump(mode="json")})


@routes.delete("/api/v1/users/{id}")
@requires(*ADMIN)
async def delete_user(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        deleted = await gw.users.delete(request.match_info["id"])
    except LastAdmin as exc:
        raise _last_admin(exc) from None
    if not deleted:
        raise error(404, "not_found", "no such user")
    await gw.sync_agent(request.match_info["id"])
    return ok({"deleted": request.match_info["id"]})
