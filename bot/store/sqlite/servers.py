"""Per-server settings, one JSON row per server (see bot.core.types.GuildSettings)."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.types import GuildSettings
from bot.store.sqlite.database import Database


class Servers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> GuildSettings:
        data = await self._db.scalar(
            "SELECT data FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return GuildSettings.from_json(data) if data is not None else GuildSettings()

    async def update(
        self, guild_id: int, change: Callable[[GuildSettings], GuildSettings]
    ) -> tuple[GuildSettings, GuildSettings]:
        async with self._db.transaction():
            before = await self.get(guild_id)
            after = change(before)
            if after != before:
                await self._db.execute(
                    "INSERT INTO guild_settings (guild_id, data) VALUES (?, ?) "
                    "ON CONFLICT(guild_id) DO UPDATE SET data = excluded.data",
                    (guild_id, after.to_json()),
                )
        return before, after
