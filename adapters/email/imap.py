"""A small IMAP client over aioimaplib: connect (SSL, STARTTLS or plain), select, search,
fetch, IDLE. Responses are parsed here so the poller deals in UIDs and bytes only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aioimaplib
from aioimaplib import Command

from adapters.email.config import EmailConfig
from adapters.oauth2 import TokenError, TokenSource, with_fresh_token


class ImapError(Exception):
    pass


class ImapAuthError(ImapError):
    pass


class ConnectionLost(ImapError):
    pass


@dataclass(frozen=True)
class MailInfo:
    size: int  # RFC822.SIZE
    arrived: float | None  # INTERNALDATE (epoch seconds): when the server took the message


@dataclass(frozen=True)
class MailboxStatus:
    uidvalidity: int
    uidnext: int | None
    exists: int


_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(  # "17-Jul-1996 02:44:25 -0700", the day may be space-padded
    rb'INTERNALDATE " ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_MONTHS = [m.encode() for m in "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()]
_LITERAL_ITEM = re.compile(rb"(BODY\[[^\]]*\](?:<\d+>)?) \{(\d+)\}$")


# aioimaplib's timeout restarts with every line or piece of a literal the server sends, so a
# server (or a link) that trickles its answer holds a command for ever. A whole answer is bounded
# too: timeout_seconds plus its size at this rate (a 25 MB mail: 26 minutes), then the
# connection counts as lost and the poller reconnects.
SLOWEST_BYTES_PER_SECOND = 16 * 1024
# What a FETCH of sizes and dates answers per message, generously.
_INFO_BYTES = 256
_HEADER_BYTES = 64 * 1024

_CLIENT_ID = '("name" "cs-gateway" "version" "0.1" "vendor" "cs-gateway")'


def tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:  # self-hosted servers with private certificates; the admin's choice
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = _utf7_imap(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7_imap(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


class ImapConnection:
    def __init__(self, config: EmailConfig, token: TokenSource | None = None) -> None:
        self.config = config
        self.token = token  # OAuth 2.0 (XOAUTH2) instead of the password
        self.timeout = config.timeout_seconds
        self.lost = asyncio.Event()
        self.client: aioimaplib.IMAP4 | None = None
        self.identified = False  # the server accepted our ID

    # --- connection ------------------------------------------------------------------------
    async def open(self) -> None:
        cfg = self.config
        if self.token is None:
            client = await self._connect()
            response = await client.login(aioimaplib.quoted(cfg.imap_user), cfg.imap_password)
            if response.result != "OK":
                raise ImapAuthError(f"IMAP login rejected: {_text(response)}")
        else:
            client = await self._xoauth2()
        # Servers announce more (IDLE, MOVE) once authenticated.
        await asyncio.wait_for(client.protocol.capability(), self.timeout)
        await self._identify()

    async def _connect(self) -> aioimaplib.IMAP4:
        cfg = self.config
        context = tls_context(cfg.tls_verify) if cfg.imap_security == "ssl" else None
        # Per connection: a refused first attempt's late "lost" must not mark the second lost.
        lost = self.lost = asyncio.Event()
        self.client = aioimaplib.IMAP4(
            host=cfg.imap_host,
            port=cfg.imap_port_effective,
            timeout=self.timeout,
            conn_lost_cb=lambda exc: lost.set(),
            ssl_context=context,
        )
        await self.client.wait_hello_from_server()
        if cfg.imap_security == "starttls":
            await self._starttls()
        return self.client

    async def _xoauth2(self) -> aioimaplib.IMAP4:
        """AUTHENTICATE XOAUTH2. A refused token (revoked, expired early) is renewed and tried
        once more on a new connection: after a failure Gmail waits for a reply to its error
        challenge that aioimaplib does not send, so that attempt ends in a timeout instead."""
        assert self.token is not None

        async def sign_in(token: str) -> aioimaplib.IMAP4:
            client = await self._connect()
            try:
                response = await client.xoauth2(self.config.imap_user, token)
            except TimeoutError:
                reason = "no answer to AUTHENTICATE XOAUTH2"
            else:
                if response.result == "OK":
                    return client
                reason = _text(response)
            await self.close()
            raise ImapAuthError(f"IMAP refused the OAuth 2.0 token: {reason}")

        try:
            return await with_fresh_token(
                self.token, sign_in, lambda exc: isinstance(exc, ImapAuthError)
            )
        except TokenError as exc:
            raise ImapAuthError(f"OAuth 2.0: {exc.reason}") from None

    async def _identify(self) -> None:
        """RFC 2971 ID: NetEase (163/126/yeah.net) refuses SELECT ("Unsafe Login") without it.
        aioimaplib's own id() sends a form NetEase rejects, hence the plain command."""
        assert self.client is not None
        protocol = self.client.protocol
        if "ID" not in protocol.capabilities:
            return
        command = Command("ID", protocol.new_tag(), _CLIENT_ID, loop=protocol.loop)
        with contextlib.suppress(aioimaplib.AioImapException, TimeoutError):
            response = await asyncio.wait_for(protocol.execute(command), self.timeout)
            self.identified = response.result == "OK"

    async def _starttls(self) -> None:
        assert self.client is not None
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the IMAP server does not offer STARTTLS")
        command = Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self.timeout)
        if response.result != "OK":
            raise ImapError(f"STARTTLS refused: {_text(response)}")
        loop = asyncio.get_running_loop()
        protocol.transport = await asyncio.wait_for(
            loop.start_tls(
                protocol.transport,
                protocol,
                tls_context(self.config.tls_verify),
                server_hostname=self.config.imap_host,
            ),
            self.timeout,
        )
        await asyncio.wait_for(protocol.capability(), self.timeout)

    @property
    def supports_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            idle = client.protocol.pending_sync_command is not None  # IDLE or an interrupted FETCH
            usable = client.protocol.state in (aioimaplib.AUTH, aioimaplib.SELECTED)
            if usable and not idle and not self.lost.is_set():
                await asyncio.wait_for(client.logout(), 2)
        with contextlib.suppress(Exception):
            if client.protocol.transport is not None:
                client.protocol.transport.close()
        for task in list(client.tasks):  # an IDLE the server never took would wait forever
            task.cancel()

    def _silent(self, command: str, seconds: float | None = None) -> ConnectionLost:
        self.lost.set()  # as good as closed: close() sends no LOGOUT into it
        return ConnectionLost(f"no answer to {command} within {seconds or self.timeout:g} s")

    async def _answer(
        self, pending: Awaitable[aioimaplib.Response], command: str, size: int = 0
    ) -> aioimaplib.Response:
        """The whole answer to ``command`` (about ``size`` bytes), in time. Unanswered, the
        command stays pending in aioimaplib and would hold up the next: the connection is lost."""
        seconds = self.timeout + size / SLOWEST_BYTES_PER_SECOND
        try:
            response = await asyncio.wait_for(pending, seconds)
        except TimeoutError:
            raise self._silent(command, seconds) from None
        return self._check(response, command)

    async def _fetch(self, spec: str, parts: str, size: int) -> aioimaplib.Response:
        assert self.client is not None
        return await self._answer(self.client.uid("fetch", spec, parts), "FETCH", size)

    def _check(self, response: aioimaplib.Response, what: str) -> aioimaplib.Response:
        if self.lost.is_set():
            raise ConnectionLost("the IMAP connection was closed")
        if response.result != "OK":
            raise ImapError(f"{what} failed: {_text(response)}")
        return response

    # --- commands --------------------------------------------------------------------------
    async def select(self, folder: str) -> MailboxStatus:
        assert self.client is not None
        response = self._check(await self.client.select(quote_mailbox(folder)), "SELECT")
        validity: int | None = None
        uidnext: int | None = None
        exists = 0
        for line in response.lines:
            if isinstance(line, bytes | bytearray):
                if m := _UIDVALIDITY.search(line):
                    validity = int(m.group(1))
                if m := _UIDNEXT.search(line):
                    uidnext = int(m.group(1))
                if m := _EXISTS.match(line):
                    exists = int(m.group(1))
        if validity is None:
            raise ImapError("the IMAP server sent no UIDVALIDITY")
        return MailboxStatus(validity, uidnext, exists)

    async def search(self, *criteria: str) -> list[int]:
        assert self.client is not None
        protocol = self.client.protocol
        response = await asyncio.wait_for(
            protocol.search(*criteria, charset=None, by_uid=True), self.timeout
        )
        self._check(response, "UID SEARCH")
        uids: list[int] = []
        for line in response.lines[:-1]:
            if isinstance(line, bytes | bytearray):
                uids.extend(int(x) for x in line.split() if x.isdigit())
        return sorted(set(uids))

    async def infos(self, uids: list[int]) -> dict[int, MailInfo]:
        """UID -> size and arrival time of the messages that still exist."""
        assert self.client is not None
        if not uids:
            return {}
        spec = ",".join(str(u) for u in uids)
        response = await self._fetch(
            spec, "(UID RFC822.SIZE INTERNALDATE)", len(uids) * _INFO_BYTES
        )
        out: dict[int, MailInfo] = {}
        for line in response.lines:
            if isinstance(line, bytes) and (uid := _UID.search(line)):
                size = _SIZE.search(line)
                out[int(uid.group(1))] = MailInfo(
                    int(size.group(1)) if size else 0, parse_internaldate(line)
                )
        return out

    async def fetch(self, uid: int, size: int) -> bytes | None:
        """The whole message (``size``: its RFC822.SIZE), or None if it is gone."""
        items = await self._fetch_items(uid, "(UID BODY.PEEK[])", size)
        return items.get(b"BODY[]")

    async def fetch_head(self, uid: int, text_bytes: int) -> bytes | None:
        """The header and the first ``text_bytes`` of the body: for mail over the size limit."""
        items = await self._fetch_items(
            uid, f"(UID BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.{text_bytes}>)",
            _HEADER_BYTES + text_bytes,
        )  # fmt: skip
        header = items.get(b"BODY[HEADER]")
        if header is None:
            return None
        return header + items.get(b"BODY[TEXT]<0>", b"")

    async def _fetch_items(self, uid: int, parts: str, size: int) -> dict[bytes, bytes]:
        response = await self._fetch(str(uid), parts, size)
        items: dict[bytes, bytes] = {}
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and (m := _LITERAL_ITEM.search(line)):
                literal = lines[i + 1]
                if isinstance(literal, bytearray | bytes):
                    items[m.group(1)] = bytes(literal)
        return items

    async def mark_seen(self, uid: int) -> None:
        assert self.client is not None
        # aioimaplib has no timeout for STORE. No answer means a dead connection: reconnect.
        # The poller saved the UID before, so the message is not read again; it only stays
        # unflagged.
        store = self.client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)")
        await self._answer(store, "STORE")

    async def noop(self) -> None:
        assert self.client is not None
        self._check(await self.client.noop(), "NOOP")

    async def idle(self, seconds: float) -> list[bytes]:
        """IDLE until the server reports a change or ``timeout`` passes (then re-IDLE: servers
        drop idle clients after 30 minutes). Returns what the server pushed."""
        timeout = seconds
        assert self.client is not None
        client = self.client
        queue = client.protocol.idle_queue
        while not queue.empty():  # leftovers of an earlier IDLE
            queue.get_nowait()
        try:  # aioimaplib waits for the server's "+ idling" without a timeout
            idle_task = await asyncio.wait_for(client.idle_start(timeout=timeout), self.timeout)
        except TimeoutError:
            raise self._silent("IDLE") from None
        push_task = asyncio.ensure_future(client.wait_server_push(timeout=timeout + 10))
        lost_task = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({push_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push_task, lost_task):
                if not task.done():
                    task.cancel()
        if self.lost.is_set():
            raise ConnectionLost("the IMAP connection was closed during IDLE")
        pushed: list[bytes] = []
        if not push_task.cancelled() and push_task.exception() is None:
            result = push_task.result()
            if result != aioimaplib.STOP_WAIT_SERVER_PUSH:
                pushed = [bytes(x) for x in result if isinstance(x, bytes | bytearray)]
        client.idle_done()
        try:
            response = await asyncio.wait_for(idle_task, self.timeout)
        except TimeoutError:
            raise self._silent("IDLE DONE") from None
        self._check(response, "IDLE")
        return pushed


def parse_internaldate(line: bytes) -> float | None:
    """The INTERNALDATE of a FETCH line as epoch seconds (RFC 3501 date-time), or None."""
    m = _INTERNALDATE.search(line)
    if m is None or m.group(2).title() not in _MONTHS:
        return None
    day, month, year = int(m.group(1)), _MONTHS.index(m.group(2).title()) + 1, int(m.group(3))
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
    try:
        moment = datetime(year, month, day, int(m.group(4)), int(m.group(5)), int(m.group(6)),
                          tzinfo=timezone(offset if m.group(7) == b"+" else -offset))  # fmt: skip
    except ValueError:
        return None
    return moment.timestamp()


def _text(response: aioimaplib.Response) -> str:
    for line in reversed(response.lines):
        if isinstance(line, bytes):
            return line.decode("utf-8", "replace")[:300]
    return response.result
