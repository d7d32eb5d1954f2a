"""BM25 over analyzed tokens (bm25s), with the coverage figure confidence needs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from gateway.textsearch.analyzer import Analyzer

# (text, weight): a field of a document; a weight of 2 counts its tokens twice.
Field = tuple[str, int]
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # BM25
    coverage: float  # 0..1: IDF-weighted share of the query's words found in the document


class SearchIndex:
    """An immutable index of documents; build a new one when they change (about 2 s for
    5,000 articles, off the event loop; see bench/kb_retrieval.py).

    Coverage counts the query's *words* (not its character bigrams), each weighted by its
    IDF (a word no document has counts as the rarest): a word the document has counts whole;
    a Chinese word it lacks counts by the share of its character bigrams (or, for one
    character, the character) the document has, when that is at least half (a typo: 卡址 for
    卡纸). An English word no document has is read as a known word one edit away, if any
    (``pasword`` -> ``password``)."""

    def __init__(self, analyzer: Analyzer, docs: Iterable[tuple[str, Sequence[Field]]]) -> None:
        self.analyzer = analyzer
        self.ids: list[str] = []
        self._token_sets: list[frozenset[str]] = []
        self._chars: list[frozenset[str]] = []
        corpus: list[list[str]] = []
        df: Counter[str] = Counter()
        for doc_id, fields in docs:
            tokens: list[str] = []
            for text, weight in fields:
                tokens.extend(analyzer.tokens(text) * max(1, weight))
            unique = frozenset(tokens)
            df.update(unique)
            self.ids.append(doc_id)
            self._token_sets.append(unique)
            self._chars.append(frozenset("".join(t for t in unique if t.startswith("~"))))
            corpus.append(tokens or [""])
        self.size = len(self.ids)
        self._df = df
        self._english = {t for t in df if t.isascii() and t.isalpha()}
        self._bm25: bm25s.BM25 | None = None
        if corpus:
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def idf(self, token: str) -> float:
        """BM25's IDF; a token no document has counts as the rarest."""
        n, df = self.size, self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def correct(self, token: str) -> str:
        """An English word no document has -> a known word one edit away (the most common)."""
        if token in self._df or not (token.isascii() and token.isalpha()) or len(token) < 4:
            return token
        splits = [(token[:i], token[i:]) for i in range(len(token) + 1)]
        candidates = {a + b[1:] for a, b in splits if b}
        candidates |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        candidates |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
        candidates |= {a + c + b for a, b in splits for c in _LETTERS}
        known = [c for c in candidates if c in self._english]
        return max(known, key=lambda c: (self._df[c], c)) if known else token

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best documents for ``query`` with a positive score, best first."""
        if self._bm25 is None:
            return []
        tokens = [self.correct(t) for t in self.analyzer.tokens(query)]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        words = {t: self.idf(t) for t in tokens if not t.startswith("~")}
        total = sum(words.values()) or 1.0
        hits = []
        for i in top:
            score = float(scores[i])
            if score <= 0:
                break
            covered = sum(w * self._credit(t, i) for t, w in words.items())
            hits.append(Hit(self.ids[i], score, covered / total))
        return hits

    def _credit(self, word: str, doc: int) -> float:
        found = self._token_sets[doc]
        if word in found:
            return 1.0
        if word.isascii():
            return 0.0
        if len(word) == 1:
            return 1.0 if word in self._chars[doc] else 0.0
        grams = ["~" + word[i : i + 2] for i in range(len(word) - 1)]
        share = sum(g in found for g in grams) / len(grams)
        return share if share >= 0.5 else 0.0
