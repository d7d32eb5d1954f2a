"""Is the From address real? Read the Authentication-Results our own receiving server wrote.

RFC 8601: the receiving server (MX) checks SPF, DKIM and DMARC and writes the outcome in an
``Authentication-Results`` header at the top of the message, led by its authserv-id (its host
name): ``mx.google.com; dkim=pass header.i=@example.com; spf=pass smtp.mailfrom=a@example.com;
dmarc=pass (p=REJECT) header.from=example.com``. Anyone can write such a header into the mail
they send, so only the servers the channel names in ``auth_servers`` are believed:

- headers are read top-down (each server adds its own above what it received); headers of
  other servers are skipped, whatever they say;
- the first header of a trusted server counts, with the headers right below it that carry the
  same authserv-id (a server running several checkers writes one header each); the first other
  header ends that run, since everything below it may have come with the mail;
- Microsoft 365 writes its header without an authserv-id (``spf=pass (sender IP is ...)
  smtp.mailfrom=...;dkim=pass ...;dmarc=pass action=none header.from=...;compauth=pass``), and
  always as the top one. Such a header is attributed to the host that passed the mail on, the
  ``from`` host of the ``Received`` header just above it (written by Microsoft's next hop), and
  only when it is the first ``Authentication-Results`` of the message.

The verdict (DMARC's rules, RFC 7489, with relaxed alignment): *verified* when DMARC passed for
the From domain; or, with no DMARC result (no record: ``none``, Microsoft's ``bestguesspass``,
an error), when a DKIM signature passed for a domain aligned with the From domain, or SPF passed
for an aligned envelope domain. Otherwise *unverified*, with the reason: ``fail`` (a check
failed), ``none`` (nothing passed for the From domain), ``no trusted header``. With no trusted
server configured the sender is *unknown*: taken on trust, never called verified.

Alignment is relaxed and decided without a public-suffix list: the same domain, or one a
subdomain of the other (``mail.example.com`` and ``example.com``); a bare top-level domain
never aligns. Whoever signs for, or sends for, a parent or child domain controls its DNS.

The parser is written here, not taken from a library: Microsoft's header has no authserv-id
and uses ``action=none``, which strict RFC 8601 parsers (``authres``) refuse, and a refused
header must not turn a real customer into an unverified one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VERIFIED = "verified"
UNVERIFIED = "unverified"
UNKNOWN = "unknown"
# Reasons of an unverified sender.
FAIL = "fail"
NONE = "none"
NO_HEADER = "no trusted header"
_FAILED = {"fail", "softfail", "permerror", "policy", "hardfail"}
_MAX_HEADERS = 50  # Authentication-Results headers looked at; a mail with more is hostile
_MAX_VALUE = 8192


@dataclass(frozen=True)
class AuthResult:
    method: str  # spf, dkim, dmarc, ...
    result: str  # pass, fail, none, ...
    props: dict[str, str] = field(default_factory=dict)  # "header.d" -> "example.com"


@dataclass(frozen=True)
class AuthHeader:
    authserv_id: str | None  # None: Microsoft's form, without one
    results: list[AuthResult]


@dataclass(frozen=True)
class SenderAuth:
    status: str  # verified, unverified, unknown
    reason: str | None = None  # unverified: fail, none, no trusted header
    method: str | None = None  # verified: dmarc, dkim or spf
    domain: str | None = None  # the From domain
    server: str | None = None  # the trusted server whose header was read
    detail: str = ""  # for the agent, e.g. "DMARC fail for example.com"

    def as_meta(self) -> dict[str, Any]:
        meta = {"status": self.status, "reason": self.reason, "method": self.method,
                "domain": self.domain, "server": self.server, "detail": self.detail}  # fmt: skip
        return {k: v for k, v in meta.items() if v not in (None, "")}


# --- parsing -------------------------------------------------------------------------------
def _strip_comments(value: str) -> str:
    """Drop (nested) comments, outside quoted strings."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            out.append(ch)
            if ch == '"':
                quoted = False
            continue
        if ch == "(":
            depth += 1
            continue
        if ch == ")" and depth:
            depth -= 1
            out.append(" ")
            continue
        if depth == 0:
            if ch == '"':
                quoted = True
            out.append(ch)
    return "".join(out)


