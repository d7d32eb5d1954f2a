"""Sort keys for names, shortcuts, tags and teams that are stable for Chinese: Unicode-folded
(full-width letters and digits as half-width, case folded) and then the text itself, so equal
folds keep one fixed order. (The console sorts by pinyin with Intl.Collator; the API's order
is this deterministic one.)"""

from __future__ import annotations

import unicodedata


def sort_key(text: str) -> tuple[str, str]:
    return unicodedata.normalize("NFKC", text).casefold(), text
