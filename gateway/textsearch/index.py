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


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # BM25
    coverage: float  # 0..1: IDF-weighted share of the query's tokens found in the document


class SearchIndex:
    """An immutable index of documents; build a new one when they change (fast enough: about
    a second for 5,000 articles; see bench/kb_retrieval.py)."""

    def __init__(self, analyzer: Analyzer, docs: Iterable[tuple[str, Sequence[Field]]]) -> None:
        self.analyzer = analyzer
        self.ids: list[str] = []
        self._token_sets: list[frozenset[str]] = []
        corpus: list[list[str]] = []
        df: Counter[str] = Counter()
        for doc_id, fields in docs:
            tokens: list[str] = []
            for text, weight in fields:
                field_tokens = analyzer.tokens(text)
                tokens.extend(field_tokens * max(1, weight))
            unique = frozenset(tokens)
            df.update(unique)
            self.ids.append(doc_id)
            self._token_sets.append(unique)
            corpus.append(tokens or [""])
        self.size = len(self.ids)
        self._df = df
        self._bm25: bm25s.BM25 | None = None
        if corpus:
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def idf(self, token: str) -> float:
        """BM25's IDF; a token no document has counts as the rarest."""
        n, df = self.size, self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best documents for ``query`` with a positive score, best first."""
        if self._bm25 is None:
            return []
        tokens = self.analyzer.tokens(query)
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        unique = set(tokens)
        weights = {t: self.idf(t) for t in unique}
        total = sum(weights.values()) or 1.0
        hits = []
        for i in top:
            score = float(scores[i])
            if score <= 0:
                break
            found = self._token_sets[i]
            covered = sum(w for t, w in weights.items() if t in found)
            hits.append(Hit(self.ids[i], score, covered / total))
        return hits
