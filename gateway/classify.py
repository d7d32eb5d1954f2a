"""Priority classification of an inbound message by the rules in config/priority_rules.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rule:
    name: str
    class_name: str
    keywords: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    meta_flags: tuple[str, ...] = ()

    def matches(self, text: str, tier: str | None, meta: dict[str, Any]) -> bool:
        if self.keywords and any(k in text for k in self.keywords):
            return True
        if self.tiers and tier and tier.lower() in self.tiers:
            return True
        return bool(self.meta_flags and any(meta.get(f) for f in self.meta_flags))


@dataclass(frozen=True)
class Classification:
    class_name: str
    rule: str | None


@dataclass(frozen=True)
class Classifier:
    rules: tuple[Rule, ...]
    default_class: str
    rank: dict[str, int]  # class -> 0 for the most urgent

    def classify(
        self, text: str, tier: str | None = None, meta: dict[str, Any] | None = None
    ) -> Classification:
        lowered = text.lower()
        best = Classification(self.default_class, None)
        for rule in self.rules:
            if not rule.matches(lowered, tier, meta or {}):
                continue
            if self.rank.get(rule.class_name, 99) < self.rank.get(best.class_name, 99):
                best = Classification(rule.class_name, rule.name)
        return best


def load_classifier(path: Path, class_order: list[str]) -> Classifier:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rank = {name: i for i, name in enumerate(class_order)}
    rules = []
    for spec in data.get("rules", []):
        if spec["class"] not in rank:
            raise ValueError(f"{path}: rule {spec['name']!r} names unknown class {spec['class']!r}")
        rules.append(
            Rule(
                name=spec["name"],
                class_name=spec["class"],
                keywords=tuple(k.lower() for k in spec.get("keywords", [])),
                tiers=tuple(t.lower() for t in spec.get("tiers", [])),
                meta_flags=tuple(spec.get("meta_flags", [])),
            )
        )
    return Classifier(tuple(rules), data.get("default_class", "normal"), rank)
