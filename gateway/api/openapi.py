"""The OpenAPI document of /api/v1, built from the registered routes, their body models and
their response models.

Request bodies are the pydantic models the handlers parse with; their nested models
(pydantic's ``$defs``) become ``components/schemas``. Each route's success answer is the model
gateway/api/schemas.py names for it (``RESPONSES``; a module of routes elsewhere may keep its own
``RESPONSES`` dict of the same form), in ``components/schemas`` too. Each route
lists the status codes it answers, read from what it does (its body: 400/408/413; its roles:
401/403; a path id: 404; the errors it and the helpers of its module raise, and the status it
answers with), every error with the one error schema.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.api.schemas import CSV, FILES, RESPONSES

REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. invalid_field"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the field at fault (400)"},
                "fields": {"type": "array", "items": {"type": "string"}},
                "retry_after": {"type": "number", "description": "seconds (429)"},
            },
        }
    },
}

DESCRIPTIONS = {
    "101": "Switching Protocols: the agent WebSocket (events and commands: docs/api.md)",
    "200": "OK",
    "201": "Created",
    "202": "Accepted",
    "400": "Invalid input (the field is named)",
    "401": "No, expired or revoked token; wrong login",
    "403": "The role (or the assignment) does not allow it",
    "404": "Not found",
    "408": "The body did not arrive within body_timeout_seconds (the connection is closed)",
    "409": "State conflict",
    "413": "Body too large",
    "429": "Too many attempts (Retry-After)",
    "503": "Draining or storage unavailable",
}


def _source(handler: Any) -> str:
    try:
        return inspect.getsource(inspect.unwrap(handler))
    except (OSError, TypeError):
        return ""


def _module_sources(handler: Any, depth: int = 3) -> str:
    """The handler's source and that of the functions of its module it calls (helpers such as
    ``visible_conversation`` raise its 403/404), a few calls deep."""
    target = inspect.unwrap(handler)
    module = inspect.getmodule(target)
    seen: set[str] = set()
    sources, todo = [], [(target, 0)]
    while todo:
        function, level = todo.pop()
        source = _source(function)
        sources.append(source)
        if level >= depth:
            continue
        for name in re.findall(r"\b(_?\w+)\(", source):
            helper = getattr(module, name, None)
            if (
                name not in seen
                and inspect.isfunction(helper)
                and helper.__module__ == target.__module__
                and helper is not target
            ):
                seen.add(name)
                todo.append((helper, level + 1))
    return "\n".join(sources)


def _body_model(handler: Any) -> type[BaseModel] | None:
    """The pydantic model a handler parses its body with (found in its module by name use)."""
    target = inspect.unwrap(handler)
    match = re.search(r"parse\(request, (\w+)\)", _source(handler))
    if not match:
        return None
    model = getattr(inspect.getmodule(target), match.group(1), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _add(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """One name, one schema: two different models of one name would make a $ref ambiguous."""
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different models are named {name} in the OpenAPI document")


def _inline(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s schema, the models it nests moved to components/schemas."""
    schema = model.model_json_schema(ref_template=REF)
    for name, nested in schema.pop("$defs", {}).items():
        _add(schemas, name, nested)
    return schema


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A $ref to ``model`` in components/schemas, with the models it nests."""
    _add(schemas, model.__name__, _inline(model, schemas))
    return {"$ref": REF.format(model=model.__name__)}


_NOT_NAMED = object()


def _answer_model(method: str, path: str, handler: Any) -> Any:
    """The model of the route's success answer: None for a WebSocket, _NOT_NAMED when neither
    schemas.RESPONSES nor a RESPONSES dict of the handler's own module names one."""
    key = f"{method} {path}"
    if key in RESPONSES:
        return RESPONSES[key]
    own = getattr(inspect.getmodule(inspect.unwrap(handler)), "RESPONSES", None)
    return own.get(key, _NOT_NAMED) if isinstance(own, dict) else _NOT_NAMED


def _statuses(method: str, path: str, handler: Any, has_body: bool) -> tuple[str, set[str]]:
    """(the success status, the error statuses) of one route."""
    source = _source(handler)
    success = "201" if "status=201" in source else "202" if "status=202" in source else "200"
    if _answer_model(method, path, handler) is None:
        success = "101"  # a WebSocket
    errors = {m for m in re.findall(r"error\(\s*(4\d\d|503)", _module_sources(handler))}
    if getattr(handler, "roles", None):
        errors |= {"401", "403"}
    if success == "101":
        errors.add("401")  # the socket checks its token itself
    if has_body or "read_json(" in source or method in ("POST", "PUT", "PATCH"):
        errors |= {"400", "408", "413"}
    if "{" in path:
        errors.add("404")
    if "run(" in source:  # an action: ActionError carries 400, 404 or 409
        errors |= {"400", "404", "409"}
    if path == "/api/v1/auth/login":
        errors |= {"401", "429"}
    errors.add("503")  # storage unavailable, on any route
    return success, errors


def _success(
    method: str, path: str, handler: Any, status: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    """The success answer: the model schemas.RESPONSES names (an object without a schema for
    a route that has none yet), and CSV for the reports that give it."""
    answer: dict[str, Any] = {"description": DESCRIPTIONS[status]}
    key = f"{method} {path}"
    if status == "101":
        return answer
    model = _answer_model(method, path, handler)
    if model is str:  # a file
        answer["content"] = {t: {"schema": {"type": "string"}} for t in FILES.get(key, ["*/*"])}
        return answer
    schema = {"type": "object"} if model is _NOT_NAMED else _schema(model, schemas)
    answer["content"] = {"application/json": {"schema": schema}}
    if key in CSV:
        answer["description"] += "; with ?format=csv the rows as CSV"
        answer["content"]["text/csv"] = {"schema": {"type": "string"}}
    return answer


def openapi_document(app: web.Application) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    error_ref = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/v1") or route.method == "HEAD":
            continue
        handler = route.handler
        operation_id = f"{route.method.lower()}_{handler.__name__}"
        model = _body_model(handler)
        success, errors = _statuses(route.method, path, handler, model is not None)
        answer = _success(route.method, path, handler, success, schemas)
        responses: dict[str, Any] = {success: answer}
        for status in sorted(errors):
            responses[status] = {
                "description": DESCRIPTIONS.get(status, "Error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        if success == "101":  # before the upgrade: a plain-text refusal
            responses["401"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
        op: dict[str, Any] = {
            "summary": (inspect.getdoc(inspect.unwrap(handler)) or handler.__name__).split("\n")[0],
            "operationId": operation_id,
            "responses": responses,
        }
        roles = getattr(handler, "roles", None)
        if roles:
            op["x-roles"] = [r.value for r in roles]
        if roles or success == "101":
            op["security"] = [{"bearer": []}]
        params = re.findall(r"{(\w+)}", path)
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if model is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _inline(model, schemas)}},
            }
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Customer-service gateway API", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }
