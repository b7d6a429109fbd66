"""Fixtures: a FakeDiscord, a small world in it, and a bare commands.Bot running against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import ChannelRecord, FakeDiscord, GuildRecord, UserRecord

from .raw import RawClient

TOKEN = "test-bot-token"


@dataclass
class World:
    guild: GuildRecord
    channel: ChannelRecord
    alice: UserRecord


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as fake:
        with fake.patch_discord_py():
            yield fake


@pytest.fixture
def world(discord_fake: FakeDiscord) -> World:
    guild = discord_fake.create_guild("Test Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    return World(guild=guild, channel=channel, alice=alice)


def make_bot() -> commands.Bot:
    # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
    # on_ready (default 2 s); keep the tests fast.
    return commands.Bot(
        command_prefix="!",
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        help_command=None,
    )


RunBot = Callable[..., Awaitable[commands.Bot]]


@pytest.fixture
async def run_bot(discord_fake: FakeDiscord) -> AsyncIterator[RunBot]:
    """``await run_bot(bot, sync=True)``: login, connect, wait for READY, sync commands."""
    running: list[tuple[commands.Bot, asyncio.Task[None]]] = []

    async def start(
        bot: commands.Bot, *, sync: bool = True, guild: GuildRecord | None = None
    ) -> commands.Bot:
        task = asyncio.create_task(_connect(bot))
        running.append((bot, task))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=5, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            if task.done():
                task.result()
            raise AssertionError("bot did not become ready")
        if sync:
            if guild is not None:
                target = discord.Object(guild.id)
                bot.tree.copy_global_to(guild=target)
                await bot.tree.sync(guild=target)
            else:
                await bot.tree.sync()
        return bot

    async def _connect(bot: commands.Bot) -> None:
        await bot.login(TOKEN)
        await bot.connect(reconnect=True)

    yield start
    for bot, task in running:
        await bot.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@pytest.fixture
async def raw(discord_fake: FakeDiscord) -> AsyncIterator[RawClient]:
    """Raw HTTP with the bot's token, to read Discord's exact answers."""
    async with aiohttp.ClientSession() as session:
        yield RawClient(discord_fake, session)
