"""A TCP proxy in front of a server (IMAP, Redis) whose connections go silent: at a given
command (swallowed), or all those open at a given moment. Nothing more passes either way and the
connection stays open. That is a half-open connection (a NAT dropped it, a hung server) as the
client sees it: no answer, no close. Connections opened later pass normally.

With ``trickle_seconds``, a triggered connection is not silenced but slowed: from then on the
server's bytes reach the client TRICKLE_BYTES at a time, that many seconds apart (a server or a
link that trickles its answer, each piece well within the client's idle timeout); ``times``
bounds how many connections are triggered."""

from __future__ import annotations

import asyncio

TRICKLE_BYTES = 64


class SilentProxy:
    def __init__(
        self,
        upstream: int | str,
        trigger: bytes | None = None,
        *,
        trickle_seconds: float = 0.0,
        times: int | None = None,
    ) -> None:
        self.upstream = upstream  # a TCP port on 127.0.0.1, or a Unix socket's path
        self.trigger = trigger  # a client line containing this (upper case) silences it
        self.trickle_seconds = trickle_seconds
        self.times = times
        self.silenced = 0  # connections silenced (or slowed) so far
        self.connections = 0
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

    def _triggers(self, line: bytes) -> bool:
        if not self.trigger or self.trigger not in line.upper():
            return False
        return self.times is None or self.silenced < self.times

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
        self.connections += 1
        silent, slow = asyncio.Event(), asyncio.Event()
        self._open.append(silent)
        triggered = slow if self.trickle_seconds else silent

        async def client_to_server() -> None:
            try:
                while line := await creader.readline():
                    if self._triggers(line) and not triggered.is_set():
                        self.silenced += 1
                        triggered.set()
                    if not silent.is_set():
                        swriter.write(line)
                        await swriter.drain()
            finally:  # the client left: so does the server side
                swriter.close()

        async def server_to_client() -> None:
            try:
                while data := await sreader.read(65536):
                    if silent.is_set():
                        continue
                    if not slow.is_set():
                        cwriter.write(data)
                        await cwriter.drain()
                        continue
                    for at in range(0, len(data), TRICKLE_BYTES):
                        cwriter.write(data[at : at + TRICKLE_BYTES])
                        await cwriter.drain()
                        await asyncio.sleep(self.trickle_seconds)
            finally:
                cwriter.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)
