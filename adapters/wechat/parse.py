"""Pure normalization: WeChat payloads -> InboundMessage, or an event the adapter acts on.

No I/O here. Media is referenced by ``Attachment.meta["media_id"]`` with no URL; the adapter
downloads it and fills the URL in. Table-tested on recorded and generated payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wechatpy.messages import BaseMessage
from wechatpy.parser import parse_message

from adapters.wechat.safexml import MalformedXML, parse_xml, to_text
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage

MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}
HEADER_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgId", "Event")
# The customer's own words: kept verbatim (wechatpy's parse strips surrounding whitespace).
VERBATIM_FIELDS = ("Content", "Recognition")
# A follow, however wechatpy names it: "subscribe", and a subscribe whose EventKey starts with
# "qrscene_" (scan to follow) or "scanbarcode|" / "scanimage|" (scan a product to follow).
FOLLOW_EVENTS = frozenset({"subscribe", "subscribe_scan", "subscribe_scan_product"})
# Menu buttons that open WeChat's scanner and push the result to the account.
SCANCODE_EVENTS = frozenset({"scancode_push", "scancode_waitmsg"})


@dataclass(frozen=True)
class OaEvent:
    """A follow or unfollow: acted on by the adapter, never filed as a customer message."""

    kind: str  # "subscribe" | "unsubscribe"
    openid: str
    external_id: str
    key: str = ""  # QR scene of a scan-to-follow


@dataclass(frozen=True)
class KfEvent:
    kind: str  # "enter_session" | "send_fail"
    open_kfid: str
    external_userid: str
    external_id: str
    welcome_code: str = ""
    fail_msgid: str = ""  # send_fail: the msgid send_msg returned for the failed message
    fail_type: str = ""


def _s(value: Any) -> str:
    """A text field as a string (xmltodict gives None for empty elements, dicts for nested)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


# --- Official Account ------------------------------------------------------------------------


def parse_oa_xml(body: bytes | str) -> BaseMessage:
    """Safety checks and a first parse for clear reasons, then wechatpy's parser (xmltodict
    with entities disabled) for the message classes. WeChat XML is a few KiB: parsing twice
    costs nothing."""
    text = to_text(body)
    fields = parse_xml(text)
    if not isinstance(fields.get("MsgType"), str):
        raise MalformedXML("MsgType is missing")
    for name in HEADER_FIELDS:  # text or empty; twice or nested is not WeChat's flat XML
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise MalformedXML(f"{name} is not a single text field")
    try:
        msg = parse_message(text)
    except Exception as exc:  # wrong field shapes the first parse could not see
        raise MalformedXML(f"malformed WeChat message: {type(exc).__name__}: {exc}") from None
    if msg is None or not isinstance(msg._data, dict):
        raise MalformedXML("empty WeChat message")
    _keep_verbatim(msg._data, text, fields)
    return msg


def _keep_verbatim(data: dict[str, Any], text: str, fields: dict[str, Any]) -> None:
    """Put the customer's text back as written: "  indented" or a message of spaces only."""
    if not any(name in fields for name in VERBATIM_FIELDS):
        return  # most messages and events: nothing to restore, no second parse
    verbatim = parse_xml(text, strip_whitespace=False)
    for name in VERBATIM_FIELDS:
        if isinstance(verbatim.get(name), str):
            data[name] = verbatim[name]


def normalize_oa(msg: BaseMessage, channel_id: str) -> InboundMessage | OaEvent | None:
    """One WeChat Official Account message or event -> what the gateway does with it."""
    data: dict[str, Any] = msg._data
    openid = _s(data.get("FromUserName"))
    if not openid:
        raise MalformedXML("FromUserName is missing")
    try:
        create_time = int(_s(data.get("CreateTime")) or 0)
    except ValueError:
        raise MalformedXML("CreateTime is not a number") from None
    msg_type = _s(data.get("MsgType")).lower()

    if msg_type == "event":
        return _oa_event(data, channel_id, openid, create_time)

    msg_id = _s(data.get("MsgId"))
    # WeChat retries a message up to 3 times with the same MsgId: the inbox dedupes on it.
    external_id = msg_id or f"{openid}:{create_time}:{msg_type}"
    text, attachments = _oa_content(msg_type, data)
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.WECHAT_OA,
        external_id=external_id,
        contact=ContactIdentity(external_id=openid),
        thread_key=openid,
        text=text,
        attachments=attachments,
        sent_at=create_time * 1000,
        meta={"msg_type": msg_type, "to": _s(data.get("ToUserName"))},
        raw=dict(data),
    )


