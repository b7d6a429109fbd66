"""The client's ``on_response`` hook: every answer and transport failure, by route template."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.oxen import OxenClient, OxenConnectionError, RetryPolicy, ServerError
from tests.fakes.oxen import FakeOxen
from tests.oxen.conftest import RecordingSleep
from tests.support.net import free_port


class Heard(list[tuple[str, str]]):
    def __call__(self, endpoint: str, status: str) -> None:
        self.append((endpoint, status))


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
async def client(oxen: FakeOxen, heard: Heard) -> AsyncIterator[OxenClient]:
    async with OxenClient(
        oxen.api_key,
        base_url=oxen.base_url,
        sleep=RecordingSleep(),
        timeout=5.0,
        retry=RetryPolicy(jitter=False, max_retries=1),
        on_response=heard,
    ) as c:
        yield c


async def test_api_calls_are_named_by_route_never_by_url(
    oxen: FakeOxen, client: OxenClient, heard: Heard
) -> None:
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="a fox")
    await client.list_generations()
    await client.get_generation(queued.generation_id)
    await client.get_model("flux-1-dev")
    await client.list_models()
    await client.cancel(queued.generation_id)
    assert heard == [
        ("POST /api/ai/queue", "200"),
        ("GET /api/ai/queue", "200"),
        ("GET /api/ai/queue/{id}", "200"),
        ("GET /api/ai/models/{id}", "200"),
        ("GET /api/ai/models", "200"),
        ("DELETE /api/ai/queue/{id}", "200"),
    ]
    assert not any(queued.generation_id in endpoint for endpoint, _ in heard)


async def test_every_attempt_is_heard_including_retried_errors(
    oxen: FakeOxen, client: OxenClient, heard: Heard
) -> None:
    oxen.fail_next("GET", "/api/ai/queue", 503, times=2)
    with pytest.raises(ServerError):
        await client.list_generations()
    assert heard == [("GET /api/ai/queue", "503")] * 2


async def test_transport_failures_are_heard(heard: Heard) -> None:
    async with OxenClient(
        "key",
        base_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        sleep=RecordingSleep(),
        retry=RetryPolicy(jitter=False, max_retries=0),
        on_response=heard,
    ) as client:
        with pytest.raises(OxenConnectionError):
            await client.list_generations()
        with pytest.raises(OxenConnectionError):
            async with client.open_events():
                pass
    assert heard == [
        ("GET /api/ai/queue", "connection_error"),
        ("GET /api/events", "connection_error"),
    ]


async def test_the_event_stream_and_downloads_are_heard(
    oxen: FakeOxen, client: OxenClient, heard: Heard
) -> None:
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="a fox")
    await oxen.complete(queued.generation_id)
    generation = await client.get_generation(queued.generation_id)
    assert generation.result_url
    await client.download(generation.result_url)
    async with client.open_events():
        pass
    oxen.events_enabled = False
    with pytest.raises(ServerError):
        async with client.open_events():
            pass
    assert heard[-3:] == [
        ("download", "200"),
        ("GET /api/events", "200"),
        ("GET /api/events", "503"),
    ]


async def test_a_broken_hook_never_breaks_a_call(oxen: FakeOxen) -> None:
    def broken(endpoint: str, status: str) -> None:
        raise RuntimeError("observer bug")

    async with OxenClient(oxen.api_key, base_url=oxen.base_url, on_response=broken) as client:
        assert await client.list_generations() == []
