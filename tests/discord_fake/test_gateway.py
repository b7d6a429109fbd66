"""Gateway behaviour: RESUME after a drop, heartbeats, invalid tokens."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from tests.fakes.discord import FakeDiscord

from .conftest import RunBot, World, make_bot


async def test_resume_replays_missed_events(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    await run_bot(bot, sync=False)
    session = discord_fake.gateway_sessions[0]
    await discord_fake.disconnect_gateway()
    new_channel = discord_fake.create_channel(world.guild, "while-away")
    await asyncio.wait_for(resumed.wait(), 10)
    assert session.resumes == 1 and len(discord_fake.gateway_sessions) == 1
    assert bot.get_channel(new_channel.id) is not None
    assert session.names()[-2:] == ["CHANNEL_CREATE", "RESUMED"]
    discord_fake.delete_channel(new_channel)
    for _ in range(100):
        if bot.get_channel(new_channel.id) is None:
            break
        await asyncio.sleep(0.01)
    assert bot.get_channel(new_channel.id) is None


async def test_identify_with_bad_token_closes_4004(discord_fake: FakeDiscord):
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(discord_fake.gateway_url) as ws,
    ):
        hello = await ws.receive_json()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": "nope", "intents": 0}})
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4004


async def test_bot_messages_reach_the_client_cache(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    bot.add_listener(on_message)
    await run_bot(bot, sync=False)
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hi")
    echoed = await asyncio.wait_for(received.get(), 3)
    assert echoed.id == sent.id and echoed.author.id == discord_fake.bot_user.id


async def test_stop_closes_live_websockets_promptly():
    fake = FakeDiscord()
    await fake.start()
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.gateway_url) as ws:
        await ws.receive_json()
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 513}})
        ready = await ws.receive_json()
        assert ready["t"] == "READY" and ready["s"] == 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(fake.stop(), 5)
        assert loop.time() - started < 2.5
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
