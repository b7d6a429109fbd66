"""The web server's handlers through aiohttp's test client, and the real server on a port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import test_utils
from prometheus_client.parser import text_string_to_metric_families

from bot.core.metrics import Metrics
from bot.web.health import Check, Health
from bot.web.server import CannotListen, WebServer
from tests.waiting import wait_until


def make_server(metrics: Metrics, *, alive: list[bool], ready: list[bool], port: int = 0):
    health = Health(
        live=[Check("watcher", lambda: alive[0])], ready=[Check("gateway", lambda: ready[0])]
    )
    return WebServer(host="127.0.0.1", port=port, health=health, metrics=metrics, lag_interval=0.01)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process=False)


@pytest.fixture
def states() -> tuple[list[bool], list[bool]]:
    return [True], [False]


@pytest.fixture
async def client(metrics, states) -> AsyncIterator[test_utils.TestClient]:
    alive, ready = states
    server = make_server(metrics, alive=alive, ready=ready)
    async with test_utils.TestClient(test_utils.TestServer(server.app())) as client:
        yield client


async def test_livez_and_readyz(client, states):
    alive, ready = states
    response = await client.get("/livez")
    assert response.status == 200 and await response.json() == {"ok": True, "failed": []}
    assert response.headers["Cache-Control"] == "no-store"
    response = await client.get("/readyz")
    assert response.status == 503 and await response.json() == {"ok": False, "failed": ["gateway"]}
    ready[0] = True
    assert (await client.get("/readyz")).status == 200
    alive[0] = False
    response = await client.get("/livez")
    assert response.status == 503 and await response.json() == {"ok": False, "failed": ["watcher"]}
    assert (await (await client.get("/readyz")).json())["failed"] == ["watcher"]


async def test_metrics_in_the_prometheus_text_format(client, metrics):
    metrics.generation_finished("succeeded")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    [sample] = [
        s for s in families["imagine_generations"].samples if s.labels == {"outcome": "succeeded"}
    ]
    assert sample.name == "imagine_generations_total" and sample.value == 1
    assert families["imagine_generations"].type == "counter"


async def test_other_paths_are_not_found(client):
    assert (await client.get("/")).status == 404
    assert (await client.post("/livez")).status == 405


async def test_the_real_server_listens_measures_the_loop_and_closes(metrics, states):
    alive, ready = states
    server = make_server(metrics, alive=alive, ready=ready)
    await server.start()
    try:
        assert server.port
        url = f"http://127.0.0.1:{server.port}/livez"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
        assert [t for t in asyncio.all_tasks() if t.get_name() == "imagine-loop-lag"]
        await wait_until(lambda: metrics.registry.get_sample_value(
            "imagine_event_loop_lag_seconds") is not None)  # fmt: skip
    finally:
        await server.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "imagine-loop-lag"]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0  # nothing listens any more


async def test_a_taken_port_says_which_and_how_to_fix_it(metrics, states):
    alive, ready = states
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server(metrics, alive=alive, ready=ready, port=port)
        with pytest.raises(CannotListen) as info:
            await server.start()
    assert f"127.0.0.1:{port}" in str(info.value) and "HTTP_PORT" in str(info.value)
