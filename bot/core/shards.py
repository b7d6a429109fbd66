"""Which of Discord's shards this process runs, and so which servers it hears from. Pure.

Discord sends a server's events (its slash commands and button presses) to shard
``(guild_id >> 22) % shard_count`` only, and DMs to shard 0. A process that runs some shards
edits the status messages of its own servers' requests, and posts their weekly gallery top;
any process posts any result.
"""

from __future__ import annotations

from dataclasses import dataclass


def shard_of(guild_id: int | None, shard_count: int) -> int:
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class Shards:
    count: int | None = None  # None: unsharded, one session for every server
    ids: tuple[int, ...] | None = None  # None with a count: all of them

    @property
    def sharded(self) -> bool:
        return self.count is not None

    @property
    def running(self) -> tuple[int, ...]:
        if self.count is None:
            return (0,)
        return self.ids if self.ids is not None else tuple(range(self.count))

    def serves(self, guild_id: int | None) -> bool:
        """Whether this process hears from ``guild_id`` (None: DMs)."""
        if self.count is None:
            return True
        return shard_of(guild_id, self.count) in self.running

    @property
    def runs_first(self) -> bool:
        """Shard 0 runs here (DMs, and the one process that syncs commands)."""
        return 0 in self.running
