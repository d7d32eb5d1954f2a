"""Benchmark: knowledge-base retrieval and the self-service decision on a labelled set.

The set lives in bench/kb_set/: articles.md (imported with the gateway's own Markdown importer)
and questions.toml (questions per article written many ways, out-of-scope questions, hand-off
messages), plus synonyms.txt when present (as admins would add them). Every question goes
through the same code as production: gateway.kb.handoff (with config/priority_rules.toml)
then gateway.kb.retrieval.

Prints:
- top-1 / top-3: the right article ranked first / in the first three (retrieval alone);
- answered right / answered wrong: what self-service would do with the in-scope questions
  (answer only when confident; wrong = confident on another article);
- out-of-scope wrongly answered: the share of questions no article answers that would get one;
- hand-off recall: hand-off messages that would not be answered (and those a rule names);
- retrieval latency (p50, p99) on 5,000 articles, and index build time, beside a baseline: a
  scan of character-bigram overlap without segmentation, folding or an index (what a
  ``LIKE``-style search does), whose accuracy is printed too.

    .venv/bin/python bench/kb_retrieval.py [--articles 5000] [--queries 3000] [--misses]
        [--no-synonyms]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.classify import load_classifier  # noqa: E402
from gateway.kb.handoff import handoff_reason  # noqa: E402
from gateway.kb.retrieval import Retriever  # noqa: E402
from gateway.kb.transfer import parse_markdown  # noqa: E402
from gateway.textsearch import fold  # noqa: E402
from router.sla import load_sla  # noqa: E402

SET = Path(__file__).resolve().parent / "kb_set"
TARGETS = {"top1": 0.85, "top3": 0.95, "oos_wrong": 0.05, "handoff": 1.0, "p99_ms": 20.0}


def load_set() -> tuple[list[dict], list[list[str]], dict]:
    parsed = parse_markdown((SET / "articles.md").read_text(encoding="utf-8"))
    if parsed.errors:
        raise SystemExit(f"articles.md: {parsed.errors}")
    articles = [{"id": article_id, **body.model_dump()} for _, article_id, body in parsed.rows]
    synonyms_file = SET / "synonyms.txt"
    synonyms = []
    if synonyms_file.exists():
        for line in synonyms_file.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                synonyms.append([t.strip() for t in line.replace("，", ",").split(",")])
    questions = tomllib.loads((SET / "questions.toml").read_text(encoding="utf-8"))
    return articles, synonyms, questions


def classifier():
    sla = load_sla(ROOT / "config" / "sla.toml")
    return load_classifier(ROOT / "config" / "priority_rules.toml", list(sla.classes))


def decide(text: str, retriever: Retriever, rules) -> tuple[str, str | None]:
    """('handoff', reason) or ('answer', article id): what self-service would do."""
    verdict = rules.classify(text, channel_type="webchat")
    reason = handoff_reason(text, verdict.class_name, verdict.rule, rules)
    if reason:
        return "handoff", reason
    matches = retriever.search(text, 1)
    if not matches:
        return "handoff", "no_article"
    if not matches[0].confident:
        return "handoff", "not_confident"
    return "answer", matches[0].article_id


def bigrams(text: str) -> set[str]:
    text = "".join(ch for ch in text.lower() if ch.isalnum())
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def baseline_search(question: str, corpus: list[tuple[str, set[str]]], k: int = 3) -> list[str]:
    """Overlap of character bigrams, no segmentation nor folding nor index: a full scan."""
    q = bigrams(question)
    scored = [(len(q & grams) / (len(q) or 1), doc_id) for doc_id, grams in corpus]
    scored = [s for s in scored if s[0] > 0]
    scored.sort(reverse=True)
    return [doc_id for _, doc_id in scored[:k]]


def synthetic(articles: list[dict], n: int, seed: int = 7) -> list[dict]:
    """``n`` articles: the set's own plus generated ones made of its sentences and words,
    each with a distinct model name, so the index has the set's vocabulary at scale."""
    rng = random.Random(seed)
    sentences = [s for a in articles for s in a["body"].replace("。", "。\n").split("\n") if s]
    words = [w for a in articles for w in a["tags"]]
    out = list(articles)
    for i in range(n - len(articles)):
        model = f"M{i:05d}"
        out.append(
            {
                "id": f"gen{i}",
                "title": f"{model} {' '.join(rng.sample(words, 2))}",
                "body": " ".join(rng.sample(sentences, 4)),
                "language": "zh",
                "tags": [*rng.sample(words, 3), model],
                "product": model,
            }
        )
    return out


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--misses", action="store_true", help="list every miss")
    ap.add_argument("--no-synonyms", action="store_true", help="without synonyms.txt")
    args = ap.parse_args()

    articles, synonyms, questions = load_set()
    if args.no_synonyms:
        synonyms = []
    rules = classifier()
    started = time.perf_counter()
    retriever = Retriever(articles, synonyms)
    build_small = time.perf_counter() - started
    answers: dict[str, list[str]] = questions["answers"]
    oos: list[str] = questions["sets"]["out_of_scope"]
    handoffs: list[str] = questions["sets"]["handoff"]
    unknown = [a for a in answers if a not in retriever.articles]
    if unknown:
        raise SystemExit(f"questions.toml names unknown articles: {unknown}")

    corpus = [
        (a["id"], bigrams(" ".join([a["title"], " ".join(a["tags"]), a["body"]]))) for a in articles
    ]
    total = top1 = top3 = right = wrong = base1 = base3 = 0
    misses = []
    for article_id, texts in answers.items():
        for text in texts:
            total += 1
            ranked = [m.article_id for m in retriever.search(text, 3)]
            top1 += ranked[:1] == [article_id]
            top3 += article_id in ranked
            action, value = decide(text, retriever, rules)
            right += action == "answer" and value == article_id
            wrong += action == "answer" and value != article_id
            base = baseline_search(text, corpus)
            base1 += base[:1] == [article_id]
            base3 += article_id in base
            if ranked[:1] != [article_id] or action != "answer":
                misses.append(f"  {text!r}: want {article_id}, top3 {ranked}, {action} {value}")
    oos_wrong = 0
    for text in oos:
        action, value = decide(text, retriever, rules)
        if action == "answer":
            oos_wrong += 1
            misses.append(f"  out of scope answered: {text!r} -> {value}")
    caught = named = 0
    reasons: dict[str, int] = {}
    for text in handoffs:
        action, value = decide(text, retriever, rules)
        if action == "handoff":
            caught += 1
            reasons[value or "?"] = reasons.get(value or "?", 0) + 1
            named += value not in ("not_confident", "no_article")
        else:
            misses.append(f"  hand-off answered: {text!r} -> {value}")

    # Latency on a big knowledge base.
    big = synthetic(articles, args.articles)
    started = time.perf_counter()
    big_retriever = Retriever(big, synonyms)
    build_big = time.perf_counter() - started
    big_corpus = [
        (a["id"], bigrams(" ".join([a["title"], " ".join(a["tags"]), a["body"]]))) for a in big
    ]
    pool = [t for texts in answers.values() for t in texts] + oos + handoffs
    rng = random.Random(1)
    queries = [rng.choice(pool) + rng.choice(["", "？", " 请问", "!"]) for _ in range(args.queries)]
    fold.cache_clear()
    times = []
    for q in queries:
        t = time.perf_counter()
        big_retriever.search(q, 3)
        times.append((time.perf_counter() - t) * 1000)
    base_times = []
    for q in queries[: max(200, args.queries // 10)]:
        t = time.perf_counter()
        baseline_search(q, big_corpus)
        base_times.append((time.perf_counter() - t) * 1000)
    big_top1 = sum(
        [m.article_id for m in big_retriever.search(t, 1)] == [a]
        for a, texts in answers.items()
        for t in texts
    )

    def mark(ok: bool) -> str:
        return "ok " if ok else "MISS"

    n_oos, n_h = len(oos), len(handoffs)
    print(f"labelled set: {len(articles)} articles, {total} in-scope questions, "
          f"{n_oos} out-of-scope, {n_h} hand-off messages; "
          f"{len(synonyms)} synonym groups")  # fmt: skip
    print(f"[{mark(top1 / total >= TARGETS['top1'])}] top-1      {top1 / total:6.1%}"
          f"   (target >= 85%; baseline {base1 / total:.1%})")  # fmt: skip
    print(f"[{mark(top3 / total >= TARGETS['top3'])}] top-3      {top3 / total:6.1%}"
          f"   (target >= 95%; baseline {base3 / total:.1%})")  # fmt: skip
    print(f"       self-service on in-scope: answered right {right / total:.1%}, "
          f"answered wrong {wrong / total:.1%}, "
          f"handed to a person {1 - (right + wrong) / total:.1%}")  # fmt: skip
    print(f"[{mark(oos_wrong / n_oos <= TARGETS['oos_wrong'])}] out-of-scope wrongly answered "
          f"{oos_wrong / n_oos:6.1%} ({oos_wrong}/{n_oos}; target <= 5%)")  # fmt: skip
    print(f"[{mark(caught == n_h)}] hand-off recall {caught / n_h:6.1%} ({caught}/{n_h}; "
          f"by a rule {named}/{n_h}; target 100%) {reasons}")  # fmt: skip
    p50, p99 = percentile(times, 50), percentile(times, 99)
    print(f"[{mark(p99 < TARGETS['p99_ms'])}] retrieval on {len(big)} articles: p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms over {len(times)} queries (target p99 < 20 ms); top-1 there "
          f"{big_top1 / total:.1%}")  # fmt: skip
    print(f"       baseline scan on {len(big)} articles: p50 {percentile(base_times, 50):.2f} ms, "
          f"p99 {percentile(base_times, 99):.2f} ms")  # fmt: skip
    print(f"       index build: {build_small * 1000:.0f} ms for {len(articles)} articles, "
          f"{build_big:.2f} s for {len(big)}")  # fmt: skip
    if args.misses and misses:
        print("misses:")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
