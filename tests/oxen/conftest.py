from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.oxen import OxenClient, RetryPolicy
from tests.fakes.oxen import FakeOxen

# Every test here talks to a loopback fake; none should take long.
TEST_TIMEOUT = 10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/oxen/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


class RecordingSleep:
    """Injected instead of asyncio.sleep: records delays, never really waits."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
async def oxen() -> AsyncIterator[FakeOxen]:
    async with FakeOxen() as fake:
        yield fake


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(oxen: FakeOxen, sleeps: RecordingSleep) -> AsyncIterator[OxenClient]:
    async with OxenClient(
        oxen.api_key,
        base_url=oxen.base_url,
        sleep=sleeps,
        timeout=5.0,
        retry=RetryPolicy(jitter=False),
    ) as c:
        yield c
