"""ingest.lua's packed arguments (gateway/inbox.py): one argument holds many values, each
'<byte length>:<bytes>', because redis-py encodes every argument in Python.

The verdict arguments (ARGV[15] and one per verdict) are mostly the same from message to
message: what depends only on the SLA policy and the classification variants is packed once;
only the deadlines are made per message, as offsets from now when the class's calendar is
always open (then a deadline is now plus a fixed number of milliseconds)."""

from __future__ import annotations

import json
from typing import Any

from gateway.classify import Variants
from router.sla import SlaPolicy

# The script picks a verdict by a map of one character per variant (64 + verdict number):
# more distinct verdicts than this and Python classifies after the script read the facts.
MAX_VERDICTS = 62
# Variants packed at most (they are few: one per distinct set of rule answers); beyond, the
# cache starts again.
MAX_CACHED = 4096


def pack(values: list[Any]) -> bytes:
    """Values as one script argument: each '<byte length>:<bytes>' (ingest.lua unpacks it)."""
    parts = []
    for value in values:
        data = str(value).encode()
        parts.append(b"%d:%s" % (len(data), data))
    return b"".join(parts)


def deadlines(sla: SlaPolicy, name: str, channel: str, now: int) -> list[int]:
    """A verdict's deadlines as ingest.lua reads them: first response, next response,
    resolution, then the queue deadlines of the first and the next response."""
    return [
        sla.first_response_due(name, channel, now),
        sla.next_response_due(name, channel, now),
        sla.resolution_due(name, channel, now),
        sla.queue_due("first_response", name, channel, now),
        sla.queue_due("next_response", name, channel, now),
    ]


# A verdict as packed once: its class, and the packed values before and after its deadlines.
_Packed = tuple[str, bytes, bytes]


class VerdictArgs:
    """``args(variants, sla, channel, now)``: ARGV[15] (thresholds, tiers, the variant map,
    the number of verdicts) and, after the fields, one packed argument per verdict (class,
    rank, rule, the five deadlines, team, skills, language)."""

    def __init__(self) -> None:
        self._sla: SlaPolicy | None = None
        # id(variants) -> (variants, ARGV[15], its verdicts or None: too many, Python decides)
        self._packed: dict[int, tuple[Variants, bytes, list[_Packed] | None]] = {}
        # (class, channel) -> offsets of its deadlines from now, None: its calendar has hours
        self._offsets: dict[tuple[str, str], list[int] | None] = {}

    def args(self, variants: Variants, sla: SlaPolicy, channel: str, now: int) -> list[bytes]:
        if sla is not self._sla:  # the admins changed it (or a new copy was loaded)
            self._sla = sla
            self._packed.clear()
            self._offsets.clear()
        entry = self._packed.get(id(variants))
        if entry is None or entry[0] is not variants:
            if len(self._packed) >= MAX_CACHED:
                self._packed.clear()
            entry = self._packed[id(variants)] = (variants, *_pack_variants(variants, sla))
        _variants, lists, verdicts = entry
        if verdicts is None:
            return [lists]
        out = [lists]
        dues: dict[str, bytes] = {}
        for name, head, tail in verdicts:
            if name not in dues:
                dues[name] = pack(self._deadlines(sla, name, channel, now))
            out.append(head + dues[name] + tail)
        return out

    def _deadlines(self, sla: SlaPolicy, name: str, channel: str, now: int) -> list[int]:
        key = (name, channel)
        if key not in self._offsets:
            # Always open: Calendar.add(start, seconds) is start + int(seconds * 1000).
            always = sla.calendar(name, channel).always_open
            self._offsets[key] = deadlines(sla, name, channel, 0) if always else None
        offsets = self._offsets[key]
        if offsets is None:
            return deadlines(sla, name, channel, now)
        return [now + offset for offset in offsets]


def _pack_variants(variants: Variants, sla: SlaPolicy) -> tuple[bytes, list[_Packed] | None]:
    lists = [len(variants.thresholds), *variants.thresholds, len(variants.tiers), *variants.tiers]
    if len(variants.distinct) > MAX_VERDICTS:  # the script answers with the facts instead
        return pack([*lists, "", 0]), None
    variant_map = "".join(chr(64 + n) for n in variants.numbers)
    verdicts = []
    for verdict in variants.distinct:
        name = verdict.class_name
        skills = json.dumps(list(verdict.skills)) if verdict.skills else ""
        head = pack([name, sla.rank(name), verdict.rule or ""])
        tail = pack([verdict.team or "", skills, verdict.language or ""])
        verdicts.append((name, head, tail))
    return pack([*lists, variant_map, len(variants.distinct)]), verdicts
