"""The Discord client's parts of health and metrics: the gateway check and the 429 counter."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.discord_app.client import ImagineBot, rate_limit_trace


class NoMeta:
    async def get(self, key: str) -> str | None:
        return None

    async def set(self, key: str, value: str) -> None:
        return None


async def test_not_connected_before_login():
    bot = ImagineBot(meta=NoMeta())
    try:
        assert not bot.gateway_connected
    finally:
        await bot.close()


async def test_the_trace_counts_every_429_and_nothing_else():
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"retry_after": 0.1}, status=int(request.match_info["status"]))

    app = web.Application()
    app.router.add_get("/{status}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    limited: list[int] = []
    try:
        trace = rate_limit_trace(lambda: limited.append(1))
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            for status in (200, 429, 404, 429):
                async with session.get(f"http://127.0.0.1:{port}/{status}") as response:
                    assert response.status == status
    finally:
        await runner.cleanup()
    assert len(limited) == 2
