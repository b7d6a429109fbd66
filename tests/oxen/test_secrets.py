"""The API key must never show up in reprs, exception text or logs."""

from __future__ import annotations

import logging
import socket

import pytest

from bot.oxen import OxenClient, OxenError, RetryPolicy
from tests.fakes.oxen import FakeOxen
from tests.oxen.conftest import RecordingSleep

SECRET = "sk-oxen-super-secret-value"


@pytest.fixture
async def secret_oxen() -> object:
    async with FakeOxen(api_key=SECRET) as fake:
        yield fake


async def test_repr_hides_key(secret_oxen: FakeOxen) -> None:
    client = OxenClient(SECRET, base_url=secret_oxen.base_url)
    assert SECRET not in repr(client)
    assert SECRET not in str(client)
    assert SECRET not in repr(vars(client).get("_base_url"))
    await client.close()


async def test_key_never_in_errors_or_logs(
    secret_oxen: FakeOxen, caplog: pytest.LogCaptureFixture
) -> None:
    oxen = secret_oxen
    caplog.set_level(logging.DEBUG)
    sleeps = RecordingSleep()
    errors: list[OxenError] = []
    async with OxenClient(
        SECRET, base_url=oxen.base_url, sleep=sleeps, timeout=0.3, retry=RetryPolicy(max_retries=1)
    ) as client:
        oxen.fail_next("GET", "/api/ai/models", 500, times=5, message=f"echo {SECRET}")
        oxen.fail_next("GET", "/api/ai/queue", 429, times=5)
        oxen.delay_next("POST", "/api/ai/queue", 5.0)
        oxen.disconnect_next("POST", "/api/ai/images/generate")
        calls = [
            client.list_models(),
            client.list_generations(),
            client.enqueue("flux-1-dev", prompt="x"),
            client.generate_image("flux-1-dev", "x"),
            client.get_generation("missing"),
            client.cancel("missing"),
            client.enqueue("gpt-4o-mini", prompt="x"),
            client.download("file:///x"),
            client.download(f"{oxen.base_url}/api/repos/a/b/file/main/missing.png"),
        ]
        for call in calls:
            with pytest.raises(OxenError) as info:
                await call
            errors.append(info.value)
        oxen.events_enabled = False
        with pytest.raises(OxenError) as info:
            async with client.open_events():
                pass
        errors.append(info.value)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with OxenClient(
        SECRET, base_url=f"http://127.0.0.1:{port}", sleep=sleeps, retry=RetryPolicy(max_retries=0)
    ) as dead:
        with pytest.raises(OxenError) as info:
            await dead.list_models()
        errors.append(info.value)

    assert len(errors) == 11
    for err in errors:
        chain: BaseException | None = err
        while chain is not None:
            assert SECRET not in str(chain), type(chain)
            assert SECRET not in repr(chain.args)
            chain = chain.__cause__ or chain.__context__
    assert caplog.records  # retries were logged
    assert all(SECRET not in r.getMessage() for r in caplog.records)
