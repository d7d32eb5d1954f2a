"""Outgoing frames of the agent WebSockets, several written together by one ``send``.

An event fanned out to every agent used to cost one ``send`` system call per socket per event.
Here a socket's frames are queued and written together by one ``transport.write``, each still a
separate WebSocket message, in the order queued (``TurnWriter``): a frame that names the
socket's user (an offer, a message of a conversation the agent holds) is written at the end of
its loop turn with whatever waits before it; a frame only for the socket's role (a new
unassigned conversation's message, for every agent) waits at most ``LINGER`` (20 ms) to share a
write with the next ones. So the frames of one turn to one socket are one write, and a steady
stream of new conversations costs each agent socket a write per 20 ms instead of one per
conversation.

The frames are built here (FIN + text opcode, server side: no mask), once per event for all
the sockets it goes to; the socket is made without permessage-deflate (``ws.py``), so
nothing else writes compressed frames in between. A socket whose reader falls behind (frames
queued plus what the transport still holds above ``max_behind`` bytes) is closed with a log
line instead of letting the buffers grow: the console reconnects and replays by seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

# Bytes a socket may have waiting (queued here and in its transport) before it is closed.
MAX_BEHIND = 4 * 1024 * 1024
# How long a frame for a whole role (not naming the socket's user) may wait to share a write.
LINGER = 0.02
# Close code for a socket closed for being behind: "try again later" (the console reconnects).
BEHIND = WSCloseCode.TRY_AGAIN_LATER
_TEXT_FIN = 0x81


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 5.2) carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        header = bytes((_TEXT_FIN, size))
    elif size < 65536:
        header = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return header + payload


class SocketQueue:
    """Frames waiting for one socket until the end of the loop turn."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        on_behind: Callable[[SocketQueue], None],
        max_behind: int = MAX_BEHIND,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.max_behind = max_behind
        self._on_behind = on_behind
        self._frames: list[bytes] = []
        self._size = 0
        self.urgent = False  # holds a frame for the end of this turn (TurnWriter)
        self.dropped = False  # closed for being behind: takes nothing more

    def put(self, frame: bytes) -> bool:
        """Queue one frame (``text_frame``) for this turn's write; True when it is the first."""
        if self.dropped:
            return False
        self._frames.append(frame)
        self._size += len(frame)
        if self._size + self.transport.get_write_buffer_size() > self.max_behind:
            self.drop()
            return False
        return len(self._frames) == 1

    def flush(self) -> None:
        """Write what is queued, as one write (also called before a direct send, for order)."""
        self.urgent = False
        if not self._frames:
            return
        frames, self._frames, self._size = self._frames, [], 0
        if self.ws.closed or self.transport.is_closing():
            return  # closing: nothing may follow the close frame
        self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def drop(self) -> None:
        """Over ``max_behind``: forget the queue and close the socket."""
        if self.dropped:
            return
        self.dropped = True
        behind = self._size + self.transport.get_write_buffer_size()
        self._frames, self._size = [], 0
        self._on_behind(self)
        log.warning(
            "closing an agent WebSocket (%s): %d bytes not yet sent, over the limit of %d; "
            "its reader is too slow or gone (the console reconnects and replays by seq)",
            self.ws.get_extra_info("peername"),
            behind,
            self.max_behind,
        )
        task = asyncio.create_task(self._close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=BEHIND, message=b"too far behind"), 5)
        self.transport.abort()  # what the transport still holds is let go, now


class TurnWriter:
    """Writes the queued frames: a socket that took a frame naming its user (an offer, a reply
    in its conversation) at the end of the turn, by one ``call_soon`` for all such sockets; a
    socket that took only frames for a whole role (a new unassigned conversation's message, for
    every agent) within ``linger`` seconds, by one timer for all such sockets, so that a steady
    stream of such events shares writes. A socket's frames are written in the order queued,
    whichever comes first."""

    def __init__(self, linger: float = LINGER) -> None:
        self.linger = linger
        self._now: list[SocketQueue] = []  # written at the end of this turn
        self._later: list[SocketQueue] = []  # written when the linger timer fires

    def put(self, queue: SocketQueue, frame: bytes, *, named: bool) -> None:
        """``named``: the frame names the socket's user (written at the end of the turn)."""
        first = queue.put(frame)
        if named:
            if not queue.urgent:
                queue.urgent = True
                if not self._now:
                    asyncio.get_running_loop().call_soon(self._write_now)
                self._now.append(queue)
        elif first:
            if not self._later:
                asyncio.get_running_loop().call_later(self.linger, self._write_later)
            self._later.append(queue)

    def _write_now(self) -> None:
        queues, self._now = self._now, []
        for queue in queues:
            queue.flush()

    def _write_later(self) -> None:
        queues, self._later = self._later, []
        for queue in queues:
            queue.flush()


_closing: set[asyncio.Task[None]] = set()
