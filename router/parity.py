"""Channel parity: how long each channel's conversations have waited for an agent lately, and
how much earlier each channel's waiting conversations should count in the queue to even that
out.

Queue order by deadline treats a web chat and a WeChat message alike, yet a channel whose
customers happen to arrive when the team is congested ends the day with a longer tail of
waits (docs/routing.md, section 7). This keeps, per (class, channel), the queue waits of the
first offers made in a sliding window and gives a channel whose 90th percentile is behind the
best channel of the same class and target a *credit*: its conversations count as due that
much earlier (``DeadlinePolicy.order``). The credit shrinks as the gap closes, so it corrects
without running away; it only reorders who goes first, it never leaves an agent idle.

Per router process, in memory: several processes each see a sample of the offers, which
estimates the same percentiles; a restart starts from even (no credit).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Group = tuple[str, int]  # (class, first-response target in seconds): channels compared together


@dataclass
class _Waits:
    """Queue waits of one (class, channel) in the window: sorted for the percentile, and in
    arrival order to drop the old ones."""

    sorted_ms: list[int] = field(default_factory=list)
    by_time: deque[tuple[int, int]] = field(default_factory=deque)  # (offered at, wait)

    def add(self, now: int, wait_ms: int) -> None:
        bisect.insort(self.sorted_ms, wait_ms)
        self.by_time.append((now, wait_ms))

    def drop_before(self, cutoff: int) -> None:
        while self.by_time and self.by_time[0][0] < cutoff:
            _, wait_ms = self.by_time.popleft()
            del self.sorted_ms[bisect.bisect_left(self.sorted_ms, wait_ms)]

    def p90(self) -> int:
        values = self.sorted_ms
        return values[min(len(values) - 1, (len(values) * 9) // 10)]


@dataclass
class ChannelWaits:
    """Recent queue waits per (class, channel), and the credits that even them out."""

    window_ms: int
    gain: float = 2.0  # credit = gain x the channel's p90 gap to the best channel
    max_credit_ms: int = 60_000
    min_samples: int = 20  # below this a channel's percentile is noise: no credit either way
    _waits: dict[tuple[str, str], _Waits] = field(default_factory=dict)

    def record(self, priority: str, channel_type: str, now: int, wait_ms: int) -> None:
        """A conversation's first offer, after ``wait_ms`` in the queue."""
        if self.window_ms <= 0 or self.gain <= 0:
            return
        waits = self._waits.setdefault((priority, channel_type), _Waits())
        waits.drop_before(now - self.window_ms)  # memory stays bounded by the window
        waits.add(now, max(0, wait_ms))

    def credits(
        self, now: int, group_of: Callable[[str, str], Group]
    ) -> dict[tuple[str, str], int]:
        """ms of credit per (class, channel): gain x (its p90 - the lowest p90 of its group),
        capped; channels with too few samples neither get nor set a credit."""
        if self.window_ms <= 0 or self.gain <= 0:
            return {}
        p90s: dict[Group, dict[tuple[str, str], int]] = {}
        for key, waits in self._waits.items():
            waits.drop_before(now - self.window_ms)
            if len(waits.sorted_ms) >= self.min_samples:
                p90s.setdefault(group_of(*key), {})[key] = waits.p90()
        credits: dict[tuple[str, str], int] = {}
        for members in p90s.values():
            if len(members) < 2:
                continue
            best = min(members.values())
            for key, p90 in members.items():
                credit = min(self.max_credit_ms, int(self.gain * (p90 - best)))
                if credit > 0:
                    credits[key] = credit
        return credits
