"""Which article answers a question, and how sure we are (docs/knowledge-base.md).

BM25 (gateway/textsearch) ranks the articles. A score alone says little: it grows with the
length of the question and the rarity of its words. Two figures make it meaningful:

- **coverage**: the share of the question's information (its tokens weighted by IDF, a word no
  article has counting as the rarest) that the best article contains. "你们老板是谁" shares
  only common words with any article: low coverage.
- **margin**: how far the best article is ahead of the second, ``(s1 - s2) / s1``. Two articles
  matching equally well mean the question is ambiguous.

``confidence = coverage * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin)``; an answer is
*confident* when confidence >= ``min_confidence`` and coverage >= ``min_coverage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.textsearch import Analyzer, SearchIndex, Synonyms

MARGIN_WEIGHT = 0.5
MIN_CONFIDENCE = 0.4
MIN_COVERAGE = 0.45
# Field weights: a title or tag word counts as several body words.
TITLE_WEIGHT, TAG_WEIGHT, BODY_WEIGHT = 3, 2, 1


@dataclass(frozen=True)
class Match:
    article_id: str
    score: float
    coverage: float
    margin: float
    confidence: float
    confident: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "score": round(self.score, 4),
            "coverage": round(self.coverage, 4),
            "margin": round(self.margin, 4),
            "confidence": round(self.confidence, 4),
            "confident": self.confident,
        }


def article_fields(article: dict[str, Any]) -> list[tuple[str, int]]:
    tags = " ".join(article.get("tags") or [])
    return [
        (article["title"], TITLE_WEIGHT),
        (tags + " " + (article.get("product") or ""), TAG_WEIGHT),
        (article["body"], BODY_WEIGHT),
    ]


class Retriever:
    """An index of articles, immutable: build another when they change."""

    def __init__(
        self,
        articles: Iterable[dict[str, Any]],
        synonyms: Iterable[Iterable[str]] = (),
        *,
        min_confidence: float = MIN_CONFIDENCE,
        min_coverage: float = MIN_COVERAGE,
    ) -> None:
        self.articles = {a["id"]: a for a in articles}
        self.analyzer = Analyzer(Synonyms(synonyms))
        self.index = SearchIndex(
            self.analyzer, ((i, article_fields(a)) for i, a in self.articles.items())
        )
        self.min_confidence = min_confidence
        self.min_coverage = min_coverage

    def search(self, question: str, k: int = 3) -> list[Match]:
        """The ``k`` best articles, each with its confidence as if it were the answer. The
        margin of the best is over the next article *in its language*: the same answer in
        another language is no competitor."""
        hits = self.index.search(question, max(k, 5))
        out = []
        for i, hit in enumerate(hits[:k]):
            margin = 0.0  # only the best has one: the others are behind it
            if i == 0:
                language = self.articles[hit.id].get("language")
                rivals = [
                    h.score for h in hits[1:] if self.articles[h.id].get("language") == language
                ]
                margin = (hit.score - (rivals[0] if rivals else 0.0)) / hit.score
            confidence = hit.coverage * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin)
            confident = (
                i == 0 and confidence >= self.min_confidence and hit.coverage >= self.min_coverage
            )
            out.append(Match(hit.id, hit.score, hit.coverage, margin, confidence, confident))
        return out

    def answer(self, question: str) -> Match | None:
        """The best article when it is a confident answer, else None."""
        matches = self.search(question, 1)
        return matches[0] if matches and matches[0].confident else None
