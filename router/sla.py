"""Priority classes and SLA targets (config/sla.toml): pure functions of class and channel."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ClassPolicy:
    name: str
    rank: int  # 0 = most urgent
    first_response: dict[str, int]
    next_response: dict[str, int]
    resolution: int
    supervisor: bool = False

    def first_response_seconds(self, channel_type: str) -> int:
        return self.first_response.get(channel_type, self.first_response["default"])

    def next_response_seconds(self, channel_type: str) -> int:
        return self.next_response.get(channel_type, self.next_response["default"])


@dataclass(frozen=True)
class SlaPolicy:
    classes: dict[str, ClassPolicy]
    weights: dict[str, float] = field(default_factory=lambda: {"default": 1.0})

    def rank(self, class_name: str) -> int:
        policy = self.classes.get(class_name)
        return policy.rank if policy else len(self.classes)

    def most_urgent(self, names: list[str]) -> str:
        return min(names, key=self.rank)

    def first_response_due(self, class_name: str, channel_type: str, since_ms: int) -> int:
        policy = self.classes.get(class_name) or self.classes["normal"]
        return since_ms + policy.first_response_seconds(channel_type) * 1000

    def weight(self, channel_type: str) -> float:
        return self.weights.get(channel_type, self.weights.get("default", 1.0))


def load_sla(path: Path) -> SlaPolicy:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    classes: dict[str, ClassPolicy] = {}
    for rank, (name, spec) in enumerate(data.get("classes", {}).items()):
        classes[name] = ClassPolicy(
            name=name,
            rank=rank,
            first_response=dict(spec["first_response"]),
            next_response=dict(spec.get("next_response", spec["first_response"])),
            resolution=int(spec.get("resolution", 172800)),
            supervisor=bool(spec.get("supervisor", False)),
        )
    if "normal" not in classes:
        raise ValueError(f"{path}: a 'normal' class is required")
    return SlaPolicy(classes=classes, weights=dict(data.get("weights", {"default": 1.0})))
