"""Gateway sharding as Discord documents it (events/gateway, "Sharding" and "Rate Limiting").

- ``shard_id = (guild_id >> 22) % num_shards``; events without a guild go to shard 0.
- An invalid ``shard`` closes with 4010; too many guilds for one session closes with 4011.
- ``max_concurrency`` IDENTIFYs per 5 s, one per bucket ``shard_id % max_concurrency``;
  over that, the gateway answers Invalid Session (op 9).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

INVALID_SHARD = 4010
SHARDING_REQUIRED = 4011

Shard = tuple[int, int]


def shard_for(guild_id: int, num_shards: int) -> int:
    return (guild_id >> 22) % num_shards


def receives(shard: Shard | None, guild_id: int | None) -> bool:
    """Whether a session identified with ``shard`` gets an event about ``guild_id``."""
    shard_id, num_shards = shard or (0, 1)
    if guild_id is None:
        return shard_id == 0  # DMs and other guild-less events: the first shard only
    return shard_for(guild_id, num_shards) == shard_id


def event_guild(name: str, data: dict[str, Any]) -> int | None:
    raw = data.get("id") if name in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else None
    raw = raw if raw is not None else data.get("guild_id")
    return int(raw) if raw is not None else None


@dataclass
class ShardingConfig:
    """What GET /gateway/bot reports and which IDENTIFY rules the gateway enforces."""

    recommended_shards: int = 1
    max_concurrency: int = 1
    session_start_total: int = 1000
    session_start_remaining: int = 1000
    session_start_reset_after_ms: int = 14_400_000
    #: Off by default, so a test that restarts its bot is not refused; opt in to test it.
    enforce_identify_limit: bool = False
    identify_window: float = 5.0
    #: Guilds one session may hold before Discord demands sharding (4011); None: no limit.
    sharding_threshold: int | None = None
    #: Large-bot sharding: num_shards must be a multiple of this (else 4010).
    shard_multiple: int | None = None


@dataclass(frozen=True)
class IdentifyRecord:
    """One IDENTIFY: its shard, rate-limit bucket, monotonic time, and what the gateway did."""

    shard: Shard | None
    bucket: int
    at: float
    outcome: str  # "ready", "invalid_session", "invalid_shard", "sharding_required"

    @property
    def accepted(self) -> bool:
        return self.outcome == "ready"


@dataclass
class Admission:
    shard: Shard | None = None
    close_code: int | None = None
    close_reason: str = ""
    invalid_session: bool = False


@dataclass
class ShardPolicy:
    config: ShardingConfig = field(default_factory=ShardingConfig)
    identifies: list[IdentifyRecord] = field(default_factory=list)
    monotonic: Callable[[], float] = time.monotonic

    def gateway_bot(self, url: str) -> dict[str, Any]:
        c = self.config
        return {
            "url": url,
            "shards": c.recommended_shards,
            "session_start_limit": {
                "total": c.session_start_total,
                "remaining": c.session_start_remaining,
                "reset_after": c.session_start_reset_after_ms,
                "max_concurrency": c.max_concurrency,
            },
        }

    def _parse(self, raw: Any) -> Shard | str | None:
        if raw is None:
            return None
        if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, int) for v in raw)):
            return "invalid"
        shard_id, num_shards = raw
        multiple = self.config.shard_multiple
        if num_shards < 1 or not 0 <= shard_id < num_shards:
            return "invalid"
        if multiple and num_shards % multiple:
            return "invalid"
        return (shard_id, num_shards)

    def admit(self, raw_shard: Any, guild_ids: Iterable[int]) -> Admission:
        """Decide on an IDENTIFY; every attempt is recorded in ``identifies``."""
        now = self.monotonic()
        parsed = self._parse(raw_shard)
        shard_id = parsed[0] if isinstance(parsed, tuple) else 0
        bucket = shard_id % max(self.config.max_concurrency, 1)
        if parsed == "invalid":
            self._record(None, bucket, now, "invalid_shard")
            return Admission(close_code=INVALID_SHARD, close_reason="Invalid shard.")
        shard = parsed if isinstance(parsed, tuple) else None
        threshold = self.config.sharding_threshold
        if threshold is not None and sum(1 for g in guild_ids if receives(shard, g)) > threshold:
            self._record(shard, bucket, now, "sharding_required")
            return Admission(close_code=SHARDING_REQUIRED, close_reason="Sharding required.")
        if self.config.enforce_identify_limit and self._too_soon(bucket, now):
            self._record(shard, bucket, now, "invalid_session")
            return Admission(shard=shard, invalid_session=True)
        self._record(shard, bucket, now, "ready")
        self.config.session_start_remaining = max(self.config.session_start_remaining - 1, 0)
        return Admission(shard=shard)

    def _too_soon(self, bucket: int, now: float) -> bool:
        window = self.config.identify_window
        return any(
            r.accepted and r.bucket == bucket and now - r.at < window for r in self.identifies
        )

    def _record(self, shard: Shard | None, bucket: int, now: float, outcome: str) -> None:
        self.identifies.append(IdentifyRecord(shard, bucket, now, outcome))

    def times(self, bucket: int = 0, *, accepted_only: bool = True) -> list[float]:
        return [
            r.at
            for r in self.identifies
            if r.bucket == bucket and (r.accepted or not accepted_only)
        ]
