"""How a benchmark client authenticates an agent WebSocket: the token travels in a header
(``Authorization: Bearer``), never in the URL (which access logs and proxies write down). The
socket lists keep ``...?token=`` URLs for brevity; this splits them at connect time."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def agent_socket(url: str) -> tuple[str, dict[str, str]]:
    """``(url without its token, headers carrying it)``; other URLs pass unchanged."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    token = next((v for k, v in query if k == "token"), "")
    if not token:
        return url, {}
    rest = urlencode([(k, v) for k, v in query if k != "token"])
    return urlunsplit(parts._replace(query=rest)), {"Authorization": f"Bearer {token}"}
