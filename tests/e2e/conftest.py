"""End-to-end fixtures: the real bot, started through its composition root (``bot.__main__.run``,
the code path of ``python -m bot``), against the local Discord stand-in and the fake Oxen."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from bot.__main__ import run
from bot.config import Settings
from bot.core.types import GuildSettings
from tests.fakes.discord import FakeDiscord
from tests.fakes.oxen import FakeOxen
from tests.support.net import free_port


class RunningBot:
    """The bot as ``python -m bot`` runs it, in this event loop, stoppable like SIGTERM."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._saved_base = discord.http.Route.BASE
        self._saved_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY

    async def start(self, fake: FakeDiscord, timeout: float = 10.0) -> None:
        """Start and wait for the bot's gateway READY (commands are synced before it connects)."""
        known = {id(session) for session in fake.ready_sessions()}
        self._shutdown = asyncio.Event()
        # The gallery's clock is the local Discord's: a test that moves one moves both.
        self._task = asyncio.create_task(run(self.settings, self._shutdown, clock=fake.clock.now))
        async with asyncio.timeout(timeout):
            while not [s for s in fake.ready_sessions() if id(s) not in known]:
                if self._task.done():
                    self._task.result()  # surface a start-up failure
                await asyncio.sleep(0.02)

    async def stop(self, timeout: float = 15.0) -> None:
        if self._task is None:
            return
        self._shutdown.set()
        try:
            async with asyncio.timeout(timeout):
                await self._task
        finally:
            self._task = None
            discord.http.Route.BASE = self._saved_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved_gateway


@dataclass
class World:
    discord: FakeDiscord
    oxen: FakeOxen
    bot: RunningBot
    guild: object
    channel: object
    alice: object
    bob: object


def bot_settings(discord_fake: FakeDiscord, oxen: FakeOxen, guild_id: int, db: Path) -> Settings:
    return Settings(
        discord_token=discord_fake.token,
        oxen_api_key=oxen.api_key,
        oxen_base_url=oxen.base_url,
        database_path=db,
        discord_api_base_url=discord_fake.base_url,
        guild_ids=(guild_id,),
        log_level="DEBUG",
        poll_interval=0.1,
        status_edit_interval=0.2,
        http_port=free_port(),  # the health and metrics server, never on a fixed port in tests
    )


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def world(discord_fake: FakeDiscord, oxen: FakeOxen, tmp_path: Path) -> AsyncIterator[World]:
    guild = discord_fake.create_guild("Test Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    bob = discord_fake.create_user("bob")
    discord_fake.add_member(guild, alice)
    discord_fake.add_member(guild, bob)
    settings = bot_settings(discord_fake, oxen, guild.id, tmp_path / "data" / "bot.sqlite3")
    running = RunningBot(settings)
    await running.start(discord_fake)
    world = World(discord_fake, oxen, running, guild, channel, alice, bob)
    try:
        yield world
    finally:
        await world.bot.stop()  # a test may have restarted the bot with other settings
        # Nothing of the bot may outlive the test.
        leftover = [
            t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
            and "imagine" in (t.get_name() + repr(t.get_coro()))
        ]  # fmt: skip
        for task in leftover:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*leftover, return_exceptions=True)
        assert not leftover, f"tasks left behind: {leftover}"


async def set_server_limits(world: World, **limits: int) -> None:
    """Change the guild's fair-use limits in the bot's store (as /imagine-admin limits does),
    for tests about something else that need other limits than a new install's."""
    await set_server_settings(world, GuildSettings(**limits))


async def set_server_settings(world: World, settings: GuildSettings) -> None:
    """Write the guild's settings into the bot's store while it runs. In a thread: the bot
    runs on this event loop, and must be able to finish a transaction while this write waits
    for SQLite's lock."""

    def write() -> None:
        with contextlib.closing(sqlite3.connect(world.bot.settings.database_path)) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO guild_settings (guild_id, data) VALUES (?, ?)",
                (world.guild.id, settings.to_json()),
            )

    await asyncio.to_thread(write)


__all__ = ["RunningBot", "World", "bot_settings", "replace"]
