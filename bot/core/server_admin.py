"""Changing a server's settings: validate, save, and report before/after. No Discord types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.core.catalog import ModelCatalog
from bot.core.errors import UserFacingError
from bot.core.limits import MAX_BANNED_TERMS
from bot.core.moderation import compile_pattern
from bot.core.ports import Store
from bot.core.types import GuildSettings

T = TypeVar("T")


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
    def __init__(self, store: Store, catalog: ModelCatalog) -> None:
        self._store = store
        self._catalog = catalog

    async def show(self, guild_id: int) -> GuildSettings:
        return await self._store.servers.get(guild_id)

    async def update(
        self, guild_id: int, change: Callable[[GuildSettings], GuildSettings]
    ) -> Change:
        """Read, change and save in one store transaction (two admins at once both count)."""
        before, after = await self._store.servers.update(guild_id, change)
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
    if len(terms) >= MAX_BANNED_TERMS:
        raise UserFacingError(
            f"This server already has {MAX_BANNED_TERMS} banned entries of that kind."
        )
    return terms if value in terms else (*terms, value)


def without(items: tuple[T, ...], value: T) -> tuple[T, ...]:
    return tuple(item for item in items if item != value)
