"""QQ channel: private chats and group @-mentions through the official QQ Bot API (v2)."""

from adapters.qq.adapter import QQAdapter, QQConfig

__all__ = ["QQAdapter", "QQConfig"]
