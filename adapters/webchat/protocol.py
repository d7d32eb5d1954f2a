"""The visitor WebSocket protocol: frames the widget sends, checked here, and the visitor's view
of the conversation log (no internal notes, no agent ids, no system events).

Widget -> gateway (JSON text frames):
  {"type": "hello", "token"?, "conversation_id"?, "last_seq"?, "page"?}   first frame
  {"type": "message", "client_id", "text", "attachments"?: [{"url"}]}   text may be empty
      when there are attachments: each url one that POST <channel>/webchat/upload answered
  {"type": "profile", "name"?, "email"?}
  {"type": "typing", "on": bool}
  {"type": "read", "seq": int}
  {"type": "survey_answer", "token", "score": 1-5, "comment"?}
  {"type": "ping"}
Gateway -> widget:
  welcome, history, message, ack, typing, read, profile, error, pong,
  survey_result {"token", "ok", "score"?, "status"?, "code"?, "message"}
A system message carrying a satisfaction-survey link is shown as a rating card: its view has
``survey: {"token", "state": pending | answered | expired, "expires_at"}`` and no link in its
text (gateway/surveys.py sends it; the answer is recorded by the same signed-token rules).
A self-service answer (a message whose meta says ``bot``, gateway/kb/selfservice.py) has
``bot: true`` and ``bot_language: "zh" | "en"`` in its view, and its text without the bot's
label (the widget shows the label as the author, and the 已解决 / 转人工 buttons on the flag
alone: no message text makes a bot answer); live frames and the replayed history alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.webchat.config import valid_client_id
from gateway.kb.selfservice import BOT_LABEL, TRADITIONAL_LABEL
from gateway.surveys import MAX_COMMENT

_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\"]{2,}$")
MAX_NAME = 100
MAX_PAGE = 500
MAX_SURVEY_TOKEN = 1000
MAX_ATTACHMENTS = 5  # files in one visitor message
# A survey link anywhere in a system message: "<public url>/survey/<body>.<mac>".
# Bounded repeats: unbounded ones were tried again from every position of a long run of spaces.
_SURVEY_LINK = re.compile(
    r"\s{0,8}\S{0,2048}/survey/([A-Za-z0-9_-]{1,1000}\.[A-Za-z0-9_-]{1,1000})"
)
# What a token may hold at all (base64url parts and dots): anything else (non-ASCII, control
# characters) is refused before any signature check sees it.
_SURVEY_TOKEN = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_SURVEY_TOKEN}}}")


class FrameError(ValueError):
    """A frame the widget should not have sent; ``code`` goes back in an error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hello:
    token: str | None
    conversation_id: str | None
    last_seq: int
    page: str | None


@dataclass(frozen=True)
class VisitorMessage:
    client_id: str
    text: str
    attachment_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurveyAnswer:
    token: str
    score: int
    comment: str


@dataclass(frozen=True)
class Profile:
    name: str | None
    email: str | None


def parse_hello(frame: dict[str, Any]) -> Hello:
    token = frame.get("token")
    conversation_id = frame.get("conversation_id")
    last_seq = frame.get("last_seq")
    page = frame.get("page")
    return Hello(
        token=token if isinstance(token, str) and token else None,
        conversation_id=conversation_id
        if isinstance(conversation_id, str) and 0 < len(conversation_id) <= 100
        else None,
        last_seq=last_seq if isinstance(last_seq, int) and last_seq >= 0 else 0,
        page=page[:MAX_PAGE] if isinstance(page, str) and page.startswith("http") else None,
    )


def parse_message(frame: dict[str, Any], max_length: int) -> VisitorMessage:
    client_id = frame.get("client_id")
    if not valid_client_id(client_id):
        raise FrameError("invalid_client_id", "client_id: 1-64 letters, digits, '-' or '_'")
    urls = _attachment_urls(frame.get("attachments"))
    text = frame.get("text", "")
    if not isinstance(text, str) or not (text.strip() or urls):
        raise FrameError("empty", "text: write something")
    if len(text) > max_length:
        raise FrameError("too_long", f"text: at most {max_length} characters")
    return VisitorMessage(client_id=client_id, text=text, attachment_urls=urls)  # type: ignore[arg-type]


