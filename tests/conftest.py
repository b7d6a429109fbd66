"""Shared fixtures: the fake Oxen over loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.oxen import OxenClient
from bot.store.sqlite import SqliteStore
from tests.fakes.oxen import FakeOxen
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401 (fixtures)


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def oxen() -> AsyncIterator[FakeOxen]:
    async with FakeOxen() as fake:
        yield fake


@pytest.fixture
async def oxen_client(oxen: FakeOxen) -> AsyncIterator[OxenClient]:
    client = OxenClient(oxen.api_key, base_url=oxen.base_url, sleep=no_sleep)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "jobs.sqlite3")
    try:
        yield s
    finally:
        await s.close()
