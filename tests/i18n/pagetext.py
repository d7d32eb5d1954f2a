"""What a person sees on a page, and the English words in it.

``visible_text`` walks every visible text node of the page and of the widget's shadow root,
plus placeholders and the chosen option of each select; code (embed snippets, webhook URLs)
and hidden elements are left out. ``english_words`` finds Latin words outside an allow-list of
product, platform and protocol names, after taking out what is data rather than interface:
template variables, e-mail addresses, URLs, ids and numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

VISIBLE_TEXT_JS = """() => {
  const out = [];
  const roots = [document];
  for (const host of document.querySelectorAll('[data-gateway-chat]')) {
    if (host.shadowRoot) roots.push(host.shadowRoot);
  }
  const shown = (el) => {
    if (!el || el.getClientRects().length === 0) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none' && style.opacity !== '0';
  };
  for (const root of roots) {
    const top = root === document ? document.body : root;
    const walker = document.createTreeWalker(top, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || el.closest('code, pre, script, style, select, title')) continue;
      if (shown(el)) out.push(node.textContent);
    }
    for (const el of top.querySelectorAll('input[placeholder], textarea[placeholder]')) {
      if (shown(el)) out.push(el.placeholder);
    }
    for (const el of top.querySelectorAll('select')) {
      if (shown(el) && el.selectedOptions[0]) out.push(el.selectedOptions[0].textContent);
    }
    for (const el of top.querySelectorAll('svg text')) out.push(el.textContent);
  }
  out.push(document.title);
  return out.join('\\n');
}"""

# Names that stay as they are in Chinese text: products, platforms, protocols, file formats,
# metrics, and the name of the English language in its own words (the language menu).
ALLOWED = {
    "WeChat", "QQ", "CSAT", "SLA", "Weibo", "X", "Mastodon", "API", "CSV", "Markdown", "JSON",
    "Webhook", "HTTPS", "https", "http", "IP", "ID", "AppID", "AppSecret", "IMAP", "SMTP",
    "OAuth", "OAuth2", "TLS", "UID", "URL", "IDLE", "AES", "HMAC", "Bearer", "KB", "MB", "p",
    "English", "Secret", "Forwarded", "For", "zh", "en", "CN", "TW", "auto", "VIP",
}  # fmt: skip
_DATA = re.compile(
    r"\{\{[^}]*\}\}"  # template variables agents type ({{customer.name}})
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\b[a-z][a-z0-9+.-]*://\S+"  # URLs
    r"|\S*[\d_]\S*"  # ids, numbers, times, anything with a digit or an underscore
)
_WORD = re.compile(r"[A-Za-z]+")


def english_words(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    cleaned = _DATA.sub(" ", text)
    return sorted({w for w in _WORD.findall(cleaned) if w not in ALLOWED and w not in allowed})


async def visible_text(page: Any) -> str:
    return str(await page.evaluate(VISIBLE_TEXT_JS))


async def check_page(
    page: Any,
    lang: str,
    shots: Path,
    name: str,
    *,
    allowed: set[str] | frozenset[str] = frozenset(),
) -> str:
    """One screenshot per page and language in artifacts/screenshots/; in a Chinese language
    no English word may be visible, in any language no catalogue key (a missing text)."""
    await page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
    text = await visible_text(page)
    keys = re.findall(r"\b(?:console|customer|reports|errors)(?:\.[a-z_-]+){2,}", text)
    assert keys == [], f"{name} ({lang}) shows catalogue keys: {keys}"
    if lang.startswith("zh"):
        found = english_words(text, allowed)
        assert found == [], f"{name} ({lang}) shows English words: {found}\n---\n{text}"
    return text
