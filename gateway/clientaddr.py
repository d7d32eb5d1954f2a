"""The client's address behind reverse proxies, for login limits and the web chat's per-IP
limits: one rule for the whole gateway.

``X-Forwarded-For`` is believed only as far as it was written by proxies we trust (setting
``trusted_proxies``: IPs and CIDRs). Walking it from the right, each hop that is a trusted proxy
is passed over; the first that is not is the client. The left-most entries are whatever the
client sent, so they are never taken on their own; and when the peer itself is not a trusted
proxy the header is ignored entirely (anyone can send it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from aiohttp import web

from gateway.appkeys import GATEWAY

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=64)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``trusted_proxies`` entries ("10.0.0.0/8", "192.0.2.7", "::1") as networks."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _ip(text: str) -> Address | None:
    """An address as proxies write it: bare, ``[v6]`` or ``[v6]:port``, ``v4:port``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Address | None, trusted: Iterable[Network]) -> bool:
    return ip is not None and any(ip.version == n.version and ip in n for n in trusted)


def client_address(remote: str | None, forwarded_for: str, trusted: tuple[str, ...]) -> str:
    """The client's address: ``remote`` (the TCP peer) unless it is a trusted proxy, then the
    right-most ``forwarded_for`` entry that is not a trusted proxy (the left-most entry when
    every hop is trusted)."""
    peer = remote or "?"
    nets = networks(trusted)
    if not nets or not _trusted(_ip(peer), nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if not _trusted(ip, nets):
            # No address: kept as text, but bytes that were no UTF-8 (surrogates here) as "?",
            # or the Redis keys it names (rate limits) could not be encoded.
            return str(ip) if ip is not None else hop[:64].encode(errors="replace").decode()
    return str(_ip(hops[0])) if hops else peer


def request_address(request: web.Request, *, trust_peer: bool = False) -> str:
    """The client's address of a request, by the gateway's ``trusted_proxies``. ``trust_peer``
    (the web chat's legacy ``trust_forwarded_for``) trusts the TCP peer as the one proxy when no
    ``trusted_proxies`` are configured."""
    gateway = request.app.get(GATEWAY)  # absent when an adapter is served on its own (tests)
    trusted = tuple(gateway.settings.trusted_proxies) if gateway is not None else ()
    peer = _ip(request.remote or "")
    if not trusted and trust_peer and peer is not None:
        trusted = (str(peer),)
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    return client_address(request.remote, forwarded, trusted)