def _attachment_urls(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise FrameError("invalid_attachment", f"attachments: at most {MAX_ATTACHMENTS} files")
    urls = []
    for item in value:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not 0 < len(url) <= 500:
            raise FrameError("invalid_attachment", "attachments: each one {url} of an upload")
        urls.append(url)
    return tuple(urls)


def parse_profile(frame: dict[str, Any]) -> Profile:
    name = frame.get("name")
    email = frame.get("email")
    if name is not None and not isinstance(name, str):
        raise FrameError("invalid_name", "name: must be text")
    if email is not None and not isinstance(email, str):
        raise FrameError("invalid_email", "email: must be text")
    name = " ".join((name or "").split())[:MAX_NAME] or None
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
        raise FrameError("invalid_email", "email: not an email address")
    return Profile(name=name, email=email)


def parse_survey_answer(frame: dict[str, Any]) -> SurveyAnswer:
    token = frame.get("token")
    score = frame.get("score")
    comment = frame.get("comment") or ""
    if not isinstance(token, str) or not _SURVEY_TOKEN.fullmatch(token):
        raise FrameError("invalid_token", "token: the survey's token")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise FrameError("invalid_score", "score: 1 to 5")
    if not isinstance(comment, str):
        raise FrameError("invalid_comment", "comment: must be text")
    if len(comment) > MAX_COMMENT:
        raise FrameError("too_long", f"comment: at most {MAX_COMMENT} characters")
    return SurveyAnswer(token=token, score=score, comment=comment.strip())


def split_survey(text: str) -> tuple[str, str | None]:
    """A system message's text without its survey link, and the link's token (or None)."""
    match = _SURVEY_LINK.search(text) if "/survey/" in text else None
    if match is None:
        return text, None
    return (text[: match.start()] + text[match.end() :]).strip(), match.group(1)


def visitor_view(
    message: dict[str, Any], link: Callable[[str], str] = str
) -> dict[str, Any] | None:
    """What the visitor may see of one logged message; None for notes and system events.
    ``link`` makes the gateway's own file URLs absolute (the widget runs on another site)."""
    direction = message.get("direction")
    if direction not in ("in", "out"):
        return None
    meta = message.get("meta") or {}
    view: dict[str, Any] = {
        "seq": message.get("seq"),
        "conversation_id": message.get("conversation_id"),
        "text": message.get("text") or "",
        "created_at": message.get("created_at"),
    }
    files = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    if files:
        view["attachments"] = [file_view(a, link) for a in files]
    if direction == "in":
        view["from"] = "visitor"
        view["client_id"] = meta.get("client_id")
    elif meta.get("system") or not message.get("author_name"):
        view["from"] = "system"
        mark_bot(view, meta)
    else:
        view["from"] = "agent"
        view["author_name"] = message.get("author_name")
    return view


def mark_bot(view: dict[str, Any], meta: dict[str, Any]) -> None:
    """Flags a system message's view as the bot's when its logged meta says so (only then:
    an agent's or a system message starting with the bot's label is none)."""
    if meta.get("bot") is not True:
        return
    text = str(view.get("text") or "")
    language = meta.get("language")
    if language not in BOT_LABEL:  # an answer logged before its language was
        language = next((k for k, label in BOT_LABEL.items() if text.startswith(label)), "zh")
    labels = (
        (BOT_LABEL[language], TRADITIONAL_LABEL) if language == "zh" else (BOT_LABEL[language],)
    )
    view["bot"] = True
    view["bot_language"] = language
    label = next((lb for lb in labels if text.startswith(lb)), "")
    view["text"] = text[len(label) :]


def file_view(attachment: dict[str, Any], link: Callable[[str], str] = str) -> dict[str, Any]:
    """An attachment as the widget shows it: a link it can open."""
    out = {k: attachment.get(k) for k in ("kind", "name", "content_type", "size")}
    out["url"] = link(str(attachment.get("url") or ""))
    return {k: v for k, v in out.items() if v is not None}
