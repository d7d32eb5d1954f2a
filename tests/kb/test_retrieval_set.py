"""The labelled set of bench/kb_retrieval.py holds its targets (a regression guard: a change
of the analyzer or the confidence that loses them fails here)."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.kb.retrieval import Retriever

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import kb_retrieval as bench


def test_labelled_set_meets_the_targets() -> None:
    articles, synonyms, questions = bench.load_set()
    retriever = Retriever(articles, synonyms)
    rules = bench.classifier()
    answers = questions["answers"]
    total = sum(len(t) for t in answers.values())
    top1 = sum(
        [m.article_id for m in retriever.search(t, 1)] == [a]
        for a, texts in answers.items()
        for t in texts
    )
    top3 = sum(
        a in [m.article_id for m in retriever.search(t, 3)]
        for a, texts in answers.items()
        for t in texts
    )
    assert top1 / total >= 0.85 and top3 / total >= 0.95
    oos = questions["sets"]["out_of_scope"]
    answered = [t for t in oos if bench.decide(t, retriever, rules)[0] == "answer"]
    assert len(answered) / len(oos) <= 0.05, answered
    handoffs = questions["sets"]["handoff"]
    assert all(bench.decide(t, retriever, rules)[0] == "handoff" for t in handoffs)


def test_confidence_figures() -> None:
    retriever = Retriever(
        [
            {"id": "a", "title": "如何申请退款", "body": "在订单页点击申请退款", "language": "zh"},
            {
                "id": "b",
                "title": "How to request a refund",
                "body": "Open orders",
                "language": "en",
            },
            {"id": "c", "title": "退款规则", "body": "退款原路返回", "language": "zh"},
        ]
    )
    best = retriever.search("怎么申请退款", 3)[0]
    assert best.article_id == "a" and best.coverage == 1.0 and 0 < best.margin < 1
    # The English article is no rival of a Chinese answer: margin against "c" only.
    english = retriever.search("refund request", 1)[0]
    assert english.article_id == "b" and english.margin == 1.0 and english.confident
    assert retriever.answer("你们老板是谁") is None
