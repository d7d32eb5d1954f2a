"""The OpenAPI document of /api/v1, built from the registered routes and their body models.

Request bodies are the pydantic models the handlers parse with; their nested models
(pydantic's ``$defs``) become ``components/schemas``. Each route lists the status codes it
answers, read from what it does (its body: 400/413; its roles: 401/403; a path id: 404; the
errors it raises and the status it answers with), every error with the one error schema.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.models import User
from gateway.surveys import AftercareSettings

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
    "200": "OK",
    "201": "Created",
    "202": "Accepted",
    "400": "Invalid input (the field is named)",
    "401": "No, expired or revoked token; wrong login",
    "403": "The role (or the assignment) does not allow it",
    "404": "Not found",
    "409": "State conflict",
    "413": "Body too large",
    "429": "Too many attempts (Retry-After)",
    "503": "Draining or storage unavailable",
}

# Handlers that answer with a model: operationId -> (key in the answer or None, model, a list?).
RESPONSE_MODELS: dict[str, tuple[str | None, type[BaseModel], bool]] = {
    "post_create_user": ("user", User, False),
    "patch_patch_user": ("user", User, False),
    "get_list_users": ("users", User, True),
    "get_get_settings": (None, AftercareSettings, False),
    "put_put_settings": (None, AftercareSettings, False),
}


def _source(handler: Any) -> str:
    try:
        return inspect.getsource(inspect.unwrap(handler))
    except (OSError, TypeError):
        return ""


def _body_model(handler: Any) -> type[BaseModel] | None:
    """The pydantic model a handler parses its body with (found in its module by name use)."""
    target = inspect.unwrap(handler)
    match = re.search(r"parse\(request, (\w+)\)", _source(handler))
    if not match:
        return None
    model = getattr(inspect.getmodule(target), match.group(1), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inline(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s schema, the models it nests moved to components/schemas."""
    schema = model.model_json_schema(ref_template=REF)
    for name, nested in schema.pop("$defs", {}).items():
        schemas.setdefault(name, nested)
    return schema


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A $ref to ``model`` in components/schemas, with the models it nests."""
    schemas.setdefault(model.__name__, _inline(model, schemas))
    return {"$ref": REF.format(model=model.__name__)}


def _statuses(method: str, path: str, handler: Any, has_body: bool) -> tuple[str, set[str]]:
    """(the success status, the error statuses) of one route."""
    source = _source(handler)
    success = "201" if "status=201" in source else "202" if "status=202" in source else "200"
    errors = {m for m in re.findall(r"error\(\s*(4\d\d|503)", source)}
    if getattr(handler, "roles", None):
        errors |= {"401", "403"}
    if has_body or "read_json(" in source or method in ("POST", "PUT", "PATCH"):
        errors |= {"400", "413"}
    if "{" in path:
        errors.add("404")
    if "run(" in source:  # an action: ActionError carries 400, 404 or 409
        errors |= {"400", "404", "409"}
    if path == "/api/v1/auth/login":
        errors |= {"401", "429"}
    errors.add("503")  # storage unavailable, on any route
    return success, errors


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
        success_schema: dict[str, Any] = {"type": "object"}
        if operation_id in RESPONSE_MODELS:
            key, answer, many = RESPONSE_MODELS[operation_id]
            ref = _schema(answer, schemas)
            one = {"type": "array", "items": ref} if many else ref
            success_schema = (
                {"type": "object", "required": [key], "properties": {key: one}} if key else one
            )
        responses: dict[str, Any] = {
            success: {
                "description": DESCRIPTIONS[success],
                "content": {"application/json": {"schema": success_schema}},
            }
        }
        for status in sorted(errors):
            responses[status] = {
                "description": DESCRIPTIONS.get(status, "Error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        op: dict[str, Any] = {
            "summary": (inspect.getdoc(inspect.unwrap(handler)) or handler.__name__).split("\n")[0],
            "operationId": operation_id,
            "responses": responses,
        }
        roles = getattr(handler, "roles", None)
        if roles:
            op["x-roles"] = [r.value for r in roles]
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
