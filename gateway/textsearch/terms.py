"""Which of a query's tokens a document must hold, and the extra terms of short fields
(names, handles, phone numbers) that make partial input find them.

A query's tokens are the ``Analyzer``'s: Chinese words and character bigrams (``~`` marked),
English stems and numbers. A document *matches* when it holds every required term:

- every character bigram (they do not depend on how the document was segmented: 發票 in any
  sentence gives the bigram 发票 once folded);
- every non-Chinese token (English stems, numbers, ``example.com``);
- a Chinese word only when the query has no bigram (a single character, e.g. 票).
"""

from __future__ import annotations

import re

_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_cjk(token: str) -> bool:
    return bool(_CJK_CHAR.match(token))


def required_terms(tokens: list[str]) -> list[str]:
    """The terms a document must hold to match a query of these tokens (no repeats)."""
    bigrams = [t for t in tokens if t.startswith("~")]
    other = [t for t in tokens if not t.startswith("~") and not is_cjk(t)]
    words = [t for t in tokens if not t.startswith("~") and is_cjk(t)]
    return list(dict.fromkeys(bigrams + other + ([] if bigrams else words)))


def index_terms(tokens: list[str]) -> set[str]:
    """The terms of a document worth keeping for ``required_terms``: a Chinese word of two or
    more characters is never required (its bigrams are), so it is left out (a third fewer
    postings for Chinese text)."""
    return {t for t in tokens if t.startswith("~") or len(t) == 1 or not is_cjk(t)}


def partial_terms(tokens: list[str], min_prefix: int = 2, suffix: int = 4) -> set[str]:
    """Extra terms of a short field: each Chinese character (张 finds 张伟), the prefixes of
    each other token (ali finds alice, 1380013 finds 13800138000) and the last four digits of
    a longer number (8000 finds the phone that ends so: 尾号 8000)."""
    out: set[str] = set()
    for token in tokens:
        if token.startswith("~"):
            continue
        if is_cjk(token):
            out.update(ch for ch in token if _CJK_CHAR.match(ch))
            continue
        out.update(token[:i] for i in range(min_prefix, len(token)))
        if token.isdigit() and len(token) > suffix:
            out.add(token[-suffix:])
    return out
