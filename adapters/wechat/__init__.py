"""WeChat channels: Official Account (公众号) and WeCom customer service (微信客服)."""

from adapters.wechat.kf import WeComKfAdapter
from adapters.wechat.oa import OfficialAccountAdapter

__all__ = ["OfficialAccountAdapter", "WeComKfAdapter"]
