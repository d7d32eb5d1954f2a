"""HTTP over a raw socket, for requests no HTTP client sends: header values of bytes that are
no UTF-8 (a proxy may pass them on), a header twice, a body exactly as given (chunked or not).
Each request has its own connection; an answer later than ``timeout`` fails the test (a hang).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp.test_utils import TestClient

Header = tuple[str | bytes, str | bytes]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers.get('content-type', '')}: {self.text[:300]!r}"


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def raw_request(
    client: TestClient,
    method: str,
    target: str,
    headers: Sequence[Header] = (),
    body: bytes = b"",
    *,
    chunked: bool = False,
    timeout: float = 10.0,
) -> Answer:
    """``method target`` to the client's server, these headers and this body exactly (sent
    ``chunked``, or with a Content-Length). A 101 (WebSocket accepted) is returned at once and
    the connection dropped."""
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: gateway.test", b"Connection: close"]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        parts = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    elif body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}".encode())
    lines += [as_bytes(name) + b": " + as_bytes(value) for name, value in headers]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        async with asyncio.timeout(timeout):
            try:
                writer.write(request)
                await writer.drain()
            except ConnectionError:
                pass  # answered (413) and closed before reading all of the body
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            answer_headers: dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    name, _, value = line.partition(":")
                    answer_headers[name.strip().lower()] = value.strip()
            status = int(status_line.split()[1])
            if status == 101 or method == "HEAD":
                return Answer(status, answer_headers, b"")
            if "content-length" in answer_headers:
                data = await reader.readexactly(int(answer_headers["content-length"]))
            elif answer_headers.get("transfer-encoding", "").lower() == "chunked":
                data = await _dechunk(reader)
            else:
                data = await reader.read()
            return Answer(status, answer_headers, data)
    except TimeoutError:
        raise AssertionError(f"{method} {target}: no answer within {timeout} s") from None
    finally:
        writer.close()


async def _dechunk(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return out
        out += await reader.readexactly(size)
        await reader.readline()
