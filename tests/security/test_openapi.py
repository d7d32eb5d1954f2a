"""The OpenAPI document is one a generated client can use: it validates (openapi-spec-validator),
every $ref resolves, each route documents the status codes it answers with the error schema,
and every route's success answer has a real schema in components/schemas (that each handler's
actual body matches it: test_openapi_responses.py)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from tests.conftest import Harness


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


async def test_openapi_document_validates(gateway: Harness):
    resp = await gateway.client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)  # raises on an invalid document
    refs = _refs(doc)
    assert refs and not [r for r in refs if "$defs" in r]
    for ref in set(refs):
        _resolve(doc, ref)

    paths = doc["paths"]
    login = paths["/api/v1/auth/login"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(login)
    created = paths["/api/v1/users"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409"} <= set(created)
    assert "200" not in created
    user_schema = created["201"]["content"]["application/json"]["schema"]
    user_answer = _resolve(doc, user_schema["$ref"])
    assert _resolve(doc, user_answer["properties"]["user"]["$ref"])["properties"]["email"]
    channel = paths["/api/v1/channels/{id}"]
    assert {"200", "401", "403", "404"} <= set(channel["get"]["responses"])
    assert {"400", "404", "413"} <= set(channel["patch"]["responses"])
    accept = paths["/api/v1/conversations/{id}/accept"]["post"]["responses"]
    assert "409" in accept
    error = created["409"]["content"]["application/json"]["schema"]
    assert _resolve(doc, error["$ref"])["properties"]["error"]["required"] == ["code", "message"]
    settings = paths["/api/v1/reports/settings"]["put"]
    body = settings["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["followup_seconds"]
    without_schema = []
    for path, methods in paths.items():
        for method, op in methods.items():
            statuses = set(op["responses"])
            if "{" in path:
                assert "404" in statuses, (method, path)
            if path == "/api/v1/ws":  # a WebSocket: 101, no body
                assert {"101", "401"} <= statuses, statuses
                continue
            (success,) = statuses & {"200", "201", "202"}
            content = op["responses"][success]["content"]
            if "application/json" not in content:  # a file
                assert content and all(c.startswith("text/") for c in content), (path, content)
                continue
            schema = content["application/json"]["schema"]
            if set(schema) != {"$ref"}:
                without_schema.append(f"{method.upper()} {path}")
                continue
            target = _resolve(doc, schema["$ref"])
            assert target.get("properties"), (method, path, target)
            if "requestBody" in op:
                assert "408" in statuses, (method, path)
    assert not without_schema, (
        f"routes without a response schema: {without_schema}; name their answer's model in "
        "RESPONSES (gateway/api/schemas.py, or a RESPONSES dict in the route's own module)"
    )
    conversation = _resolve(doc, "#/components/schemas/ConversationDetail")
    assert set(conversation["required"]) >= {"conversation", "contact", "history", "channel"}
    secrets = _resolve(doc, "#/components/schemas/ChannelOut")["properties"]["config"]
    assert "secret" in secrets["propertyNames"]["not"]["enum"]
    summary = paths["/api/v1/reports/summary"]["get"]["responses"]["200"]["content"]
    assert set(summary) == {"application/json", "text/csv"}
