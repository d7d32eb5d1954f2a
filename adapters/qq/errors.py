"""QQ Bot error codes -> what the agent reads, and whether the outbox may retry.

Documented codes: bot.q.qq.com/wiki/develop/api-v2/openapi/error/error.html and the send page
(.../server-inter/message/send-receive/send.html: 22009 "msg limit exceed", 304082 / 304083
"富媒体资源拉取失败，请重试"). The v2 private / group send API also answers codes the pages do
not list, seen in the platform's own repositories: 40034102 / 40034105 "主动消息失败, 无权限"
(tencent-connect/openclaw-qqbot#43, #52), 40034024 "请求参数msg_id无效或越权" and 40054005
"消息被去重，请检查请求msgseq" (a msg_id + msg_seq already used).
"""

from __future__ import annotations

from adapters.base import PermanentSendError, SendError, TransientSendError
from adapters.qq.api import HTTP_FAILED, NETWORK_FAILED, RETRY_ONCE_CODES, ApiError

WINDOW_CLOSED = (
    "QQ refused the reply: the passive-reply window is closed (QQ allows replies within 60 "
    "minutes of a private message and 5 minutes of a group @-mention, at most 5 per customer "
    "message), and this channel does not send active messages. The customer must write again."
)
ACTIVE_REFUSED = (
    "QQ refused the message: the reply window had closed, and QQ refused an active message (the "
    "bot has no active-message permission, the monthly quota of 4 per user or group is used up, "
    "or the customer turned active messages off). The customer must write again."
)
FRIEND_REMOVED = (
    "The customer removed the bot from their QQ friends; QQ delivers no more messages to them."
)
GROUP_REMOVED = "The bot was removed from this QQ group; it can no longer send to it."
ACTIVE_OFF = (
    "The customer turned off active messages from this bot, and the reply window is closed."
)
DUPLICATE_SEQ = 40054005  # this msg_id + msg_seq was already accepted
# error.html: 304023 PUSH_MSG_ASYNC_OK / 304024 REPLY_MSG_ASYNC_OK "异步调用成功, 等待人工审核"
# (HTTP 202 with an error body): accepted, held for the platform's review; not a failure.
HELD_FOR_AUDIT = frozenset({304023, 304024})

# The passive reply is not possible (window over, message id refused): an active message may be.
PASSIVE_EXPIRED = frozenset({304026, 304027, 40034024})
ACTIVE_QUOTA = frozenset({304045, 304046, 304047, 304048, 304049, 304050, 40034102, 40034105})
PERMANENT: dict[int, str] = {
    304028: "QQ refused the reply: replies are allowed only to messages that @-mention the bot "
    "(304028).",
    304003: "QQ refused the message: it contains a URL not registered in the bot's message URL "
    "settings on q.qq.com (304003).",
    304020: "QQ refused the file: it is too large (304020).",
    11253: "This bot may not use this API (11253); apply for the permission on q.qq.com.",
    11254: "QQ has blocked this API for the bot (11254).",
    11265: "QQ has banned this bot (11265).",
    11251: "QQ does not recognise the AppID (11251): check the channel's credentials.",
    1100101: "QQ refused the message: its content is flagged as sensitive (1100101).",
    1100104: "QQ refused the message: the group no longer exists (1100104).",
    1100301: "QQ refused the message: the bot is not a member of the group (1100301).",
    50006: "QQ refused the message: it is empty (50006).",
}
# Busy, rate-limited or "retry" codes: the outbox tries again after a pause (seconds).
TRANSIENT_RETRY_AFTER: dict[int, float] = {
    22009: 10.0,  # msg limit exceed (消息发送超频)
    20028: 10.0,
    1100100: 30.0,  # 消息被限频
    1100308: 10.0,
    304082: 5.0,  # rich media fetch failed, retry
    304083: 5.0,
    1100300: 5.0,
}


def describe(exc: ApiError) -> str:
    if exc.code in PERMANENT:
        return PERMANENT[exc.code]
    if exc.code == 11243 or exc.status == 401:
        return "QQ refused the credentials (AppID / AppSecret): check the channel's settings."
    return f"QQ error {exc.code}: {exc.message}" if exc.code > 0 else exc.message


def retried_once(exc: ApiError) -> str:
    return (
        f"QQ refused the message with a system error twice ({exc.code}: {exc.message}): QQ "
        "allows only one retry of this error, which was made, so the gateway does not retry it."
    )


def send_error(exc: ApiError) -> SendError:
    if exc.code in PASSIVE_EXPIRED:
        return PermanentSendError(f"{WINDOW_CLOSED} ({exc.code}: {exc.message})")
    if exc.code in ACTIVE_QUOTA:
        return PermanentSendError(f"{ACTIVE_REFUSED} ({exc.code}: {exc.message})")
    if exc.code in PERMANENT:
        return PermanentSendError(PERMANENT[exc.code])
    if exc.code in RETRY_ONCE_CODES:
        # QQApi.call has already made the one retry the platform allows: no outbox retries.
        return PermanentSendError(retried_once(exc))
    if exc.status == 429 or exc.code in TRANSIENT_RETRY_AFTER:
        wait = exc.retry_after or TRANSIENT_RETRY_AFTER.get(exc.code, 5.0)
        return TransientSendError(
            f"QQ is busy or rate-limiting ({exc.code or exc.status}: {exc.message})",
            retry_after=wait,
        )
    if exc.code in (HTTP_FAILED, NETWORK_FAILED) or exc.status >= 500 or exc.token_refused:
        # Could not reach QQ, QQ failed, or a token still refused after one refresh.
        return TransientSendError(describe(exc), retry_after=exc.retry_after)
    return PermanentSendError(f"QQ refused the message ({exc.code or exc.status}: {exc.message})")
