"""The console's top bar for an admin (the most links) at common desktop widths, in English
(the longest words) and Chinese, in a real Chromium: no link or button breaks inside its words,
every navigation link sits on one line, and nothing is wider than the window."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.console.uxkit import sign_in, user

pytestmark = pytest.mark.browser

# Each link's and button's height against one line of its text, and the links' tops.
MEASURE = """() => {
  const items = [...document.querySelectorAll('.topbar nav a, .topbar button, .topbar .presence')]
    .filter((el) => el.offsetParent !== null);
  const broken = items.filter((el) => {
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
    return el.getBoundingClientRect().height - parseFloat(style.paddingTop)
      - parseFloat(style.paddingBottom) > line * 1.5;
  }).map((el) => el.textContent.trim());
  const links = [...document.querySelectorAll('.topbar nav a')].filter((a) => a.offsetParent);
  const tops = new Set(links.map((a) => Math.round(a.getBoundingClientRect().top)));
  return { broken, rows: tops.size, links: links.length,
           fits: document.documentElement.scrollWidth <= innerWidth };
}"""


@pytest.mark.parametrize("width", [1280, 1440])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_the_top_bar_keeps_its_words_whole(
    gateway: Harness, new_page, width: int, locale: str
):
    await user(gateway, "ada@example.com", "Ada Lovelace", role="admin")
    bp = await new_page(locale=locale)
    page = await sign_in(bp, gateway, "ada@example.com", {"width": width, "height": 900})
    found = await page.evaluate(MEASURE)
    assert found["broken"] == [] and found["fits"], found
    assert found["links"] >= 9 and found["rows"] == 1, found
