"""A TCP proxy in front of a server (IMAP, Redis) whose connections go silent: at a given
command (swallowed), or all those open at a given moment. Nothing more passes either way and the
connection stays open. That is a half-open connection (a NAT dropped it, a hung server) as the
client sees it: no answer, no close. Connections opened later pass normally."""

from __future__ import annotations

import asyncio


class SilentProxy:
    def __init__(self, upstream: int | str, trigger: bytes | None = None) -> None:
        self.upstream = upstream  # a TCP port on 127.0.0.1, or a Unix socket's path
        self.trigger = trigger  # a client line containing this (upper case) silences it
        self.silenced = 0  # connections silenced so far
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._open: list[asyncio.Event] = []

    def silence_open(self) -> None:
        """Every connection open now goes silent."""
        for silent in self._open:
            if not silent.is_set():
                self.silenced += 1
                silent.set()

    async def __aenter__(self) -> SilentProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # the silent connections too, or their tasks linger
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        if isinstance(self.upstream, int):
            sreader, swriter = await asyncio.open_connection("127.0.0.1", self.upstream)
        else:
            sreader, swriter = await asyncio.open_unix_connection(self.upstream)
        self._writers += [cwriter, swriter]
        silent = asyncio.Event()
        self._open.append(silent)

        async def client_to_server() -> None:
            try:
                while line := await creader.readline():
                    if not silent.is_set() and self.trigger and self.trigger in line.upper():
                        self.silenced += 1
                        silent.set()
                    if not silent.is_set():
                        swriter.write(line)
                        await swriter.drain()
            finally:  # the client left: so does the server side
                swriter.close()

        async def server_to_client() -> None:
            try:
                while data := await sreader.read(65536):
                    if not silent.is_set():
                        cwriter.write(data)
                        await cwriter.drain()
            finally:
                cwriter.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)
