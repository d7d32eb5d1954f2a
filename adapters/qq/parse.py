"""Pure normalization: QQ Bot dispatch events (op 0: ``t`` + ``d``) -> InboundMessage, or an
event the adapter keeps as state.

No I/O. Attachments keep the platform's URL in ``meta["source_url"]`` and no ``url``; the adapter
downloads them and fills the URL in. Shapes as documented at bot.q.qq.com/wiki/develop/api-v2/
server-inter/message/send-receive/event.html (C2C_MESSAGE_CREATE, GROUP_AT_MESSAGE_CREATE;
AT_MESSAGE_CREATE, MESSAGE_CREATE and DIRECT_MESSAGE_CREATE, a guild's Message object:
message.html, dms/direct_message.html),
.../server-inter/user/manage/event.html (FRIEND_ADD, FRIEND_DEL, C2C_MSG_REJECT/RECEIVE) and
.../server-inter/group/manage/event.html (GROUP_ADD_ROBOT, GROUP_DEL_ROBOT, GROUP_MSG_REJECT/
RECEIVE).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage

C2C = "c2c"
GROUP = "group"
GUILD = "guild"  # a text channel (文字子频道) of a guild: AT_MESSAGE_CREATE
DMS = "dms"  # a guild direct message (频道私信): DIRECT_MESSAGE_CREATE
MESSAGE_EVENTS = {
    "C2C_MESSAGE_CREATE": C2C,
    "GROUP_AT_MESSAGE_CREATE": GROUP,
    "AT_MESSAGE_CREATE": GUILD,
    # Every message of a guild's text channels (private bots, intent GUILD_MESSAGES 1 << 9),
    # "内容与 AT_MESSAGE_CREATE 相同": an @-message comes as both, and the inbox files its id once.
    "MESSAGE_CREATE": GUILD,
    "DIRECT_MESSAGE_CREATE": DMS,
}
STATE_EVENTS = frozenset({
    "FRIEND_ADD", "FRIEND_DEL", "C2C_MSG_REJECT", "C2C_MSG_RECEIVE",
    "GROUP_ADD_ROBOT", "GROUP_DEL_ROBOT", "GROUP_MSG_REJECT", "GROUP_MSG_RECEIVE",
})  # fmt: skip
# A message's content starts with the bot's mention, which the platform delivers as a blank
# (" 123", groups) or as a <@!id> / <@id> token (guilds, some group clients). Without the bot's
# id (the message's mentions, the READY event) only the first leading token is taken for it.
_FIRST_MENTION = re.compile(r"^\s*(?:<@!?[^>\s]*>)?")


class MalformedEvent(ValueError):
    """A dispatch whose fields are missing or of the wrong type."""


@dataclass(frozen=True)
class QQEvent:
    """A friend / group / active-message change: kept as state, never filed as a message."""

    kind: str  # the dispatch type, e.g. "FRIEND_DEL"
    openid: str = ""  # user openid (FRIEND_*, C2C_MSG_*)
    group_openid: str = ""  # (GROUP_*)
    op_member_openid: str = ""  # who added / removed the bot (GROUP_*)
    timestamp: int = 0


def user_thread_key(openid: str) -> str:
    """A private chat: one conversation per user."""
    return f"{C2C}:{openid}"


def group_thread_key(group_openid: str, member_openid: str) -> str:
    """A group @-mention: the conversation belongs to that member in that group."""
    return f"{GROUP}:{group_openid}:{member_openid}"


def guild_thread_key(scene: str, target: str, user_id: str) -> str:
    """A guild @-mention (target: the channel_id) or a guild direct message (target: the DM
    session's guild_id): the conversation belongs to that user there."""
    return f"{scene}:{target}:{user_id}"


def split_thread_key(thread_key: str) -> tuple[str, str, str]:
    """(scene, openid / group_openid / channel_id / DM guild_id, member or user id or "");
    ValueError if not a QQ key."""
    scene, _, rest = thread_key.partition(":")
    if scene == C2C and rest:
        return C2C, rest, ""
    if scene in (GROUP, GUILD, DMS):
        target, _, member = rest.partition(":")
        if target and member:
            return scene, target, member
    raise ValueError(f"not a QQ thread key: {thread_key!r}")


def strip_mention(content: str, bot_ids: Collection[str] = ()) -> str:
    """The content without the bot's own mentions (other people's stay: they are the customer's
    words). ``bot_ids`` empty: the first leading mention is taken for the bot's."""
    ids = [i for i in bot_ids if i]
    if not ids:
        return _FIRST_MENTION.sub("", content, count=1).strip()
    own = re.compile(r"<@!?(?:" + "|".join(re.escape(i) for i in ids) + r")>[ \t]*")
    return own.sub("", content).strip()


def bot_mentions(d: dict[str, Any], bot_id: str = "") -> list[str]:
    """The ids of the bot's mentions in a message: ``mentions`` entries with ``bot: true``
    (narrowed to ``bot_id`` when that is among them: the customer may mention other bots),
    else ``bot_id`` (the READY event's user.id), else none known."""
    raw = d.get("mentions")
    bots = [
        _s(m.get("id"))
        for m in (raw if isinstance(raw, list) else [])
        if isinstance(m, dict) and m.get("bot") is True and _s(m.get("id"))
    ]
    if bots:
        return [bot_id] if bot_id in bots else bots
    return [bot_id] if bot_id else []


def unescape_guild(content: str) -> str:
    """message_format.md (内嵌格式, 转义内容): a guild message reaches the bot with & < >
    escaped; ``&amp;`` last, so "&amp;lt;" (the customer typed "&lt;") stays "&lt;"."""
    return content.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_guild(content: str) -> str:
    """What the bot sends to a guild is unescaped by the platform, and a bare < > would be read
    as a tag (<@id>, <#channel>, <emoji:id>): the agent's text is text. ``&`` first."""
    return content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rfc3339_ms(value: Any) -> int:
    """Milliseconds of an RFC 3339 ``timestamp`` ("2023-11-06T13:37:18+08:00"); 0 if unreadable."""
    if not isinstance(value, str) or not value:
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def attachment_kind(content_type: str) -> str:
    ctype = content_type.lower()
    if ctype.startswith("image/"):
        return "image"
    if ctype.startswith("video/"):
        return "video"
    if ctype.startswith("voice") or ctype.startswith("audio/"):
        return "voice"
    return "file"


def _attachments(raw: Any) -> list[Attachment]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        ctype = _s(item.get("content_type"))
        url = _s(item.get("url"))
        if url.startswith("//"):  # scheme-relative
            url = "https:" + url
        meta: dict[str, Any] = {"source_url": url}
        for name in ("width", "height"):
            if isinstance(item.get(name), int):
                meta[name] = item[name]
        size = item.get("size")
        out.append(
            Attachment(
                kind=attachment_kind(ctype),
                name=_s(item.get("filename")) or None,
                content_type=ctype if "/" in ctype else None,
                size=size if isinstance(size, int) and size >= 0 else None,
                meta=meta,
            )
        )
    return out


def normalize(
    event_type: str, data: Any, channel_id: str, event_id: str = "", bot_id: str = ""
) -> InboundMessage | QQEvent | None:
    """One dispatch -> what the gateway does with it; None for events it does not use.
    ``bot_id``: the bot's user id from the WebSocket's READY, "" if not known."""
    scene = MESSAGE_EVENTS.get(event_type)
    if scene is not None:
        if not isinstance(data, dict):
            raise MalformedEvent(f"{event_type} without a body")
        if event_type == "MESSAGE_CREATE" and _from_a_bot(data, bot_id):
            return None  # every channel message comes, the bot's own replies included
        return _message(scene, data, channel_id, event_id, bot_id)
    if event_type in STATE_EVENTS:
        if not isinstance(data, dict):
            raise MalformedEvent(f"{event_type} without a body")
        ts = data.get("timestamp")
        event = QQEvent(
            kind=event_type,
            openid=_s(data.get("openid")),
            group_openid=_s(data.get("group_openid")),
            op_member_openid=_s(data.get("op_member_openid")),
            timestamp=ts if isinstance(ts, int) else 0,
        )
        if event_type.startswith("GROUP_") and not event.group_openid:
            raise MalformedEvent(f"{event_type} without group_openid")
        if not event_type.startswith("GROUP_") and not event.openid:
            raise MalformedEvent(f"{event_type} without openid")
        return event
    return None


def _from_a_bot(d: dict[str, Any], bot_id: str) -> bool:
    author = d.get("author")
    if not isinstance(author, dict):
        return False
    return author.get("bot") is True or (bool(bot_id) and _s(author.get("id")) == bot_id)


def _message(
    scene: str, d: dict[str, Any], channel_id: str, event_id: str, bot_id: str = ""
) -> InboundMessage:
    msg_id = _s(d.get("id"))
    author = d.get("author") if isinstance(d.get("author"), dict) else {}
    assert isinstance(author, dict)
    if not msg_id:
        raise MalformedEvent("message without id")
    content = _s(d.get("content"))
    if scene == C2C:
        openid = _s(author.get("user_openid"))
        if not openid:
            raise MalformedEvent("C2C message without author.user_openid")
        thread_key, contact_id = user_thread_key(openid), openid
        meta: dict[str, Any] = {"scene": C2C, "openid": openid}
        text = content.strip()
    elif scene in (GUILD, DMS):
        # message.md / dms/direct_message.md: a Message object; author.id is the user's id.
        user, guild = _s(author.get("id")), _s(d.get("guild_id"))
        channel = _s(d.get("channel_id"))
        target = channel if scene == GUILD else guild
        if not user or not target:
            raise MalformedEvent(f"{scene} message without author.id, channel_id or guild_id")
        thread_key, contact_id = guild_thread_key(scene, target, user), user
        meta = {"scene": scene, "guild_id": guild, "channel_id": channel, "user_id": user}
        # The mention tags are not escaped, the customer's < > & are: strip, then unescape.
        if scene == GUILD:
            content = strip_mention(content, bot_mentions(d, bot_id))
        text = unescape_guild(content).strip()
    else:
        group = _s(d.get("group_openid"))
        member = _s(author.get("member_openid"))
        if not group or not member:
            raise MalformedEvent("group message without group_openid or author.member_openid")
        # member_openid is the member's id in this group only (the same person has another one
        # in another group): the contact is that member.
        thread_key, contact_id = group_thread_key(group, member), member
        meta = {"scene": GROUP, "group_openid": group, "member_openid": member}
        # message_format.md's escaping is documented for guilds only: group text is as sent.
        text = strip_mention(content, bot_mentions(d, bot_id))
    attachments = _attachments(d.get("attachments"))
    if not text and not attachments:
        text = "[empty QQ message]"
    meta["msg_id"] = msg_id  # a passive reply names it
    if event_id:
        meta["event_id"] = event_id
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.QQ,
        # The platform may push one message twice (documented): the inbox dedupes on its id.
        external_id=msg_id,
        contact=ContactIdentity(external_id=contact_id, name=_s(author.get("username")) or None),
        thread_key=thread_key,
        text=text,
        attachments=attachments,
        sent_at=rfc3339_ms(d.get("timestamp")),
        meta=meta,
        raw=d,
    )
