"""The one retry policy of the Oxen client: every number lives here."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Shared default jitter source; tests pass their own seeded Random.
_RANDOM = random.Random()

__all__ = ["DEFAULT_RETRY", "RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]


def _is_retryable(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


RETRYABLE_STATUSES = frozenset(s for s in range(400, 600) if _is_retryable(s))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; Retry-After is honoured up to a cap.

    ``max_retries`` counts retries, so a call makes at most ``max_retries + 1`` attempts.
    ``jitter=False`` gives the deterministic upper bound (handy in tests and benches).
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: bool = True

    def should_retry_status(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES

    def backoff(self, retry_index: int, *, rng: random.Random | None = None) -> float:
        """Delay before retry number ``retry_index`` (0-based), without a server hint."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry_index)
        if not self.jitter:
            return ceiling
        source = rng if rng is not None else _RANDOM
        return source.uniform(0.0, ceiling)

    def delay(
        self,
        retry_index: int,
        retry_after: float | None = None,
        *,
        rng: random.Random | None = None,
    ) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return self.backoff(retry_index, rng=rng)


DEFAULT_RETRY = RetryPolicy()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds
