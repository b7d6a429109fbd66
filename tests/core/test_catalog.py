"""ModelCatalog against the fake Oxen over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.core.catalog import ModelCatalog
from bot.oxen import OxenClient, RetryPolicy
from tests.fakes.oxen import FakeOxen
from tests.waiting import wait_until

KLEIN = "black-forest-labs-flux-2-klein-4b"
DEV = "flux-1-dev"
QWEN = "qwen-image-edit"
TTL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(oxen: FakeOxen) -> AsyncIterator[OxenClient]:
    # No retries: one injected failure is one failed call.
    async with OxenClient(
        oxen.api_key, base_url=oxen.base_url, retry=RetryPolicy(max_retries=0), timeout=5.0
    ) as c:
        yield c


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def catalog(client: OxenClient, clock: Clock) -> AsyncIterator[ModelCatalog]:
    catalog = ModelCatalog(client, DEV, ttl=TTL, clock=clock)
    yield catalog
    await catalog.close()


def detail_requests(oxen: FakeOxen, model_id: str) -> int:
    return oxen.count("GET", f"/api/ai/models/{model_id}")


async def test_details_has_the_schema_the_list_omits(catalog: ModelCatalog) -> None:
    listed = await catalog.find(KLEIN)
    assert listed is not None and listed.request_schema is None
    model = await catalog.details(KLEIN)
    assert model is not None and model.request_schema is not None
    ratios = model.request_schema["properties"]["aspect_ratio"]["enum"]
    assert ratios == ["1:1", "16:9", "9:16", "4:3", "3:4"]


async def test_details_cached_within_ttl(
    oxen: FakeOxen, catalog: ModelCatalog, clock: Clock
) -> None:
    await catalog.details(KLEIN)
    clock.now += TTL - 1
    await catalog.details(KLEIN)
    assert detail_requests(oxen, KLEIN) == 1
    clock.now += 2
    assert await catalog.details(KLEIN) is not None  # the stale copy, at once...
    await wait_until(lambda: detail_requests(oxen, KLEIN) == 2)  # ...refreshed behind it
    await catalog.details(DEV)  # cached per model
    assert detail_requests(oxen, DEV) == 1


async def test_details_sees_a_changed_schema_after_the_ttl(
    oxen: FakeOxen, catalog: ModelCatalog, clock: Clock
) -> None:
    await catalog.details(DEV)
    oxen.models[DEV]["request_schema"]["properties"].pop("negative_prompt")
    clock.now += TTL + 1

    async def refreshed() -> bool:
        model = await catalog.details(DEV)
        assert model is not None and model.request_schema is not None
        return "negative_prompt" not in model.request_schema["properties"]

    await wait_until(refreshed)


async def test_details_falls_back_to_the_cached_copy_when_oxen_fails(
    oxen: FakeOxen, catalog: ModelCatalog, clock: Clock
) -> None:
    await catalog.details(KLEIN)
    clock.now += TTL + 1
    oxen.fail_next("GET", f"/api/ai/models/{KLEIN}", 503)
    model = await catalog.details(KLEIN)
    assert model is not None and model.request_schema is not None
    await wait_until(lambda: detail_requests(oxen, KLEIN) == 2)  # it did ask again
    model = await catalog.details(KLEIN)  # the failure keeps the copy, and is not retried
    assert model is not None and model.request_schema is not None
    assert detail_requests(oxen, KLEIN) == 2


async def test_details_falls_back_to_the_list_entry_when_never_fetched(
    oxen: FakeOxen, catalog: ModelCatalog
) -> None:
    oxen.fail_next("GET", f"/api/ai/models/{KLEIN}", 500)
    model = await catalog.details(KLEIN)
    assert model is not None and model.id == KLEIN
    assert model.request_schema is None  # so validation leaves the checks to Oxen


async def test_details_is_none_when_oxen_fails_and_nothing_is_known(
    oxen: FakeOxen, catalog: ModelCatalog
) -> None:
    oxen.fail_next("GET", "/api/ai/models", 503, times=2)
    assert await catalog.details(KLEIN) is None


async def test_details_is_none_for_unknown_and_non_image_models(
    oxen: FakeOxen, catalog: ModelCatalog
) -> None:
    assert await catalog.details("no-such-model") is None
    assert await catalog.details("gpt-4o-mini") is None  # a chat model can't make images
    assert detail_requests(oxen, "no-such-model") == 1


async def test_details_forgets_a_model_oxen_removed(
    oxen: FakeOxen, catalog: ModelCatalog, clock: Clock
) -> None:
    assert await catalog.details(QWEN) is not None
    del oxen.models[QWEN]
    clock.now += TTL + 1

    async def forgotten() -> bool:
        return await catalog.details(QWEN) is None

    await wait_until(forgotten)


async def test_edit_models(catalog: ModelCatalog) -> None:
    assert [m.id for m in await catalog.edit_models()] == [KLEIN, QWEN]


async def test_suggest_edit_only(catalog: ModelCatalog) -> None:
    assert [i for _, i in await catalog.suggest("", edit_only=True)] == [KLEIN, QWEN]
    assert [i for _, i in await catalog.suggest("flux", edit_only=True)] == [KLEIN]
    assert [i for _, i in await catalog.suggest("flux")] == [DEV, KLEIN]  # prefix first
    # Labels match too: "Qwen Image Edit (qwen-image-edit)".
    assert await catalog.suggest("image edit", edit_only=True) == [
        ("Qwen Image Edit (qwen-image-edit)", QWEN)
    ]


async def test_suggest_offers_the_defaults_when_oxen_is_down(
    oxen: FakeOxen, client: OxenClient, clock: Clock
) -> None:
    catalog = ModelCatalog(client, DEV, default_edit_model="my-edit", ttl=TTL, clock=clock)
    assert catalog.default_edit_model == "my-edit"
    oxen.fail_next("GET", "/api/ai/models", 503, times=2)
    assert await catalog.suggest("", edit_only=True) == [("my-edit", "my-edit")]
    assert await catalog.suggest("") == [(DEV, DEV)]
    assert ModelCatalog(client, DEV).default_edit_model == QWEN


async def test_autocomplete_answers_within_a_second_while_oxen_hangs(
    oxen: FakeOxen, catalog: ModelCatalog
) -> None:
    oxen.delay_next("GET", "/api/ai/models", 3600, times=5)  # Oxen never answers
    started = time.monotonic()
    assert await catalog.suggest("") == [(DEV, DEV)]  # nothing cached yet: the default
    assert await catalog.suggest("", edit_only=True) == [(QWEN, QWEN)]
    assert time.monotonic() - started < 2.0  # both within Discord's 3 s, under 1 s each
    assert oxen.count("GET", "/api/ai/models") == 1  # one fetch, shared, still hanging


async def test_a_stale_list_is_served_at_once_while_oxen_hangs(
    oxen: FakeOxen, catalog: ModelCatalog, clock: Clock
) -> None:
    assert [i for _, i in await catalog.suggest("flux")] == [DEV, KLEIN]
    clock.now += TTL + 1  # the cache expires...
    oxen.delay_next("GET", "/api/ai/models", 3600)  # ...as Oxen stops answering
    answers = []
    for _ in range(5):
        started = time.monotonic()
        answers.append([i for _, i in await catalog.suggest("flux")])
        assert time.monotonic() - started < 1.0
    assert answers == [[DEV, KLEIN]] * 5  # the stale copy, every time
    await wait_until(lambda: oxen.count("GET", "/api/ai/models") == 2)  # one refresh in flight
    await asyncio.sleep(0)
    assert oxen.count("GET", "/api/ai/models") == 2
