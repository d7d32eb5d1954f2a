"""Priority classification of an inbound message by rules (config/priority_rules.toml, or the
admins' copy in Redis).

A rule matches when any of its conditions does: a keyword (case-insensitive, Chinese or
English), a regular expression, the customer's tier (VIP), a flag the adapter set in the
message's meta (e.g. ``spike`` for a mention inside a volume spike), or the customer being a
repeat complainer (several unresolved complaints in a window). ``channels`` limits a rule to
some channel types. Every matching rule proposes its class; the most urgent wins, and the
conversation records the winning rule's name. A rule may also carry routing hints (team,
skills, language), and a rule without a class only gives hints. With no match, the channel's
default applies (recorded as ``channel-default:<type>``), then ``default_class``.

Patterns run on every customer message, so a pattern that backtracks (nested repeats such as
``(a|aa)+$``) must not let one message stall a worker: they are compiled with the ``regex``
module and each search gives up after ``PATTERN_SECONDS`` (the pattern then counts as not
matching, and the rule's name is logged). Admins saving rules get a clear error instead when
a pattern is slow on simple repetitive probes (``check_pattern_speed``).
"""

from __future__ import annotations

import logging
import time
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import regex

from gateway.textsearch.analyzer import fold, simplified
from gateway.textsearch.literals import LiteralIndex, required_literals

log = logging.getLogger(__name__)

# One pattern's search of one message gives up after this long (a safe pattern takes
# microseconds on a long mail); the save-time probe allows the same.
PATTERN_SECONDS = 0.02
# Save-time probes: each of these characters (and the pattern's own letters and digits)
# repeated, alone and spaced, then a character that makes an anchored match fail.
_PROBE_CHARS = "a1 中"
_PROBE_REPEATS = 200
_MAX_PROBE_CHARS = 24
_WARN_EVERY_SECONDS = 60.0
_last_warned: dict[str, float] = {}


class RulesError(ValueError):
    """A bad rules document; the message names the field."""


@dataclass(frozen=True)
class Rule:
    name: str
    class_name: str | None  # None: routing hints only
    keywords: tuple[str, ...] = ()
    patterns: tuple[RulePattern, ...] = ()
    tiers: tuple[str, ...] = ()
    meta_flags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # only these channel types (empty: all)
    repeat_count: int = 0  # >0: matches when the customer has this many unresolved complaints
    repeat_window_hours: float = 0
    team: str | None = None
    skills: tuple[str, ...] = ()
    language: str | None = None

    @cached_property
    def unconditional(self) -> bool:
        return not (
            self.keywords or self.patterns or self.tiers or self.meta_flags or self.repeat_count
        )

    def matches(
        self,
        forms: MessageForms,
        tier: str | None,
        meta: Mapping[str, Any],
        channel_type: str | None = None,
        complaints: int = 0,
    ) -> bool:
        fixed = self.matches_message(forms, meta, channel_type)
        return fixed if fixed is not None else self.matches_facts(tier, complaints)

    def matches_message(
        self, forms: MessageForms, meta: Mapping[str, Any], channel_type: str | None
    ) -> bool | None:
        """Whether the message itself decides: True / False, or None when only the stored
        facts can (the customer's tier, their unresolved complaints)."""
        if self.channels and channel_type not in self.channels:
            return False
        if self.unconditional:
            return bool(self.channels)  # a channel-wide rule
        # Plain loops: run for every rule of every message, a generator costs more than the test.
        folded = forms.folded
        for keyword in self.keywords:
            if keyword in folded:
                return True
        present = forms.present
        for pattern, as_written, needs in self.patterns:
            if needs is not None and present is not None:
                if present.isdisjoint(needs):
                    continue  # none of the strings any match holds
            elif forms.no_pattern_matches:
                continue  # the screen of the patterns without such strings ruled it out
            text = forms.lowered() if as_written else folded
            try:
                if pattern.search(text, timeout=PATTERN_SECONDS):
                    return True
            except TimeoutError:
                _gave_up(self.name, pattern, len(text))
        for flag in self.meta_flags:
            if meta.get(flag):
                return True
        return None if self.tiers or self.repeat_count else False

    def matches_facts(self, tier: str | None, complaints: int) -> bool:
        if self.tiers and tier and tier.lower() in self.tiers:
            return True
        return bool(self.repeat_count and complaints >= self.repeat_count)


