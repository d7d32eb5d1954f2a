"""WeChat error codes -> what the agent reads, and whether the outbox may retry."""

from __future__ import annotations

from adapters.base import PermanentSendError, SendError, TransientSendError
from adapters.wechat.api import HTTP_FAILED, NETWORK_FAILED, ApiError

WINDOW_CLOSED = (
    "WeChat refused the reply: the 48-hour reply window is closed (the customer last wrote more "
    "than 48 hours ago, or unfollowed the account). The customer must write again first."
)
TOO_MANY = (
    "WeChat refused the reply: too many messages. WeChat allows 5 replies per customer message "
    "within 48 hours (3 within a minute after a menu click, follow or scan). Wait until the "
    "customer writes again."
)
UNSUBSCRIBED = (
    "The customer unfollowed the Official Account; WeChat delivers no more messages to them."
)
KF_TOO_MANY = (
    "WeCom refused the reply: too many messages (95001). WeCom allows 5 replies per customer "
    "message within 48 hours. Wait until the customer writes again."
)
KF_WINDOW_CLOSED = (
    "WeCom refused the reply: the 48-hour reply window is closed (95002): the customer last "
    "wrote more than 48 hours ago. The customer must write again first."
)
KF_SESSION_ENDED = (
    "WeCom refused the reply: the session has ended (95013). The customer must write again first."
)
KF_SESSION_STATE = (
    "WeCom refused the reply: the session is not in a state the API may answer (95018): a "
    "servicer took it over in the WeCom app, or it ended. Answer there, or wait until the "
    "customer writes again."
)

# Refusals that will not change by retrying: shown to the agent as they are.
PERMANENT: dict[int, str] = {
    45015: WINDOW_CLOSED,
    45047: TOO_MANY,
    43004: UNSUBSCRIBED,
    40003: "WeChat does not know this customer's OpenID for this account (40003).",
    40007: "WeChat refused the image: invalid media_id (40007).",
    45002: "WeChat refused the reply: the message is too long (45002).",
    48001: "This account may not use the customer-service message API (48001); check its "
    "permissions on the WeChat platform.",
    # WeCom 微信客服 (kf/send_msg): 5 replies within 48 hours of the customer's last message.
    95001: KF_TOO_MANY,
    95002: KF_WINDOW_CLOSED,
    95013: KF_SESSION_ENDED,
    95018: KF_SESSION_STATE,
    40013: "WeChat rejected the AppID / CorpID (40013): check the channel's credentials.",
    40125: "WeChat rejected the AppSecret (40125): check the channel's credentials.",
    40164: "WeChat refused the gateway's IP address (40164): add it to the account's IP "
    "whitelist on the WeChat platform.",
}
# Busy or rate-limited: the outbox retries after a pause.
TRANSIENT_RETRY_AFTER: dict[int, float] = {-1: 5.0, 45009: 60.0, 45011: 60.0, 45033: 60.0}


def describe(exc: ApiError) -> str:
    return PERMANENT.get(exc.errcode) or f"WeChat error {exc.errcode}: {exc.errmsg}"


def send_error(exc: ApiError) -> SendError:
    if exc.errcode in PERMANENT:
        return PermanentSendError(PERMANENT[exc.errcode])
    if exc.errcode in TRANSIENT_RETRY_AFTER:
        return TransientSendError(
            f"WeChat is busy or rate-limiting ({exc.errcode}: {exc.errmsg})",
            retry_after=TRANSIENT_RETRY_AFTER[exc.errcode],
        )
    if exc.errcode in (HTTP_FAILED, NETWORK_FAILED) or exc.errcode in (40001, 40014, 42001):
        # Could not reach WeChat, or a token still refused after one refresh: try again later.
        return TransientSendError(exc.errmsg)
    return PermanentSendError(f"WeChat refused the message ({exc.errcode}: {exc.errmsg})")


# kf/sync_msg refusals that no retry changes: the kf account is wrong, or not the API's to
# read. Its pulls stop until WeCom calls back for it again. Anything else (-1 busy, 45009 rate
# limit, network) is retried with a growing pause.
SYNC_PERMANENT: dict[int, str] = {
    95000: "invalid open_kfid",
    95004: "the open_kfid does not exist",
    95011: "the kf account is served in the WeCom app, not through the API",
    48002: "the API is forbidden for this Secret",
}
