"""Explicit map of channel type -> adapter class (imported lazily, so one broken or missing
optional adapter never stops the others)."""

from __future__ import annotations

import importlib

from adapters.base import Adapter
from gateway.models import Channel

ADAPTERS: dict[Channel, str] = {
    Channel.API: "adapters.api:ApiAdapter",
    Channel.WEBCHAT: "adapters.webchat:WebchatAdapter",
    Channel.WECHAT_OA: "adapters.wechat:OfficialAccountAdapter",
    Channel.WECOM_KF: "adapters.wechat:WeComKfAdapter",
    Channel.EMAIL: "adapters.email:EmailAdapter",
    Channel.X: "adapters.social.x:XAdapter",
    Channel.MASTODON: "adapters.social.mastodon:MastodonAdapter",
    Channel.WEIBO: "adapters.social.weibo:WeiboAdapter",
    Channel.QQ: "adapters.qq:QQAdapter",
}


class UnknownChannelType(LookupError):
    pass


def adapter_class(channel_type: str) -> type[Adapter]:
    try:
        target = ADAPTERS[Channel(channel_type)]
    except ValueError:
        raise UnknownChannelType(f"unknown channel type {channel_type!r}") from None
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UnknownChannelType(f"channel type {channel_type!r} is not available") from None
        raise
    return getattr(module, attr)


def available_types() -> list[str]:
    out = []
    for ch in ADAPTERS:
        try:
            adapter_class(ch.value)
        except UnknownChannelType:
            continue
        out.append(ch.value)
    return out
