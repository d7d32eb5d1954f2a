"""SLA policy (priority classes, targets, calendars, escalation) and classification rules:
read by staff, replaced by admins at run time. Stored in Redis; without an admin's copy the
config/ files apply (``source`` says which). Every process picks up an edit within seconds."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.http import STAFF, error, ok, parse, read_json, requires
from gateway.appkeys import GATEWAY
from gateway.classify import RulesError, check_pattern_speed, parse_rules
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


# Bounds of what an admin may set, checked before the policy is parsed: a duration of 1e308
# seconds (or NaN, or a whole number of 400 digits) must be a 400 naming the field, never an
# overflow in every later request.
MAX_NUMBER = 1e12  # no number in either document is anywhere near this
MAX_DURATION_SECONDS = 365 * 86400
MAX_REPEAT_COUNT = 1000
MAX_REPEAT_WINDOW_HOURS = 365 * 24
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATIONS = ("first_response", "next_response", "resolution", "queue_target", "max_wait")


def _bad(field: str, problem: str) -> web.HTTPException:
    return error(400, "invalid_field", f"{field}: {problem}", field=field)


def _finite(value: Any, where: str) -> None:
    """Every number anywhere in the body is finite and of a sane size."""
    if isinstance(value, dict):
        for key, item in value.items():
            _finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite(item, f"{where}.{i}" if where else str(i))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise _bad(where or "body", f"{value!r} is out of range")


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    return float(match.group(1)) * _UNIT[match.group(2)] if match else None


def _durations(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    classes = doc.get("classes")
    if isinstance(classes, dict):
        items = list(classes.items())
    elif isinstance(classes, list):
        items = [(s.get("name", i) if isinstance(s, dict) else i, s) for i, s in enumerate(classes)]
    else:
        items = []
    for name, spec in items:
        if not isinstance(spec, dict):
            continue
        for key in _DURATIONS:
            value = spec.get(key)
            if isinstance(value, dict):
                for channel, one in value.items():
                    yield f"classes.{name}.{key}.{channel}", one
            elif value is not None:
                yield f"classes.{name}.{key}", value
    escalation = doc.get("escalation")
    steps = escalation.get("steps") if isinstance(escalation, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and "after" in step:
            yield f"escalation.steps.{i}.after", step["after"]


def check_sla_bounds(doc: dict[str, Any]) -> None:
    for field, value in _durations(doc):
        seconds = _seconds(value)
        if seconds is not None and not 0 <= seconds <= MAX_DURATION_SECONDS:
            raise _bad(field, f"a duration between 0 and {MAX_DURATION_SECONDS} s (365 days)")


def check_rules_bounds(doc: dict[str, Any]) -> None:
    rules = doc.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        repeat = rule.get("repeat") if isinstance(rule, dict) else None
        if not isinstance(repeat, dict):
            continue
        count, window = repeat.get("count"), repeat.get("window_hours")
        if isinstance(count, int | float) and not 0 <= count <= MAX_REPEAT_COUNT:
            raise _bad(f"rules.{i}.repeat.count", f"a whole number up to {MAX_REPEAT_COUNT}")
        if isinstance(window, int | float) and not 0 < window <= MAX_REPEAT_WINDOW_HOURS:
            raise _bad(
                f"rules.{i}.repeat.window_hours",
                f"a number of hours above 0, up to {MAX_REPEAT_WINDOW_HOURS}",
            )


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
    doc = await _body(request)
    check_sla_bounds(doc)
    _finite(doc, "")
    try:
        await _source(request).put_sla(doc)
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
    doc = await _body(request)
    check_rules_bounds(doc)
    _finite(doc, "")
    try:
        await _source(request).put_rules(doc)
    except RulesError as exc:
        raise error(400, "invalid_field", str(exc)) from None
    return await _rules(request)


@routes.delete("/api/v1/sla/rules")
@requires(*ADMIN)
async def reset_rules(request: web.Request) -> web.Response:
    """Back to config/priority_rules.toml."""
    await _source(request).reset_rules()
    return await _rules(request)


class RulesTestBody(BaseModel):
    text: str = Field(min_length=1, max_length=20000, description="a customer's message")
    tier: str | None = Field(None, max_length=50, description="the customer's tier, e.g. vip")
    channel_type: str | None = Field(None, max_length=50)
    rules: dict[str, Any] | None = Field(
        None, description="a draft rules document to try (absent: the rules in force)"
    )


class RulesTestAnswer(BaseModel):
    class_name: str = Field(alias="class", description="the class the text would get")
    rule: str | None = Field(description="the winning rule; null: the default applied")
    matched: list[str] = Field(description="every rule the text matches, in their order")
    team: str | None
    skills: list[str]
    language: str | None
    source: str = Field(description="draft, file or redis: the rules tried")


RESPONSES = {"POST /api/v1/priority-rules/test": RulesTestAnswer}


@routes.post("/api/v1/priority-rules/test")
@requires(*STAFF)
async def try_rules(request: web.Request) -> web.Response:
    """Which rule a text matches, with the rules in force or a draft (the settings page's
    "test this text" box). Nothing is stored."""
    body = await parse(request, RulesTestBody)
    current = await _source(request).current()
    classifier, source = current.classifier, current.rules_source
    if body.rules is not None:
        check_rules_bounds(body.rules)
        _finite(body.rules, "")
        order = sorted(current.classifier.rank, key=current.classifier.rank.__getitem__)
        try:
            classifier, source = parse_rules(body.rules, order), "draft"
            check_pattern_speed(classifier)
        except RulesError as exc:
            raise error(400, "invalid_field", str(exc), field="rules") from None
    forms = classifier.forms(body.text)
    matched = [
        rule.name
        for rule in classifier.rules
        if rule.matches(forms, body.tier, {}, body.channel_type)
    ]
    verdict = classifier.classify(body.text, body.tier, {}, body.channel_type)
    return ok(
        {
            "class": verdict.class_name,
            "rule": verdict.rule,
            "matched": matched,
            "team": verdict.team,
            "skills": list(verdict.skills),
            "language": verdict.language,
            "source": source,
        }
    )
