"""The literal strings a regular expression cannot match without: one of them is in every match.

A message that holds none of a pattern's strings cannot match it, so the pattern need not run
(the priority rules: gateway/classify.py). Read from Python's own parse of the pattern
(``re._parser``), lowercased for case-insensitive patterns run on lowercased text. Whatever this
cannot be sure of (a character class, an optional part, syntax only the ``regex`` module knows)
gives no strings, and the pattern then always runs: a wrong answer here could only be "none".
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser
from typing import Any

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_MAX_STRINGS = 64  # more alternatives than this: not worth indexing
Strings = set[str] | None


def required_literals(source: str) -> frozenset[str] | None:
    """Lowercase strings at least one of which every match of ``source`` (compiled
    case-insensitive) contains, or None when that cannot be said."""
    try:
        tree = _parser.parse(source, re.IGNORECASE)
    except Exception:  # regex-module syntax, or anything re reads otherwise: no promise
        return None
    found = _sequence(list(tree))
    if not found or "" in found:
        return None
    return frozenset(found)


def _sequence(items: list[Any]) -> Strings:
    """The most selective of what the parts of a sequence need (every part must match)."""
    best: Strings = None
    run: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av).lower())
            continue
        if run:
            best = _more_selective(best, {"".join(run)})
            run = []
        best = _more_selective(best, _element(op, av))
    if run:
        best = _more_selective(best, {"".join(run)})
    return best


def _element(op: Any, av: Any) -> Strings:
    if op is sre.SUBPATTERN:
        return _sequence(list(av[-1]))
    if op is sre.ATOMIC_GROUP:
        return _sequence(list(av))
    if op is sre.BRANCH:  # one of the branches matches: what each needs, together
        out: set[str] = set()
        for branch in av[1]:
            found = _sequence(list(branch))
            if not found:
                return None
            out |= found
        return out if len(out) <= _MAX_STRINGS else None
    if op in _REPEATS:
        low, _high, body = av
        return _sequence(list(body)) if low >= 1 else None
    if op is sre.IN:  # a class of single characters ([全都]), nothing wider
        chars = set()
        for kind, value in av:
            if kind is not sre.LITERAL:
                return None
            chars.add(chr(value).lower())
        return chars if len(chars) <= _MAX_STRINGS else None
    return None  # anchors, look-arounds, ".", "\d": they promise no string


def _more_selective(a: Strings, b: Strings) -> Strings:
    """The set whose shortest string is longest (fewer strings on a tie)."""
    if not a:
        return b
    if not b:
        return a
    return a if (min(map(len, a)), -len(a)) >= (min(map(len, b)), -len(b)) else b


class LiteralIndex:
    """Which of many patterns' strings a text holds. One substring test each: Python's C search
    costs ~50 ns a string on a short message, where one alternation of them all tried at each
    position (``re``) took 60 us on a sentence of English."""

    def __init__(self, strings: set[str]) -> None:
        self._strings = tuple(sorted(strings))

    def present(self, text: str) -> set[str]:
        return {s for s in self._strings if s in text}
