"""Health checks: each named probe passes, fails, raises or hangs; the verdict names failures."""

from __future__ import annotations

import asyncio
import logging

from bot.web.health import Check, Health, answered_within, succeeds


async def test_live_and_ready_name_what_failed():
    gateway = [False]
    health = Health(
        live=[Check("watcher", lambda: True)],
        ready=[Check("gateway", lambda: gateway[0]), Check("store", lambda: True)],
    )
    assert (await health.live()).body() == {"ok": True, "failed": []}
    verdict = await health.ready()
    assert not verdict.ok and verdict.body() == {"ok": False, "failed": ["gateway"]}
    gateway[0] = True
    assert (await health.ready()).ok


async def test_ready_includes_every_live_check():
    health = Health(live=[Check("watcher", lambda: False)], ready=[Check("store", lambda: True)])
    assert (await health.ready()).failed == ("watcher",)


async def test_a_probe_that_raises_or_hangs_fails_within_the_timeout():
    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    async def broken() -> None:
        raise ConnectionError("database is gone")

    health = Health(
        live=[],
        ready=[Check("oxen", hangs), Check("store", succeeds(broken))],
        timeout=0.05,
    )
    async with asyncio.timeout(5):
        verdict = await health.ready()
    assert verdict.failed == ("oxen", "store")


async def test_async_probes_pass_when_they_return():
    async def ping() -> None:
        return None

    health = Health(live=[], ready=[Check("store", succeeds(ping))])
    assert (await health.ready()).ok


async def test_changes_are_logged_once_not_on_every_probe(caplog):
    up = [False]
    health = Health(live=[], ready=[Check("gateway", lambda: up[0])])
    with caplog.at_level(logging.INFO, logger="bot.web.health"):
        for _ in range(3):
            await health.ready()
        up[0] = True
        for _ in range(3):
            await health.ready()
    assert [r.getMessage() for r in caplog.records] == ["not ready: gateway failed", "ready again"]


def test_oxen_answered_recently_or_its_stream_is_open():
    since: list[float | None] = [None]
    stream = [False]
    probe = answered_within(
        300, seconds_since_answer=lambda: since[0], stream_open=lambda: stream[0]
    )
    assert probe() is False  # never answered
    since[0] = 10.0
    assert probe() is True
    since[0] = 301.0
    assert probe() is False  # too long ago
    stream[0] = True
    assert probe() is True  # keep-alives every 15 s on the open stream