def _oa_content(msg_type: str, d: dict[str, Any]) -> tuple[str, list[Attachment]]:
    if msg_type == "text":
        return _s(d.get("Content")), []
    if msg_type in MEDIA_KINDS:
        meta = {"media_id": _s(d.get("MediaId"))}
        if msg_type == "image":
            meta["pic_url"] = _s(d.get("PicUrl"))
        if msg_type == "voice":
            meta["format"] = _s(d.get("Format"))
            meta["recognition"] = _s(d.get("Recognition"))
        if msg_type in ("video", "shortvideo"):
            meta["thumb_media_id"] = _s(d.get("ThumbMediaId"))
        # A voice message keeps WeChat's speech recognition as its text, when there is one.
        text = meta.get("recognition", "")
        return text, [Attachment(kind=MEDIA_KINDS[msg_type], meta=meta)]
    if msg_type == "location":
        label = _s(d.get("Label"))
        lat, lng = _s(d.get("Location_X")), _s(d.get("Location_Y"))
        meta = {"latitude": lat, "longitude": lng, "scale": _s(d.get("Scale")), "label": label}
        return label or f"{lat},{lng}", [Attachment(kind="location", name=label or None, meta=meta)]
    if msg_type == "link":
        title, url = _s(d.get("Title")), _s(d.get("Url"))
        meta = {"description": _s(d.get("Description"))}
        return f"{title}\n{url}".strip(), [
            Attachment(kind="link", url=url or None, name=title or None, meta=meta)
        ]
    if msg_type == "miniprogrampage":
        return _s(d.get("Title")), []
    # Never drop a customer's message silently: the agent sees that something arrived.
    return f"[unsupported WeChat message type: {msg_type or 'none'}]", []


def _oa_event(
    d: dict[str, Any], channel_id: str, openid: str, create_time: int
) -> InboundMessage | OaEvent | None:
    event = _s(d.get("Event")).lower()
    key = _s(d.get("EventKey"))
    # Events have no MsgId; WeChat's retries repeat FromUserName + CreateTime.
    external_id = f"{openid}:{create_time}:{event}"
    if event in FOLLOW_EVENTS:
        return OaEvent("subscribe", openid, external_id, key)
    if event == "unsubscribe":
        return OaEvent("unsubscribe", openid, external_id)
    if event == "click":
        text, meta = f"[menu] {key}", {"menu_key": key}
    elif event == "scan":
        text, meta = f"[scan] {key}", {"scene": key, "ticket": _s(d.get("Ticket"))}
    elif event in SCANCODE_EVENTS:
        text, meta = _scancode(d, key)
    else:  # VIEW, LOCATION reports, template results...: nothing for an agent
        return None
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.WECHAT_OA,
        external_id=external_id,
        contact=ContactIdentity(external_id=openid),
        thread_key=openid,
        text=text,
        sent_at=create_time * 1000,
        meta={"msg_type": "event", "event": event, **meta, "to": _s(d.get("ToUserName"))},
        raw=dict(d),
    )