def _split(value: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings."""
    parts, current, quoted = [], [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


_EQUALS = re.compile(r"\s*=\s*")
_TOKEN = re.compile(r'[^\s"=]+="(?:[^"\\]|\\.)*"|\S+')


def _pairs(segment: str) -> list[tuple[str, str]]:
    segment = _EQUALS.sub("=", segment.strip())
    pairs = []
    for token in _TOKEN.findall(segment):
        key, eq, value = token.partition("=")
        if not eq:
            pairs.append((token.lower(), ""))
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        pairs.append((key.lower(), value))
    return pairs


def parse_header(value: str) -> AuthHeader | None:
    """One Authentication-Results value; None when it says nothing readable."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value[:_MAX_VALUE])
    segments = _split(_strip_comments(value), ";")
    if not segments or not segments[0].strip():
        return None
    first = _pairs(segments[0])
    if not first:
        return None
    authserv_id: str | None = None
    if first[0][1] == "":
        authserv_id = first[0][0].rstrip(".")
        rest = segments[1:]  # a version number or Yahoo's key=values after it: ignored
    else:
        rest = segments  # Microsoft: no authserv-id, the first segment is a result
    results = []
    for segment in rest:
        pairs = _pairs(segment)
        if not pairs or not pairs[0][1]:
            continue  # "none", or noise
        method, result = pairs[0]
        props = {}
        for key, val in pairs[1:]:
            if val and key not in props:
                props[key] = val
        results.append(AuthResult(method.split("/", 1)[0], result.lower(), props))
    return AuthHeader(authserv_id, results)


_RECEIVED_FROM = re.compile(r"^\s*from\s+([^\s();]+)", re.IGNORECASE)


def received_from_host(received: str | None) -> str | None:
    """The ``from`` host of a Received header value."""
    if not received:
        return None
    match = _RECEIVED_FROM.match(received)
    return match.group(1).lower().rstrip(".") if match else None


# --- trust ---------------------------------------------------------------------------------
def server_matches(name: str | None, patterns: list[str]) -> bool:
    """``mx.google.com`` matches itself; ``*.prod.outlook.com`` any host under it."""
    if not name:
        return False
    name = name.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def trusted_results(
    fields: list[tuple[str, str | None]], servers: list[str]
) -> tuple[str, list[AuthResult]] | None:
    """(server, results) of the trusted headers, or None. ``fields``: each
    Authentication-Results value, top first, with the nearest Received value above it."""
    chosen: str | None = None
    results: list[AuthResult] = []
    for index, (value, received_above) in enumerate(fields[:_MAX_HEADERS]):
        header = parse_header(value)
        writer = header.authserv_id if header is not None else None
        if chosen is not None:  # the run of the chosen server's headers ends at any other
            if header is None or writer != chosen:
                break
            results.extend(header.results)
            continue
        if header is None:
            continue
        if writer is None:
            # Microsoft's form: believed only as the topmost header, from the host above it.
            host = received_from_host(received_above)
            if index == 0 and host and server_matches(host, servers):
                return host, header.results
            continue
        if server_matches(writer, servers):
            chosen = writer
            results.extend(header.results)
    return (chosen, results) if chosen is not None else None


# --- the verdict ---------------------------------------------------------------------------
def _domain(value: str | None) -> str:
    if not value:
        return ""
    value = value.strip().strip("<>").rstrip(".").lower()
    return value.rpartition("@")[2]


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list (see the module's doc)."""
    if not domain or not from_domain or "." not in domain or "." not in from_domain:
        return False
    return (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def _dkim_domain(result: AuthResult) -> str:
    return _domain(result.props.get("header.d") or result.props.get("header.i"))


def verdict(
    from_addr: str | None,
    fields: list[tuple[str, str | None]],
    servers: list[str],
) -> SenderAuth:
    from_domain = _domain(from_addr) if from_addr and "@" in from_addr else ""
    if not servers:
        detail = "no trusted receiving server is configured (auth_servers)"
        return SenderAuth(UNKNOWN, domain=from_domain or None, detail=detail)
    found = trusted_results(fields, servers)
    if found is None:
        names = ", ".join(servers[:3])
        return SenderAuth(UNVERIFIED, NO_HEADER, domain=from_domain or None,
                          detail=f"no Authentication-Results from {names}")  # fmt: skip
    server, results = found
    if not from_domain:
        return SenderAuth(UNVERIFIED, NONE, server=server, detail="no From address to check")
    by_method: dict[str, list[AuthResult]] = {}
    for result in results:
        by_method.setdefault(result.method, []).append(result)

    def verified(method: str) -> SenderAuth:
        return SenderAuth(VERIFIED, None, method, from_domain, server,
                          f"{method.upper()} pass for {from_domain}")  # fmt: skip

    dmarc = [r for r in by_method.get("dmarc", []) if
             _domain(r.props.get("header.from")) in ("", from_domain)]  # fmt: skip
    if dmarc:
        if dmarc[0].result == "pass":
            return verified("dmarc")
        if dmarc[0].result in _FAILED:
            return SenderAuth(UNVERIFIED, FAIL, None, from_domain, server,
                              f"DMARC {dmarc[0].result} for {from_domain}")  # fmt: skip
    # No DMARC result (no record, Microsoft's bestguesspass, an error): DKIM or SPF, aligned.
    for r in by_method.get("dkim", []):
        if r.result == "pass" and aligned(_dkim_domain(r), from_domain):
            return verified("dkim")
    for r in by_method.get("spf", []):
        if r.result == "pass" and aligned(_domain(r.props.get("smtp.mailfrom")), from_domain):
            return verified("spf")
    seen = []
    failed = False
    for method in ("dmarc", "dkim", "spf"):
        for r in by_method.get(method, [])[:3]:
            other = _dkim_domain(r) if method == "dkim" else (
                _domain(r.props.get("smtp.mailfrom")) if method == "spf" else "")  # fmt: skip
            note = f" ({other}, not {from_domain})" if r.result == "pass" and other else ""
            seen.append(f"{method.upper()} {r.result}{note}")
            failed = failed or r.result in _FAILED
    detail = ", ".join(seen) if seen else "no SPF, DKIM or DMARC result"
    return SenderAuth(UNVERIFIED, FAIL if failed else NONE, None, from_domain, server, detail)
