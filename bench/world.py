"""One benchmark phase's local world: the local Discord, a fake Oxen that times terminal states,
and a guild with channels and members. Only the harness imports this; the bots never do."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tests.fakes.discord import ChannelRecord, FakeDiscord, GuildRecord, UserRecord
from tests.fakes.oxen import FakeOxen


class TimedOxen(FakeOxen):
    """The fake Oxen, noting the wall-clock time (``time.time()``, the clock the local Discord
    stamps messages with) at which each generation reached a terminal state.

    The rows' ``completed_at`` is whole Unix seconds: too coarse for delivery latency.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.terminal_at: dict[str, float] = {}

    def _finish_succeeded(self, gid: str, image: bytes | None) -> None:
        super()._finish_succeeded(gid, image)
        self.terminal_at.setdefault(gid, time.time())

    def _finish_failed(self, gid: str, message: str) -> None:
        super()._finish_failed(gid, message)
        self.terminal_at.setdefault(gid, time.time())


@dataclass
class World:
    discord: FakeDiscord
    oxen: TimedOxen
    guild: GuildRecord
    channels: list[ChannelRecord]
    users: list[UserRecord]


@contextlib.asynccontextmanager
async def open_world(
    *, channels: int = 1, users: int = 5, discord_limits: bool = False
) -> AsyncIterator[World]:
    """Both fakes on 127.0.0.1 (random ports), one guild, ``channels`` text channels and
    ``users`` members. Generations start at once (no queueing delay). ``discord_limits``: the
    local Discord enforces Discord's own rate limits (5 messages per 5 s per channel, ...)."""
    oxen = TimedOxen(start_delay=0.0)
    await oxen.start()
    try:
        async with FakeDiscord(discord_limits=discord_limits) as fake:
            guild = fake.create_guild("Bench Guild")
            made_channels = [fake.create_channel(guild, f"bench-{i}") for i in range(channels)]
            made_users = [fake.create_user(f"user{i}") for i in range(users)]
            for user in made_users:
                fake.add_member(guild, user)
            yield World(fake, oxen, guild, made_channels, made_users)
    finally:
        await oxen.stop()
