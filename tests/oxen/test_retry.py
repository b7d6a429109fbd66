from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.oxen import (
    BadRequest,
    OxenClient,
    OxenConnectionError,
    OxenTimeout,
    RateLimited,
    RetryPolicy,
    ServerError,
)
from bot.oxen.retry import parse_retry_after
from tests.fakes.oxen import FakeOxen
from tests.oxen.conftest import RecordingSleep


def test_backoff_grows_and_caps() -> None:
    policy = RetryPolicy(jitter=False)
    assert [policy.backoff(i) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_full_jitter_stays_under_ceiling() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    delays = [policy.backoff(3, rng=rng) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100  # really random


def test_retry_after_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(0, 2.5) == 2.5
    assert policy.delay(0, 300.0) == 30.0


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=20), usegmt=True), now=now)
        == 20.0
    )


async def test_429_retry_after_honoured(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    oxen.fail_next("GET", "/api/ai/models", 429, retry_after=2)
    models = await client.list_models()
    assert models
    assert sleeps.calls == [2.0]
    assert oxen.count("GET", "/api/ai/models") == 2


async def test_429_retry_after_capped(oxen: FakeOxen, sleeps: RecordingSleep) -> None:
    policy = RetryPolicy(max_retry_after=5.0, jitter=False)
    async with OxenClient(oxen.api_key, base_url=oxen.base_url, retry=policy, sleep=sleeps) as c:
        oxen.fail_next("GET", "/api/ai/models", 429, retry_after=3600)
        await c.list_models()
    assert sleeps.calls == [5.0]


async def test_429_gives_up_with_rate_limited(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    oxen.fail_next(
        "GET", "/api/ai/queue", 429, times=10, retry_after=1, message="Rate limit exceeded"
    )
    with pytest.raises(RateLimited) as info:
        await client.list_generations()
    assert info.value.retry_after == 1.0
    assert info.value.message == "Rate limit exceeded"
    assert sleeps.calls == [1.0, 1.0, 1.0]
    assert oxen.count("GET", "/api/ai/queue") == 4


async def test_5xx_backoff_grows_then_gives_up(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    oxen.fail_next("GET", "/api/ai/queue/", 503, times=10, body_format="B", message="busy")
    with pytest.raises(ServerError, match="busy"):
        await client.get_generation("00000000-0000-0000-0000-000000000000")
    assert sleeps.calls == [0.5, 1.0, 2.0]
    assert oxen.count("GET", "/api/ai/queue/") == 4


async def test_5xx_then_success(oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep) -> None:
    oxen.fail_next("GET", "/api/ai/models", 500, times=2)
    assert await client.list_models()
    assert sleeps.calls == [0.5, 1.0]


async def test_jittered_delays_within_bounds(oxen: FakeOxen, sleeps: RecordingSleep) -> None:
    async with OxenClient(
        oxen.api_key, base_url=oxen.base_url, sleep=sleeps, rng=random.Random(7)
    ) as c:
        oxen.fail_next("GET", "/api/ai/models", 502, times=3)
        await c.list_models()
    assert len(sleeps.calls) == 3
    for i, delay in enumerate(sleeps.calls):
        assert 0.0 <= delay <= 0.5 * 2**i


async def test_408_retried(oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep) -> None:
    oxen.fail_next("GET", "/api/ai/models", 408)
    await client.list_models()
    assert len(sleeps.calls) == 1


async def test_400_not_retried(oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep) -> None:
    oxen.fail_next("GET", "/api/ai/models", 400)
    with pytest.raises(BadRequest):
        await client.list_models()
    assert sleeps.calls == []
    assert oxen.count("GET", "/api/ai/models") == 1


async def test_enqueue_retried_on_5xx_and_429(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    # A 5xx/429 means Oxen did not take the job, so retrying cannot double-bill.
    oxen.fail_next("POST", "/api/ai/queue", 503)
    oxen.fail_next("POST", "/api/ai/queue", 429, retry_after=1)
    queued = await client.enqueue("flux-1-dev", prompt="a cat")
    assert len(queued) == 1
    assert oxen.count("POST", "/api/ai/queue") == 3
    assert len(oxen.generations) == 1


async def test_enqueue_not_retried_after_read_timeout(
    oxen: FakeOxen, sleeps: RecordingSleep
) -> None:
    oxen.delay_next("POST", "/api/ai/queue", 5.0)
    async with OxenClient(oxen.api_key, base_url=oxen.base_url, sleep=sleeps, timeout=0.3) as c:
        with pytest.raises(OxenTimeout):
            await c.enqueue("flux-1-dev", prompt="a cat")
    assert oxen.count("POST", "/api/ai/queue") == 1
    assert len(oxen.generations) == 1  # Oxen did take it: a retry would have charged twice
    assert sleeps.calls == []


async def test_enqueue_not_retried_after_disconnect(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    oxen.disconnect_next("POST", "/api/ai/queue")
    with pytest.raises(OxenConnectionError):
        await client.enqueue("flux-1-dev", prompt="a cat")
    assert oxen.count("POST", "/api/ai/queue") == 1
    assert sleeps.calls == []


async def test_sync_generate_not_retried_after_read_timeout(
    oxen: FakeOxen, sleeps: RecordingSleep
) -> None:
    oxen.delay_next("POST", "/api/ai/images/generate", 5.0)
    async with OxenClient(oxen.api_key, base_url=oxen.base_url, sleep=sleeps, timeout=0.3) as c:
        with pytest.raises(OxenTimeout):
            await c.generate_image("flux-1-dev", "a cat")
    assert oxen.count("POST", "/api/ai/images/generate") == 1


async def test_get_retried_after_read_timeout(oxen: FakeOxen, sleeps: RecordingSleep) -> None:
    oxen.delay_next("GET", "/api/ai/models", 30.0)
    # The retry must be answered within the timeout: generous, for a busy machine.
    async with OxenClient(oxen.api_key, base_url=oxen.base_url, sleep=sleeps, timeout=2.0) as c:
        assert await c.list_models()
    assert oxen.count("GET", "/api/ai/models") == 2
    assert len(sleeps.calls) == 1


async def test_get_retried_after_disconnect(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    oxen.disconnect_next("GET", "/api/ai/models")
    assert await client.list_models()
    assert oxen.count("GET", "/api/ai/models") == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connect_error_retried_even_for_enqueue(sleeps: RecordingSleep) -> None:
    # Nothing listens: the request never reached Oxen, so retrying is safe.
    url = f"http://127.0.0.1:{_closed_port()}"
    async with OxenClient("k", base_url=url, sleep=sleeps, retry=RetryPolicy(jitter=False)) as c:
        with pytest.raises(OxenConnectionError) as info:
            await c.enqueue("flux-1-dev", prompt="x")
    assert not isinstance(info.value, OxenTimeout)
    assert sleeps.calls == [0.5, 1.0, 2.0]
    assert info.value.__cause__ is not None


async def test_max_retries_zero(oxen: FakeOxen, sleeps: RecordingSleep) -> None:
    async with OxenClient(
        oxen.api_key, base_url=oxen.base_url, sleep=sleeps, retry=RetryPolicy(max_retries=0)
    ) as c:
        oxen.fail_next("GET", "/api/ai/models", 500)
        with pytest.raises(ServerError):
            await c.list_models()
    assert sleeps.calls == []