class RulePattern(NamedTuple):
    pattern: regex.Pattern[str]
    as_written: bool  # full-width characters of its own: runs on the message as written
    # Strings one of which every match holds (lowercase, folded text), None: not known. A
    # message without any of them skips the pattern (Classifier.literals).
    needs: frozenset[str] | None = None


class MessageForms:
    """The message as rules see it. Keywords and patterns see it folded (full-width to
    half-width, lowercase, Traditional to Simplified Chinese: 機器冒煙 -> 机器冒烟, ３１５ -> 315),
    so a rule written once matches every way a customer types it; a pattern with full-width
    characters of its own sees it as written (lowercase, made when first asked for).
    ``no_pattern_matches``: the classifier's screen found that no pattern it screens (those
    with no required strings) can match; ``present``: which required strings it holds."""

    __slots__ = ("_lowered", "folded", "no_pattern_matches", "present", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = fold(text)
        self._lowered: str | None = None
        self.no_pattern_matches = False
        self.present: set[str] | None = None  # the indexed strings it holds; None: not looked

    def lowered(self) -> str:
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered


# What can make a pattern mean something else inside an alternation of all patterns: group
# numbers and names (back-references, calls, recursion, conditionals), global inline flags and
# backtracking verbs. The test is textual and errs towards "unsafe" (an escaped "\\(?i)" too).
_ALTERNATION_UNSAFE = regex.compile(r"\\[1-9gk]|\(\?(?:P[=>]|&|R|[0-9+-]|\(|[a-zA-Z0-9-]*\))|\(\*")


@dataclass(frozen=True)
class PatternScreen:
    """Every rule's patterns as one alternation per text form, searched once per message: a
    message no pattern matches (most of them) then costs one timed search instead of one per
    pattern; the ``regex`` module's time limit costs about 1.5 us per search. A match, or the
    screen running out of time, sends the rules to their own patterns (and their own limits)."""

    folded: regex.Pattern[str] | None
    as_written: regex.Pattern[str] | None

    @staticmethod
    def build(patterns: list[RulePattern]) -> PatternScreen | None:
        """None when some pattern cannot go into an alternation unchanged, or there are none."""
        if not patterns or any(_ALTERNATION_UNSAFE.search(p.pattern.pattern) for p in patterns):
            return None
        try:
            return PatternScreen(
                _alternation([p.pattern for p in patterns if not p.as_written]),
                _alternation([p.pattern for p in patterns if p.as_written]),
            )
        except regex.error:
            return None

    def rules_out(self, forms: MessageForms) -> bool:
        """True when no pattern matches the message."""
        try:
            return not (
                (self.folded and self.folded.search(forms.folded, timeout=PATTERN_SECONDS))
                or (
                    self.as_written
                    and self.as_written.search(forms.lowered(), timeout=PATTERN_SECONDS)
                )
            )
        except TimeoutError:
            return False


def _alternation(patterns: list[regex.Pattern[str]]) -> regex.Pattern[str] | None:
    if not patterns:
        return None
    return regex.compile("|".join(f"(?:{p.pattern})" for p in patterns), regex.IGNORECASE)


def _pattern(source: str, where: str) -> RulePattern:
    """The compiled pattern, its Chinese in Simplified (it runs on folded text), unless it
    has full-width characters of its own, which folding would take from the message."""
    as_written = unicodedata.normalize("NFKC", source) != source
    try:
        pattern = regex.compile(source if as_written else simplified(source), regex.IGNORECASE)
    except regex.error as exc:
        raise RulesError(f"{where}.patterns: {source!r}: {exc}") from None
    return RulePattern(
        pattern, as_written, None if as_written else required_literals(pattern.pattern)
    )


def _gave_up(rule: str, pattern: regex.Pattern[str], length: int) -> None:
    """A pattern's search ran out of time: it counts as not matching. Logged at most once a
    minute per rule (a customer can send the same text many times)."""
    now = time.monotonic()
    if now - _last_warned.get(rule, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
        _last_warned[rule] = now
        log.warning(
            "priority rule %r: pattern %r gave up after %.0f ms on a %d-character message and "
            "counts as not matching; simplify it (nested repeats such as (a+)+ backtrack)",
            rule, pattern.pattern, PATTERN_SECONDS * 1000, length,
        )  # fmt: skip


def check_pattern_speed(classifier: Classifier) -> None:
    """RulesError naming the first pattern that needs more than ``PATTERN_SECONDS`` on a
    probe: runs of one character (``a``, ``1``, a space, ``中`` and the pattern's own letters
    and digits), alone and spaced, ended by ``!``. Catches the usual backtracking shapes;
    the search timeout covers what the probes miss."""
    for rule in classifier.rules:
        for pattern, *_ in rule.patterns:
            own = sorted({c for c in pattern.pattern.lower() if c.isalnum()})
            chars = list(dict.fromkeys([*_PROBE_CHARS, *own]))[:_MAX_PROBE_CHARS]
            for char in chars:
                for probe in (char * _PROBE_REPEATS + "!", (char + " ") * _PROBE_REPEATS + "!"):
                    try:
                        pattern.search(probe, timeout=PATTERN_SECONDS)
                    except TimeoutError:
                        raise RulesError(
                            f"rule {rule.name!r}: pattern {pattern.pattern!r} is too slow "
                            f"(over {PATTERN_SECONDS * 1000:.0f} ms on {len(probe)} characters "
                            f"of {char!r}); avoid nested repeats such as (a+)+ or (a|aa)+"
                        ) from None


@dataclass(frozen=True)
class ChannelDefault:
    class_name: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Classification:
    class_name: str
    rule: str | None
    team: str | None = None
    skills: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Variants:
    """Every verdict a message can get, by the facts only Redis holds: the customer's stored
    tier (when the message names none) and their unresolved complaints. The inbox hands them
    all to its script, which picks one from what it reads, in the same round trip.

    ``verdicts[tier_index * (len(thresholds) + 1) + level]``: ``tier_index`` 0 when the stored
    tier (lowercased) is none of ``tiers``, else 1 + its position; ``level`` the number of
    ``thresholds`` at or below the complaint count."""

    tiers: tuple[str, ...]  # lowercase; empty: the tier does not change the verdict
    thresholds: tuple[int, ...]  # ascending; empty: complaints do not change the verdict
    verdicts: tuple[Classification, ...]
    # The distinct verdicts, and for each variant the number (1-based) of its verdict there.
    distinct: tuple[Classification, ...] = field(init=False, compare=False, repr=False)
    numbers: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        distinct: dict[Classification, int] = {}
        numbers = tuple(distinct.setdefault(v, len(distinct) + 1) for v in self.verdicts)
        object.__setattr__(self, "distinct", tuple(distinct))
        object.__setattr__(self, "numbers", numbers)

    def pick(self, tier: str | None, complaints: int) -> Classification:
        index = self.tiers.index(tier.lower()) + 1 if tier and tier.lower() in self.tiers else 0
        level = sum(1 for t in self.thresholds if complaints >= t)
        return self.verdicts[index * (len(self.thresholds) + 1) + level]


@dataclass(frozen=True)
class Classifier:
    rules: tuple[Rule, ...]
    default_class: str
    rank: dict[str, int]  # class -> 0 for the most urgent
    channel_defaults: dict[str, ChannelDefault] = field(default_factory=dict)
    doc: dict[str, Any] = field(default_factory=dict, compare=False)  # as configured
    # variants() by what decides them: the tier named, the channel, each rule's own answer.
    _variants: dict[tuple[Any, ...], Variants] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def repeat_window_ms(self) -> int:
        """How far back the inbox must count a customer's complaints (0: no such rule)."""
        hours = max((r.repeat_window_hours for r in self.rules if r.repeat_count), default=0)
        return int(hours * 3_600_000)

    def with_classes(self, class_order: list[str]) -> Classifier:
        """The same rules ranked by another class order (the admins changed the classes)."""
        rank = {name: i for i, name in enumerate(class_order)}
        return Classifier(self.rules, self.default_class, rank, self.channel_defaults, self.doc)

    @cached_property
    def screen(self) -> PatternScreen | None:
        """The patterns that need no particular string, as one alternation."""
        return PatternScreen.build(
            [p for rule in self.rules for p in rule.patterns if p.needs is None]
        )

    @cached_property
    def literals(self) -> LiteralIndex | None:
        """Every string some pattern needs, found in one pass: a routine message holds none of
        most patterns' strings and runs none of them (the ``regex`` module's search, with its
        time limit, costs 1.5-4 us a pattern; dozens of patterns made classification 100 us)."""
        needed = {s for rule in self.rules for p in rule.patterns if p.needs for s in p.needs}
        return LiteralIndex(needed) if needed else None

    def forms(self, text: str) -> MessageForms:
        """The message as the rules see it: the strings it holds that patterns need, and the
        screen's verdict on the others (``no_pattern_matches``)."""
        forms = MessageForms(text)
        if self.literals is not None:
            forms.present = self.literals.present(forms.folded)
        if self.screen is not None:
            forms.no_pattern_matches = self.screen.rules_out(forms)
        return forms

    def classify(
        self,
        text: str,
        tier: str | None = None,
        meta: Mapping[str, Any] | None = None,
        channel_type: str | None = None,
        complaints: int = 0,
    ) -> Classification:
        forms = self.forms(text)
        meta = meta or {}
        matching = [r for r in self.rules if r.matches(forms, tier, meta, channel_type, complaints)]
        return self._verdict(matching, channel_type)

    def variants(
        self,
        text: str,
        tier: str | None = None,
        meta: Mapping[str, Any] | None = None,
        channel_type: str | None = None,
    ) -> Variants:
        """``classify`` for every stored tier and complaint count that changes the verdict,
        the message's own conditions evaluated once. ``tier``: the one the message names (then
        the stored tier does not matter)."""
        forms = self.forms(text)
        meta = meta or {}
        answers = tuple(r.matches_message(forms, meta, channel_type) for r in self.rules)
        key = (tier, channel_type, answers)
        found = self._variants.get(key)
        if found is None:
            if len(self._variants) >= 4096:  # bounded: tiers and channels are few
                self._variants.clear()
            found = self._variants[key] = self._build_variants(tier, channel_type, answers)
        return found

    def _build_variants(
        self, tier: str | None, channel_type: str | None, answers: tuple[bool | None, ...]
    ) -> Variants:
        decided = list(zip(self.rules, answers, strict=True))
        open_rules = [r for r, fixed in decided if fixed is None]
        tiers = () if tier else tuple(sorted({t for r in open_rules for t in r.tiers}))
        thresholds = tuple(sorted({r.repeat_count for r in open_rules if r.repeat_count}))
        verdicts = []
        for tier_option in (tier, *tiers):  # no tiers when the message names one
            for complaints in (0, *thresholds):
                matching = [
                    r
                    for r, fixed in decided
                    if fixed or (fixed is None and r.matches_facts(tier_option, complaints))
                ]
                verdicts.append(self._verdict(matching, channel_type))
        return Variants(tiers, thresholds, tuple(verdicts))

    def _verdict(self, matching: list[Rule], channel_type: str | None) -> Classification:
        """The verdict of the rules that match, in their order."""
        default = self.channel_defaults.get(channel_type or "", ChannelDefault())
        best_class = default.class_name or self.default_class
        best_rule = f"channel-default:{channel_type}" if default.class_name else None
        team = default.team
        winner: Rule | None = None
        skills: list[str] = []
        language = None
        hint_team = None
        for rule in matching:
            skills.extend(s for s in rule.skills if s not in skills)
            language = language or rule.language
            hint_team = hint_team or rule.team
            if rule.class_name is None:
                continue
            if winner is None or self._rank(rule.class_name) < self._rank(winner.class_name):
                winner = rule
        if winner is not None:  # a matching rule beats the defaults, even with a lower class
            best_class, best_rule = str(winner.class_name), winner.name
        team = (winner.team if winner else None) or hint_team or team
        return Classification(best_class, best_rule, team, tuple(skills), language)

    def _rank(self, class_name: str | None) -> int:
        return self.rank.get(class_name or "", 99)


def _strings(spec: Mapping[str, Any], name: str, where: str) -> list[str]:
    value = spec.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{where}.{name}: expected a list of text")
    return value


def parse_rules(data: Mapping[str, Any], class_order: list[str]) -> Classifier:
    """Rules from a TOML- or JSON-shaped document; raises RulesError naming the field."""
    if not isinstance(data, Mapping):
        raise RulesError("body: expected an object")
    rank = {name: i for i, name in enumerate(class_order)}

    def known(class_name: Any, where: str) -> str:
        if class_name not in rank:
            raise RulesError(f"{where}: unknown class {class_name!r}")
        return str(class_name)

    default_class = known(data.get("default_class", "normal"), "default_class")
    defaults: dict[str, ChannelDefault] = {}
    raw_defaults = data.get("channel_defaults", {})
    if not isinstance(raw_defaults, Mapping):
        raise RulesError("channel_defaults: expected a table of channel types")
    for channel, spec in raw_defaults.items():
        where = f"channel_defaults.{channel}"
        if isinstance(spec, str):
            spec = {"class": spec}
        if not isinstance(spec, Mapping):
            raise RulesError(f"{where}: expected a class name or a table")
        cls = known(spec["class"], f"{where}.class") if spec.get("class") else None
        defaults[str(channel)] = ChannelDefault(cls, str(spec.get("team") or "") or None)

    rules = []
    names: set[str] = set()
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RulesError("rules: expected a list")
    for i, spec in enumerate(raw_rules):
        where = f"rules.{i}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise RulesError(f"{where}.name: required")
        name = spec["name"]
        if name in names:
            raise RulesError(f"{where}.name: {name!r} used twice")
        names.add(name)
        cls = known(spec["class"], f"{where}.class") if spec.get("class") else None
        repeat = spec.get("repeat", {})
        if not isinstance(repeat, Mapping):
            raise RulesError(f"{where}.repeat: expected {{count, window_hours}}")
        count, window = repeat.get("count", 0), repeat.get("window_hours", 72)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RulesError(f"{where}.repeat.count: a whole number")
        if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
            raise RulesError(f"{where}.repeat.window_hours: a positive number")
        rule = Rule(
            name=name,
            class_name=cls,
            keywords=tuple(dict.fromkeys(fold(k) for k in _strings(spec, "keywords", where))),
            patterns=tuple(_pattern(source, where) for source in _strings(spec, "patterns", where)),
            tiers=tuple(t.lower() for t in _strings(spec, "tiers", where)),
            meta_flags=tuple(_strings(spec, "meta_flags", where)),
            channels=tuple(_strings(spec, "channels", where)),
            repeat_count=count,
            repeat_window_hours=float(window) if count else 0,
            team=str(spec.get("team") or "") or None,
            skills=tuple(_strings(spec, "skills", where)),
            language=str(spec.get("language") or "") or None,
        )
        if rule.unconditional and not rule.channels:
            raise RulesError(f"{where}: give at least one condition (keywords, patterns, ...)")
        rules.append(rule)
    doc = {
        "default_class": default_class,
        "channel_defaults": {
            c: {k: v for k, v in (("class", d.class_name), ("team", d.team)) if v}
            for c, d in defaults.items()
        },
        "rules": [dict(r) for r in raw_rules],
    }
    return Classifier(tuple(rules), default_class, rank, defaults, doc)


def load_classifier(path: Path, class_order: list[str]) -> Classifier:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        return parse_rules(data, class_order)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None
