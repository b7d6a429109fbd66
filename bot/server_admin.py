"""Changing a server's settings: validate, save, and report before/after. No Discord types."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.catalog import ModelCatalog
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.moderation import compile_pattern
from bot.store import JobStore

T = TypeVar("T")
MAX_BANNED = 500  # per list; every prompt is checked against all of them


@dataclass(frozen=True)
class Change:
    before: GuildSettings
    after: GuildSettings

    def lines(self) -> list[str]:
        """``name: before → after`` for each setting that changed (else a no-change line)."""
        old, new = self.before.describe(), self.after.describe()
        changed = [
            f"**{name}**: {old[name]} → {new[name]}" for name in new if old[name] != new[name]
        ]
        return changed or ["Nothing changed: that was already the setting."]


class ServerAdmin:
    def __init__(self, store: JobStore, catalog: ModelCatalog) -> None:
        self._store = store
        self._catalog = catalog
        self._lock = asyncio.Lock()  # read-modify-write of one JSON row

    async def show(self, guild_id: int) -> GuildSettings:
        return await self._store.guild_settings(guild_id)

    async def update(
        self, guild_id: int, change: Callable[[GuildSettings], GuildSettings]
    ) -> Change:
        async with self._lock:
            before = await self._store.guild_settings(guild_id)
            after = change(before)
            if after != before:
                await self._store.save_guild_settings(guild_id, after)
        return Change(before, after)

    async def checked_model(self, model_id: str) -> str:
        """A model id admins may make the server default (an Oxen image model)."""
        if await self._catalog.details(model_id) is None and await self._catalog.known():
            raise UserFacingError(
                f"`{model_id[:100]}` isn't an Oxen image model I know: pick one from the list."
            )
        return model_id


def add_term(terms: tuple[str, ...], value: str, *, regex: bool) -> tuple[str, ...]:
    value = value.strip()
    if not value:
        raise UserFacingError("Give a word, phrase or pattern to ban.")
    if regex:
        compile_pattern(value)  # refused now, with the reason, rather than failing later
    if len(terms) >= MAX_BANNED:
        raise UserFacingError(f"This server already has {MAX_BANNED} banned entries of that kind.")
    return terms if value in terms else (*terms, value)


def without(items: tuple[T, ...], value: T) -> tuple[T, ...]:
    return tuple(item for item in items if item != value)
