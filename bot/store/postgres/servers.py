"""Per-server settings, one JSON row per server (see bot.core.types.GuildSettings)."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.types import GuildSettings
from bot.store.postgres.database import Database


class Servers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> GuildSettings:
        data = await self._db.fetchval(
            "SELECT data FROM guild_settings WHERE guild_id = $1", guild_id
        )
        return GuildSettings.from_json(data) if data is not None else GuildSettings()

    async def update(
        self, guild_id: int, change: Callable[[GuildSettings], GuildSettings]
    ) -> tuple[GuildSettings, GuildSettings]:
        # Safe across processes: the row is locked from the read to the commit, so a second
        # admin's change waits and then starts from this one. A server with no row yet gets an
        # empty one ('{}' reads as the defaults) so that there is a row to lock.
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO guild_settings (guild_id, data) VALUES ($1, '{}') "
                "ON CONFLICT (guild_id) DO NOTHING",
                guild_id,
            )
            data = await self._db.fetchval(
                "SELECT data FROM guild_settings WHERE guild_id = $1 FOR UPDATE", guild_id
            )
            before = GuildSettings.from_json(data)
            after = change(before)
            if after != before:
                await self._db.execute(
                    "UPDATE guild_settings SET data = $2 WHERE guild_id = $1",
                    guild_id,
                    after.to_json(),
                )
        return before, after