def _scancode(d: dict[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    """A scan from a menu button: what the customer scanned (a QR code's text, a barcode)."""
    info = d.get("ScanCodeInfo")
    info = info if isinstance(info, dict) else {}
    result = _s(info.get("ScanResult"))
    return f"[scan] {result}", {
        "menu_key": key,
        "scan_type": _s(info.get("ScanType")),
        "scan_result": result,
    }


# --- WeCom customer service (微信客服) -------------------------------------------------------

KF_ORIGIN_CUSTOMER = 3
KF_ORIGIN_SYSTEM = 4


def kf_thread_key(open_kfid: str, external_userid: str) -> str:
    """One conversation per customer and kf account (a reply must name both)."""
    return f"{open_kfid}:{external_userid}"


def split_kf_thread_key(thread_key: str) -> tuple[str, str]:
    open_kfid, sep, external_userid = thread_key.partition(":")
    if not sep or not open_kfid or not external_userid:
        raise ValueError(f"not a WeCom kf thread key: {thread_key!r}")
    return open_kfid, external_userid


def normalize_kf(item: dict[str, Any], channel_id: str) -> InboundMessage | KfEvent | None:
    """One entry of ``kf/sync_msg``'s ``msg_list``."""
    msgid = _s(item.get("msgid"))
    open_kfid = _s(item.get("open_kfid"))
    origin = item.get("origin")
    msg_type = _s(item.get("msgtype"))
    if origin == KF_ORIGIN_SYSTEM and msg_type == "event":
        return _kf_event(item, msgid, open_kfid)
    if origin != KF_ORIGIN_CUSTOMER:
        return None  # written by a servicer in the WeCom app, not by the customer
    user = _s(item.get("external_userid"))
    if not msgid or not open_kfid or not user:
        return None
    text, attachments, meta = _kf_content(msg_type, item)
    try:
        sent_at = int(item.get("send_time") or 0) * 1000
    except (TypeError, ValueError):
        sent_at = 0
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.WECOM_KF,
        external_id=msgid,
        contact=ContactIdentity(external_id=user),
        thread_key=kf_thread_key(open_kfid, user),
        text=text,
        attachments=attachments,
        sent_at=sent_at or 0,
        meta={"msg_type": msg_type, "open_kfid": open_kfid, **meta},
        raw=item,
    )


def _kf_content(
    msg_type: str, item: dict[str, Any]
) -> tuple[str, list[Attachment], dict[str, Any]]:
    body = item.get(msg_type)
    body = body if isinstance(body, dict) else {}
    if msg_type == "text":
        meta = {"menu_id": _s(body["menu_id"])} if body.get("menu_id") else {}
        return _s(body.get("content")), [], meta
    if msg_type in ("image", "voice", "video", "file"):
        return "", [Attachment(kind=msg_type, meta={"media_id": _s(body.get("media_id"))})], {}
    if msg_type == "location":
        name, address = _s(body.get("name")), _s(body.get("address"))
        meta = {
            "latitude": _s(body.get("latitude")),
            "longitude": _s(body.get("longitude")),
            "label": name,
            "address": address,
        }
        text = (
            " ".join(p for p in (name, address) if p) or f"{meta['latitude']},{meta['longitude']}"
        )
        return text, [Attachment(kind="location", name=name or None, meta=meta)], {}
    if msg_type == "link":
        title, url = _s(body.get("title")), _s(body.get("url"))
        meta = {"description": _s(body.get("desc")), "pic_url": _s(body.get("pic_url"))}
        link = Attachment(kind="link", url=url or None, name=title or None, meta=meta)
        return f"{title}\n{url}".strip(), [link], {}
    if msg_type == "business_card":
        return f"[business card] {_s(body.get('userid'))}", [], {}
    if msg_type == "miniprogram":
        return _s(body.get("title")), [], {}
    if msg_type == "merged_msg":
        return _merged_msg(body), [], {}
    if msg_type == "channels":
        return _channels(body)
    if msg_type == "channels_shop_product":
        return _shop_product(body)
    if msg_type == "channels_shop_order":
        return _shop_order(body)
    if msg_type == "note":
        return "[WeChat note]", [], {}  # 笔记: WeCom sends no content for it
    return f"[unsupported WeChat message type: {msg_type or 'none'}]", [], {}


def _shop_product(body: dict[str, Any]) -> tuple[str, list[Attachment], dict[str, Any]]:
    """A WeChat Channels shop product (视频号商品) the customer shared: its title, price
    (``sales_price`` in fen) and shop; the product id kept for the agent."""
    price = _s(body.get("sales_price"))
    shown = " · ".join(
        part
        for part in (
            _s(body.get("title")),
            f"¥{int(price) / 100:.2f}" if price.isdigit() else price,
            _s(body.get("shop_nickname")),
        )
        if part
    )
    meta = {
        "product_id": _s(body.get("product_id")),
        "shop_nickname": _s(body.get("shop_nickname")),
    }
    return _labelled("[WeChat Channels product]", shown), [], meta


def _shop_order(body: dict[str, Any]) -> tuple[str, list[Attachment], dict[str, Any]]:
    """A WeChat Channels shop order (视频号订单) the customer shared: the order number first
    (what the agent looks up), then the products, price, state and shop as WeChat words them."""
    order_id = _s(body.get("order_id"))
    fields = ("product_titles", "price_wording", "state", "shop_nickname")
    parts = [order_id, *(_s(body.get(name)) for name in fields)]
    meta = {"order_id": order_id, "shop_nickname": _s(body.get("shop_nickname"))}
    return _labelled("[WeChat Channels order]", " · ".join(p for p in parts if p)), [], meta


# 视频号 (WeChat Channels) shares: sub_type 1 a post, 2 a live stream, 3 a profile card.
CHANNELS_KINDS = {"1": "post", "2": "live stream", "3": "profile"}


def _channels(body: dict[str, Any]) -> tuple[str, list[Attachment], dict[str, Any]]:
    """A shared WeChat Channels item: who published it and its title."""
    sub_type = _s(body.get("sub_type"))
    kind = CHANNELS_KINDS.get(sub_type, "item")
    nickname, title = _s(body.get("nickname")), _s(body.get("title"))
    shown = ": ".join(part for part in (nickname, title) if part)
    meta = {"channels_sub_type": sub_type, "channels_nickname": nickname}
    return _labelled(f"[WeChat Channels {kind}]", shown), [], meta


def _merged_msg(body: dict[str, Any]) -> str:
    """A forwarded chat record (聊天记录): its title, then one line per message in it."""
    items = body.get("item")
    items = items if isinstance(items, list) else []
    lines = [_labelled("[chat record]", _s(body.get("title")))]
    lines += [_merged_item(item) for item in items if isinstance(item, dict)]
    return "\n".join(lines)


def _labelled(label: str, text: str) -> str:
    """ "label text", the text as WeChat gave it (no stripping)."""
    return f"{label} {text}" if text else label


def _merged_item(item: dict[str, Any]) -> str:
    """ "sender: text" for a text message, "sender: [image]" for the others. The message itself
    is a JSON string ({"text": {"content": ...}})."""
    msg_type = _s(item.get("msgtype"))
    try:
        content = json.loads(_s(item.get("msg_content")) or "{}")
    except ValueError:
        content = {}
    body = content.get(msg_type) if isinstance(content, dict) else None
    text = _s(body.get("content")) if msg_type == "text" and isinstance(body, dict) else ""
    shown = text or f"[{msg_type or 'message'}]"
    sender = _s(item.get("sender_name"))
    return f"{sender}: {shown}" if sender else shown


def _kf_event(item: dict[str, Any], msgid: str, open_kfid: str) -> KfEvent | None:
    event = item.get("event")
    event = event if isinstance(event, dict) else {}
    kind = _s(event.get("event_type"))
    user = _s(event.get("external_userid"))
    open_kfid = _s(event.get("open_kfid")) or open_kfid
    if kind == "enter_session" and user:
        return KfEvent(
            "enter_session", open_kfid, user, msgid, welcome_code=_s(event.get("welcome_code"))
        )
    if kind == "msg_send_fail":
        return KfEvent(
            "send_fail",
            open_kfid,
            user,
            msgid,
            fail_msgid=_s(event.get("fail_msgid")),
            fail_type=_s(event.get("fail_type")),
        )
    return None
