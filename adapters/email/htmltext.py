"""HTML mail bodies: readable text for the agent, sanitized HTML for the console.

Mail clients wrap the quoted conversation in recognisable containers (Gmail's gmail_quote,
Apple Mail's blockquote type=cite, Outlook's divRplyFwdMsg...). The text converter marks where
the first one starts, so the quote can be cut without guessing from the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from html.parser import HTMLParser

import nh3

QUOTE_MARK = "\x00quote\x00"

_BLOCKS = frozenset(
    "address article aside blockquote center dd div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr main nav ol p pre section table tbody thead tfoot tr "
    "ul".split()
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
# Skipped for holding no text of the mail rather than code: a <body> (or any tag that belongs in
# the body) closes them, as browsers do; scripts send "<html><head><meta …><body>…</body></head>".
_HEAD_SKIP = frozenset({"head", "title"})
# Tags a <head> may hold: any other one starts the body.
_HEAD_TAGS = frozenset(
    "html head title meta link base style script noscript template xml basefont bgsound".split()
)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# xm_compose_origin_mail_container: QQ Mail's new web composer; original-content: QQ Mail's
# mobile web; isReplyContent: NetEase webmail
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "yahoo_quoted", "moz-cite-prefix", "qtdseparateline",
     "xm_compose_origin_mail_container"}
)  # fmt: skip
_QUOTE_IDS = frozenset(
    {"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container", "isforwardcontent",
     "isreplycontent", "original-content"}
)  # fmt: skip


class _TextBuilder(HTMLParser):
    def __init__(self, skip: frozenset[str] = _SKIP) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = skip
        self.out: list[str] = []
        self.skipping: list[str] = []  # the open skipped elements
        self.pre_depth = 0
        self.marked = False
        self.link_stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (
            self.skipping
            and tag not in _HEAD_TAGS
            and ":" not in tag  # Outlook's <o:p>, <w:WordDocument> in its head
            and all(open_tag in _HEAD_SKIP for open_tag in self.skipping)
        ):
            self.skipping.clear()  # the body began in a head or title never closed
        if tag in self.skip:
            if tag not in _VOID:
                self.skipping.append(tag)
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        if not self.marked and _is_quote(tag, a):
            self.out.append("\n" + QUOTE_MARK + "\n")
            self.marked = True
        if tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCKS:
            self.out.append("\n")
        if tag == "pre":
            self.pre_depth += 1
        if tag == "a":
            self.link_stack.append(a.get("href"))
        if tag == "img" and a.get("alt"):
            self.out.append(f"[{a['alt']}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skip:
            if tag in self.skipping:  # closes it and whatever it left open
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag) :]
            return
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag == "a" and self.link_stack:
            href = self.link_stack.pop()
            if href and href.startswith(("http://", "https://")) and not self._ends_with(href):
                self.out.append(f" <{href}>")
        if tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.pre_depth:
            data = re.sub(r"[ \t\r\n\f\u200b]+", " ", data)
        self.out.append(data)

    def _ends_with(self, href: str) -> bool:
        tail = "".join(self.out[-3:]).strip()
        return tail.endswith(href) or tail.endswith(href.split("://", 1)[-1])


def _is_quote(tag: str, attrs: dict[str, str]) -> bool:
    if tag == "blockquote" and attrs.get("type", "").lower() == "cite":
        return True
    classes = set(attrs.get("class", "").lower().split())
    if classes & _QUOTE_CLASSES:
        return True
    return attrs.get("id", "").lower() in _QUOTE_IDS


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body; the first quote container becomes QUOTE_MARK."""
    text = _convert(html, _SKIP)
    if not strip_marks(text) and html.strip():
        # Markup the skipping hid all of (an element never closed): the text with only code
        # (scripts, styles) skipped beats an empty message.
        text = _convert(html, _CODE)
    return text


_CODE = frozenset({"script", "style", "xml"})


def _convert(html: str, skip: frozenset[str]) -> str:
    builder = _TextBuilder(skip)
    try:
        builder.feed(html)
        builder.close()
    except Exception:  # HTMLParser is lenient; anything it still rejects becomes tag-less text
        return _tidy(re.sub(r"<[^>]*>", " ", html))
    return _tidy("".join(builder.out))


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_TAGS = (set(nh3.ALLOWED_TAGS) | {"font", "center", "u", "s", "span", "div"}) - {"area", "map"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}


def sanitize_html(html: str, *, image_url: Callable[[str], str | None] | None = None) -> str:
    """Safe HTML for the console: no scripts, styles, event handlers or remote images.

    ``image_url`` maps an <img src> (e.g. ``cid:...``) to a URL the gateway serves, or None to
    drop it: remote images would tell the sender when and where an agent opened the mail.
    """

    def _filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "img" and attr == "src":
            return image_url(value) if image_url else None
        return value

    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=set(_SKIP),
        attributes=_ATTRIBUTES,
        attribute_filter=_filter,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def cut_at_quote(text: str) -> tuple[str, str]:
    """Split html_to_text output at QUOTE_MARK: (reply, quoted)."""
    head, sep, tail = text.partition(QUOTE_MARK)
    if not sep:
        return text, ""
    return head.strip(), tail.strip()


def strip_marks(text: str, marks: Collection[str] = (QUOTE_MARK,)) -> str:
    for mark in marks:
        text = text.replace(mark, "")
    return _tidy(text)
