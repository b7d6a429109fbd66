"""Timestamp-based Discord snowflakes and opaque tokens."""

from __future__ import annotations

import datetime
import itertools
import secrets

from .clock import FakeClock

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Makes unique, increasing snowflakes whose timestamp follows the fake clock."""

    def __init__(self, clock: FakeClock, worker: int = 1, process: int = 1) -> None:
        self._clock = clock
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._increment = itertools.count()
        self._last = 0

    def next(self) -> int:
        ms = int(self._clock.now() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (self._worker << 17) | (self._process << 12)
        value |= next(self._increment) & 0xFFF
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value

    def next_for_shard(self, shard_id: int, num_shards: int) -> int:
        """A snowflake with ``(id >> 22) % num_shards == shard_id`` (its ms nudged forward)."""
        ms = max(int(self._clock.now() * 1000) - DISCORD_EPOCH_MS, self._last >> 22)
        while ms % num_shards != shard_id:
            ms += 1
        value = (ms << 22) | (self._worker << 17) | (self._process << 12)
        value |= next(self._increment) & 0xFFF
        if value <= self._last:
            value = ((ms + num_shards) << 22) | (value & 0x3FFFFF)  # next ms of that shard
        self._last = value
        return value


def snowflake_time(snowflake: int) -> float:
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def iso_timestamp(epoch_seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.UTC)
    return moment.isoformat()


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(48)
