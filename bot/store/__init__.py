"""Persistence only: opens the store a DATABASE_URL names. Returns core types (bot.core.types)
and implements bot.core.ports.Store."""

from __future__ import annotations

from pathlib import Path

from bot.core.ports import Store
from bot.store.postgres import PostgresStore
from bot.store.postgres.database import POOL_MAX_SIZE
from bot.store.sqlite import SqliteStore

POSTGRES_SCHEMES = ("postgresql", "postgres")
SQLITE_PREFIX = "sqlite:///"


async def open_store(
    url: str, *, wait_seconds: float = 0.0, pool_size: int = POOL_MAX_SIZE
) -> Store:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path``: the embedded SQLite store;
    ``postgresql://...`` or ``postgres://...``: the Postgres store (a connection pool), waiting
    up to ``wait_seconds`` for a server that is not up yet, with at most ``pool_size``
    connections. Raises a StoreError (safe to log)
    when the store cannot be opened."""
    scheme = url.partition("://")[0].lower()
    if scheme in POSTGRES_SCHEMES:
        return await PostgresStore.open(url, wait_seconds=wait_seconds, max_connections=pool_size)
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return await SqliteStore.open(Path(url[len(SQLITE_PREFIX) :]))
    # Only the scheme: the rest may hold a password.
    raise ValueError(f"not a sqlite:/// or postgresql:// URL ({scheme or 'no'} scheme)")
