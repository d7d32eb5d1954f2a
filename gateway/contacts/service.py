"""The contacts service: list, profile, edit, merge and undo (one Lua step each), merge
suggestions from verified claims. Export and erase are in privacy.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from adapters.base import IngestResult
from gateway.contacts.claims import claims_of, split_claim
from gateway.contacts.profile import ContactPatch, contact_view, identities_of
from gateway.conversations import Viewer, conversation_from_hash, may_view
from gateway.ids import new_id
from gateway.keys import Keys
from gateway.media import MediaStore
from gateway.models import InboundMessage, now_ms
from gateway.scripts import decode_flat, load_script
from router.policy_source import PolicySource

ID, ID2 = "\x01", "\x02"  # where ids go in the key templates the scripts get
MAX_CONVERSATIONS = 500  # a profile's conversations listed at most
TIMELINE = 50
_MERGE_ERRORS = {
    "same": (400, "same_contact", "a contact cannot be merged into itself"),
    "no-source": (404, "not_found", "no such contact (source)"),
    "no-target": (404, "not_found", "no such contact (target)"),
    "source-merged": (409, "merged", "the source was already merged into {}"),
    "target-merged": (409, "merged", "the target was merged into {}; merge into that one"),
    "erased": (409, "erased", "an erased contact cannot be merged or unmerged"),
    "no-merge": (404, "not_found", "no such merge"),
    "already": (409, "undone", "this merge was already undone"),
    "conflict": (409, "conflict", "the source is no longer merged into the target"),
}


class ContactsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _raise(outcome: list[str]) -> None:
    status, code, message = _MERGE_ERRORS[outcome[0]]
    raise ContactsError(status, code, message.format(outcome[1] if len(outcome) > 1 else ""))


class Contacts:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        policies: PolicySource,
        media: MediaStore | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        from gateway.contacts.privacy import Privacy  # it raises this module's ContactsError

        self.redis = redis
        self.keys = keys
        self.policies = policies
        self.clock = clock
        self.privacy = Privacy(redis, keys, media, clock)  # export and erase
        self._merge = load_script(redis, __file__, "merge", prelude="_lib")
        self._undo = load_script(redis, __file__, "undo", prelude="_lib")
        self._claim = load_script(redis, __file__, "claim", prelude="_lib")
        self._templates = {
            "identity": keys.contact_identity(ID, ID2),
            "conversation": keys.conversation(ID),
            "claim": keys.claim_contacts(ID),
            "contact": keys.contact(ID),
            "claims": keys.contact_claims(ID),
        }

    # --- reading ---------------------------------------------------------------------------
    async def row(self, contact_id: str) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.contact(contact_id))

    async def require(self, contact_id: str) -> dict[str, str]:
        row = await self.row(contact_id)
        if not row:
            raise ContactsError(404, "not_found", "no such contact")
        return row

    async def list(self, *, limit: int = 50, before: int | None = None) -> tuple[list, int | None]:
        """Contacts by their latest activity, newest first; ``before``: the activity (ms) of
        the previous page's last one. A contact is listed at its newest conversation only, so
        no contact shows on two pages. Returns (contacts, the cursor of the next page)."""
        index = self.keys.conversations_index()
        high: str = f"({before}" if before else "+inf"
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset = 0
        while len(out) < limit:
            rows = await self.redis.zrevrangebyscore(
                index, high, "-inf", start=offset, num=200, withscores=True
            )
            if not rows:
                return out, None
            offset += len(rows)
            pipe = self.redis.pipeline(transaction=False)
            for conversation_id, _ in rows:
                pipe.hget(self.keys.conversation(conversation_id), "contact_id")
            owners = await pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            for owner in owners:
                pipe.zrevrange(self.keys.contact_conversations(owner or "none"), 0, 0)
                pipe.hgetall(self.keys.contact(owner or "none"))
            found = await pipe.execute()
            for i, ((conversation_id, score), owner) in enumerate(zip(rows, owners, strict=True)):
                newest, row = found[2 * i], found[2 * i + 1]
                if not owner or owner in seen or newest != [conversation_id] or not row:
                    continue
                if row.get("erased_at"):
                    continue
                seen.add(owner)
                out.append({**contact_view(row), "last_activity": int(score)})
                if len(out) >= limit:
                    return out, int(score)
        return out, None

    async def get(self, contact_id: str, viewer: Viewer) -> dict[str, Any]:
        """The profile, its conversations on every channel the viewer may open, its timeline."""
        row = await self.require(contact_id)
        ids = await self.redis.zrevrange(
            self.keys.contact_conversations(contact_id), 0, MAX_CONVERSATIONS - 1
        )
        pipe = self.redis.pipeline(transaction=False)
        for conversation_id in ids:
            pipe.hgetall(self.keys.conversation(conversation_id))
        pipe.lrange(self.keys.contact_timeline(contact_id), 0, TIMELINE - 1)
        profile = contact_view(row)
        for identity in profile["identities"]:
            pipe.hmget(self.keys.channel(identity["channel_id"]), ["type", "name"])
        results = await pipe.execute()
        rows, events = results[: len(ids)], results[len(ids)]
        channels = results[len(ids) + 1 :]
        for identity, (kind, name) in zip(profile["identities"], channels, strict=True):
            # Agents read "WeChat · 客服号 · openid", not the channel's id (None: deleted).
            identity.update(channel_type=kind, channel_name=name)
        conversations = [conversation_from_hash(r) for r in rows if r]
        visible = [c for c in conversations if may_view(viewer, c)]
        return {
            "contact": profile,
            "conversations": visible,
            "conversations_hidden": len(conversations) - len(visible),
            "timeline": [json.loads(e) for e in events],
        }

    # --- editing ---------------------------------------------------------------------------
    async def edit(self, contact_id: str, patch: ContactPatch, actor: str) -> dict[str, Any]:
        row = await self.require(contact_id)
        if row.get("merged_into") or row.get("erased_at"):
            raise ContactsError(409, "merged", "a merged or erased contact cannot be edited")
        changes = patch.model_dump(exclude_none=True)
        sets: dict[str, str] = {}
        clears: list[str] = []
        for name, value in changes.items():
            text = json.dumps(value, ensure_ascii=False) if name == "attrs" else str(value)
            if name == "attrs" and not value:
                text = ""
            (sets.__setitem__(name, text) if text else clears.append(name))
        now = self.clock()
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        if sets:
            pipe.hset(k.contact(contact_id), mapping=sets)
        if clears:
            pipe.hdel(k.contact(contact_id), *clears)
        entry = {"type": "edit", "at": now, "actor": actor, "fields": sorted(changes)}
        pipe.lpush(k.contact_timeline(contact_id), json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(k.contact_timeline(contact_id), 0, 199)
        pipe.zadd(k.contacts_changed(), {contact_id: now})
        await pipe.execute()
        return contact_view(await self.row(contact_id))

    # --- merging ---------------------------------------------------------------------------
    async def tier_ranking(self) -> list[str]:
        """Tiers, highest first: those the classification rules name, by the most urgent class
        a rule naming them gives (e.g. vip)."""
        classifier = (await self.policies.current()).classifier
        best: dict[str, int] = {}
        for rule in classifier.rules:
            rank = classifier.rank.get(rule.class_name or "", 99)
            for tier in rule.tiers:
                best[tier.lower()] = min(rank, best.get(tier.lower(), 99))
        return sorted(best, key=lambda t: (best[t], t))

    async def merge(self, source: str, target: str, actor_id: str, actor: str) -> dict[str, Any]:
        """Merge ``source`` into ``target`` (merge.lua); answers the merge record."""
        k, t = self.keys, self._templates
        merge_id = new_id("mg")
        raw = await self._merge(
            keys=[
                k.contact(source), k.contact(target), k.contact_conversations(source),
                k.contact_conversations(target), k.contact_claims(source),
                k.contact_claims(target), k.contact_timeline(source),
                k.contact_timeline(target), k.contact_merge(merge_id), k.contacts_changed(),
                k.shared_claims(),
            ],
            args=[
                source, target, merge_id, self.clock(), actor_id, actor,
                "\n".join(await self.tier_ranking()), t["identity"], t["conversation"],
                t["claim"],
            ],
        )  # fmt: skip
        out = decode_flat(raw)
        if out[0] != "ok":
            _raise(out)
        return await self.merge_record(merge_id)

    async def merge_record(self, merge_id: str) -> dict[str, Any]:
        row = await self.redis.hgetall(self.keys.contact_merge(merge_id))
        if not row:
            raise ContactsError(404, "not_found", "no such merge")
        return {
            "id": row["id"],
            "source": row["source"],
            "target": row["target"],
            "at": int(row["at"]),
            "actor": row.get("actor_name") or "",
            "conversations": int(float(row.get("conversations") or 0)),
            "identities": identities_of(row.get("identities")),
            "changes": json.loads(row.get("changes") or "{}") or {},
            "undone_at": int(row["undone_at"]) if row.get("undone_at") else None,
            "moved_back": int(row["moved_back"]) if row.get("moved_back") else None,
        }

    async def undo(self, merge_id: str, actor_id: str, actor: str) -> dict[str, Any]:
        """Undo one merge (undo.lua); answers the merge record, now undone."""
        k, t = self.keys, self._templates
        row = await self.redis.hmget(k.contact_merge(merge_id), ["source", "target"])
        if not row[0]:
            raise ContactsError(404, "not_found", "no such merge")
        source, target = row
        raw = await self._undo(
            keys=[
                k.contact_merge(merge_id), k.contact(source), k.contact(target),
                k.contact_conversations(source), k.contact_conversations(target),
                k.contact_claims(source), k.contact_claims(target),
                k.contact_timeline(source), k.contact_timeline(target),
                k.contacts_changed(), k.shared_claims(),
            ],
            args=[merge_id, self.clock(), actor_id, actor, t["identity"], t["conversation"],
                  t["claim"]],
        )  # fmt: skip
        out = decode_flat(raw)
        if out[0] != "ok":
            _raise(out)
        return await self.merge_record(merge_id)

    # --- suggestions -----------------------------------------------------------------------
    async def observe(self, result: IngestResult, msg: InboundMessage) -> None:
        """After ingest: the message's verified claims join its contact's (claim.lua)."""
        claims = claims_of(msg)
        if not claims or not result.contact_id:
            return
        t = self._templates
        await self._claim(
            keys=[self.keys.shared_claims()],
            args=[result.contact_id, self.clock(), t["contact"], t["claims"], t["claim"], *claims],
        )

    async def suggestions(self, contact_id: str | None = None, limit: int = 50) -> list[dict]:
        """Contacts sharing a verified claim: those of one contact, or the latest shared
        claims of all. Each: the claim, its kind and value, and the contacts (two or more)."""
        k = self.keys
        if contact_id:
            claims = sorted(await self.redis.smembers(k.contact_claims(contact_id)))
        else:
            claims = await self.redis.zrevrange(k.shared_claims(), 0, limit - 1)
        pipe = self.redis.pipeline(transaction=False)
        for claim in claims:
            pipe.smembers(k.claim_contacts(claim))
        holders = await pipe.execute()
        ids = sorted({c for group in holders for c in group})
        pipe = self.redis.pipeline(transaction=False)
        for one in ids:
            pipe.hgetall(k.contact(one))
        rows = dict(zip(ids, await pipe.execute(), strict=True))
        groups = []
        for claim, group in zip(claims, holders, strict=True):
            live = [
                contact_view(rows[c])
                for c in sorted(group)
                if rows.get(c) and not rows[c].get("merged_into") and not rows[c].get("erased_at")
            ]
            if len(live) < 2 or (contact_id and contact_id not in {c["id"] for c in live}):
                continue
            groups.append((claim, live))
        pairs = sorted({p for _, live in groups for p in _pairs([c["id"] for c in live])})
        told = await self.redis.smismember(k.distinct_contacts(), pairs) if pairs else []
        distinct = {p for p, yes in zip(pairs, told, strict=True) if yes}
        out = []
        for claim, live in groups:
            if _pairs([c["id"] for c in live]) <= distinct:
                continue  # every two of them are different people, an agent said
            kind, value = split_claim(claim)
            out.append({"claim": claim, "kind": kind, "value": value, "contacts": live})
        return out[:limit]

    async def dismiss(self, contact_ids: list[str]) -> int:
        """An agent says these contacts are different people: their suggestion is not shown
        again, until another contact shares the claim. Answers the pairs newly recorded."""
        ids = sorted(set(contact_ids))
        if len(ids) < 2:
            raise ContactsError(400, "invalid_field", "contacts: name two different contacts")
        for one in ids:
            await self.require(one)
        return int(await self.redis.sadd(self.keys.distinct_contacts(), *_pairs(ids)))


def _pairs(ids: list[str]) -> set[str]:
    """Every two of the contacts, as stored in ``distinct_contacts``."""
    ordered = sorted(ids)
    return {f"{a}|{b}" for i, a in enumerate(ordered) for b in ordered[i + 1 :]}
