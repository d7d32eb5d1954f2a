"""A TCP proxy between the browser and the gateway, to break the network on purpose: cut every
connection (``cut``, with new ones refused until ``heal``), or keep connections open but drop
every byte both ways (``blackhole``: a connection that died silently, as behind a NAT)."""

from __future__ import annotations

import asyncio
import contextlib
import socket


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NetProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._real_port = target_port
        self.blackhole = False
        self._conns: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> NetProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def cut(self) -> None:
        """Drop every connection; new ones are refused until ``heal``."""
        self.target_port = unused_port()
        for pair in self._conns:
            for writer in pair:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        self._conns = []

    def heal(self) -> None:
        self.target_port = self._real_port
        self.blackhole = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.blackhole:
                    continue
                writer.write(data)
                await writer.drain()
        except Exception:  # either side going away ends the pipe
            pass
        finally:
            if not self.blackhole:
                with contextlib.suppress(Exception):
                    writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self._conns.append((client_w, up_w))
        await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))
