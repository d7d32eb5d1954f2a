"""The OpenAPI document of /api/v1, built from the registered routes and their body models."""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel


def _body_model(handler: Any) -> type[BaseModel] | None:
    """The pydantic model a handler parses its body with (found in its module by name use)."""
    target = inspect.unwrap(handler)
    source = inspect.getsource(target)
    match = re.search(r"parse\(request, (\w+)\)", source)
    if not match:
        return None
    model = getattr(inspect.getmodule(target), match.group(1), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/v1") or route.method == "HEAD":
            continue
        handler = route.handler
        op: dict[str, Any] = {
            "summary": (inspect.getdoc(inspect.unwrap(handler)) or handler.__name__).split("\n")[0],
            "operationId": f"{route.method.lower()}_{handler.__name__}",
            "responses": {
                "200": {"description": "OK"},
                "401": {"description": "No token"},
                "403": {"description": "Role may not"},
            },
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
        model = _body_model(handler)
        if model is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": model.model_json_schema()}},
            }
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Customer-service gateway API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
