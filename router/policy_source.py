"""Where the SLA policy and the classification rules in force come from: the admins' copies in
Redis (edited through the API), else the config/ files. Cached for a few seconds, so every
process picks up an edit within ``refresh_seconds`` without a round trip per message."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.classify import (
    Classifier,
    RulesError,
    check_pattern_speed,
    load_classifier,
    parse_rules,
)
from gateway.keys import Keys
from router.sla import SlaConfigError, SlaPolicy, load_sla, parse_sla, sla_to_doc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policies:
    sla: SlaPolicy
    classifier: Classifier
    sla_source: str  # redis / file
    rules_source: str


class PolicySource:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        sla_fallback: SlaPolicy,
        classifier_fallback: Classifier,
        *,
        refresh_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.sla_fallback = sla_fallback
        self.classifier_fallback = classifier_fallback
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._cached: Policies | None = None
        self._loaded_at = 0.0

    @classmethod
    def from_config(cls, redis: Redis, keys: Keys, **kwargs: Any) -> PolicySource:
        """File fallbacks from the shipped config/ folder."""
        from gateway.settings import config_dir

        sla = load_sla(config_dir() / "sla.toml")
        rules = load_classifier(config_dir() / "priority_rules.toml", _order(sla))
        return cls(redis, keys, sla, rules, **kwargs)

    def invalidate(self) -> None:
        self._cached = None

    async def current(self) -> Policies:
        now = self._monotonic()
        if self._cached is None or now - self._loaded_at >= self.refresh_seconds:
            self._cached = await self._load()
            self._loaded_at = now
        return self._cached

    async def sla(self) -> SlaPolicy:
        return (await self.current()).sla

    async def classifier(self) -> Classifier:
        return (await self.current()).classifier

    async def _docs(self) -> tuple[Any, Any]:
        sla_raw, rules_raw = await self.redis.mget(
            [self.keys.sla_policy(), self.keys.priority_rules()]
        )
        return (
            json.loads(sla_raw) if sla_raw else None,
            json.loads(rules_raw) if rules_raw else None,
        )

    async def _load(self) -> Policies:
        sla_doc, rules_doc = await self._docs()
        sla, sla_source = self.sla_fallback, "file"
        if sla_doc is not None:
            try:
                sla, sla_source = parse_sla(sla_doc), "redis"
            except SlaConfigError:  # validated when stored; a hand edit may break it
                log.exception("stored SLA policy is invalid; using the config file")
        classifier, rules_source = self.classifier_fallback.with_classes(_order(sla)), "file"
        if rules_doc is not None:
            try:
                classifier, rules_source = parse_rules(rules_doc, _order(sla)), "redis"
            except RulesError:
                log.exception("stored classification rules are invalid; using the config file")
        return Policies(sla, classifier, sla_source, rules_source)

    # --- admin edits -----------------------------------------------------------------------
    async def put_sla(self, doc: Any) -> SlaPolicy:
        """Validate and store; the rules in force must still name existing classes."""
        sla = parse_sla(doc)
        current = await self._load()
        rules_doc = (await self._docs())[1]
        try:
            if rules_doc is not None:
                parse_rules(rules_doc, _order(sla))
            else:
                _check_classes(current.classifier, sla)
        except RulesError as exc:
            raise SlaConfigError(f"classes: the classification rules need them: {exc}") from None
        await self.redis.set(self.keys.sla_policy(), json.dumps(sla_to_doc(sla)))
        self.invalidate()
        return sla

    async def put_rules(self, doc: Any) -> Classifier:
        sla = (await self._load()).sla
        classifier = parse_rules(doc, _order(sla))
        check_pattern_speed(classifier)  # a pattern runs on every customer message
        await self.redis.set(self.keys.priority_rules(), json.dumps(classifier.doc))
        self.invalidate()
        return classifier

    async def reset_sla(self) -> None:
        rules_doc = (await self._docs())[1]
        if rules_doc is not None:
            try:
                parse_rules(rules_doc, _order(self.sla_fallback))
            except RulesError as exc:
                raise SlaConfigError(
                    f"the stored rules need classes the file lacks: {exc}"
                ) from None
        await self.redis.delete(self.keys.sla_policy())
        self.invalidate()

    async def reset_rules(self) -> None:
        await self.redis.delete(self.keys.priority_rules())
        self.invalidate()


def _order(sla: SlaPolicy) -> list[str]:
    return [c.name for c in sorted(sla.classes.values(), key=lambda c: c.rank)]


def _check_classes(classifier: Classifier, sla: SlaPolicy) -> None:
    names = {r.class_name for r in classifier.rules if r.class_name}
    names |= {d.class_name for d in classifier.channel_defaults.values() if d.class_name}
    names.add(classifier.default_class)
    missing = sorted(n for n in names if n not in sla.classes)
    if missing:
        raise RulesError(f"unknown class {missing[0]!r}")
