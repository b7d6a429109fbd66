"""Persistence only: opens the store a DATABASE_URL names. Returns core types (bot.core.types)
and implements bot.core.ports.Store."""

from __future__ import annotations

from pathlib import Path

from bot.core.ports import Store
from bot.store.sqlite import SqliteStore


async def open_store(database_path: Path) -> Store:
    return await SqliteStore.open(database_path)
