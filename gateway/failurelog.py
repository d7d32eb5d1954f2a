"""Logging a background loop's failures without flooding the log while Redis is away.

A loop that polls every fraction of a second (the search index, the scheduler, the outbox)
would otherwise write a full traceback on every round for as long as Redis is down or frozen,
thousands of lines a minute that bury the one line saying why. Here: the first failure with
its traceback; the same failure again (same type and message) at most once per ``every``
seconds, one line with how often it happened meanwhile; a different failure with its traceback
at once; and one line when the loop works again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class FailureLog:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.what = what
        self.every = every
        self.clock = clock
        self._last: str | None = None  # the failure being repeated: "Type: message"
        self._logged_at = 0.0
        self._since = 0.0
        self._repeats = 0  # failures not logged since the last line

    def failed(self, exc: BaseException) -> None:
        """Call from the loop's ``except``; logs as the rules above say."""
        now = self.clock()
        reason = f"{type(exc).__name__}: {exc}"
        if reason != self._last:
            if self._last is None:
                self._since = now
            self._last, self._logged_at, self._repeats = reason, now, 0
            self.log.warning("%s failed", self.what, exc_info=exc)
            return
        self._repeats += 1
        if now - self._logged_at >= self.every:
            self.log.warning(
                "%s still failing for %.0f s (%d more times): %s",
                self.what, now - self._since, self._repeats, reason,
            )  # fmt: skip
            self._logged_at, self._repeats = now, 0

    def worked(self) -> None:
        """Call after a round that succeeded; logs the recovery once."""
        if self._last is None:
            return
        self.log.warning("%s works again after %.0f s", self.what, self.clock() - self._since)
        self._last, self._repeats = None, 0
