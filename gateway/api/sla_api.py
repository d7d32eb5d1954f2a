"""SLA policy (priority classes, targets, calendars, escalation) and classification rules:
read by staff, replaced by admins at run time. Stored in Redis; without an admin's copy the
config/ files apply (``source`` says which). Every process picks up an edit within seconds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.http import STAFF, error, ok, read_json, requires
from gateway.appkeys import GATEWAY
from gateway.classify import RulesError
from gateway.models import Role
from router.policy_source import PolicySource
from router.sla import SlaConfigError, sla_to_doc

routes = web.RouteTableDef()
ADMIN = (Role.ADMIN,)


def _source(request: web.Request) -> PolicySource:
    return request.app[GATEWAY].inbox.policies


def _refresh_router(request: web.Request) -> None:
    """This process's router reads its own cached copy: drop it (others refresh in seconds)."""
    policies = getattr(request.app[GATEWAY].router, "policies", None)
    if isinstance(policies, PolicySource):
        policies.invalidate()


async def _body(request: web.Request) -> Any:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise error(400, "invalid_json", "body must be a JSON object")
    return data


async def _classes(request: web.Request) -> web.Response:
    current = await _source(request).current()
    return ok({"policy": sla_to_doc(current.sla), "source": current.sla_source})


async def _rules(request: web.Request) -> web.Response:
    current = await _source(request).current()
    return ok({"rules": current.classifier.doc, "source": current.rules_source})


@routes.get("/api/v1/sla/classes")
@requires(*STAFF)
async def get_classes(request: web.Request) -> web.Response:
    return await _classes(request)


@routes.put("/api/v1/sla/classes")
@requires(*ADMIN)
async def put_classes(request: web.Request) -> web.Response:
    try:
        await _source(request).put_sla(await _body(request))
    except SlaConfigError as exc:
        raise error(400, "invalid_field", str(exc)) from None
    _refresh_router(request)
    return await _classes(request)


@routes.delete("/api/v1/sla/classes")
@requires(*ADMIN)
async def reset_classes(request: web.Request) -> web.Response:
    """Back to config/sla.toml."""
    try:
        await _source(request).reset_sla()
    except SlaConfigError as exc:
        raise error(409, "conflict", str(exc)) from None
    _refresh_router(request)
    return await _classes(request)


@routes.get("/api/v1/sla/rules")
@requires(*STAFF)
async def get_rules(request: web.Request) -> web.Response:
    return await _rules(request)


@routes.put("/api/v1/sla/rules")
@requires(*ADMIN)
async def put_rules(request: web.Request) -> web.Response:
    try:
        await _source(request).put_rules(await _body(request))
    except RulesError as exc:
        raise error(400, "invalid_field", str(exc)) from None
    return await _rules(request)


@routes.delete("/api/v1/sla/rules")
@requires(*ADMIN)
async def reset_rules(request: web.Request) -> web.Response:
    """Back to config/priority_rules.toml."""
    await _source(request).reset_rules()
    return await _rules(request)
