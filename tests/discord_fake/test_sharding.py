"""Sharding: GET /gateway/bot, shard routing of guild and DM events, IDENTIFY rules."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, GuildRecord

from .conftest import RunBot
from .raw import RawClient

WINDOW = 0.25  # the fake's IDENTIFY window, scaled down from Discord's 5 s
DELAY = 0.3  # how long the bots wait between their own IDENTIFYs (discord.py: 5 s)


class ShardedBot(commands.AutoShardedBot):
    def __init__(self, **options: Any) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            help_command=None,
            **options,
        )
        self.seen: list[tuple[int | None, int | None]] = []

        @self.tree.command(description="which shard am I on")
        async def where(interaction: discord.Interaction) -> None:
            shard = interaction.guild.shard_id if interaction.guild else None
            self.seen.append((interaction.guild_id, shard))
            await interaction.response.send_message(f"shard {shard}")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every IDENTIFY but the first; scaled like the fake.
        if not initial:
            await asyncio.sleep(DELAY)


def _guilds(fake: FakeDiscord, shards: int) -> list[GuildRecord]:
    return [fake.create_guild(f"guild-{i}", shard=(i, shards)) for i in range(shards)]


def _guild_creates(fake: FakeDiscord, shard_id: int) -> list[int]:
    (session,) = fake.sessions_for_shard(shard_id)
    return [int(e.data["id"]) for e in session.events if e.name == "GUILD_CREATE"]


async def test_gateway_bot_reports_shards_and_session_start_limit(
    discord_fake: FakeDiscord, raw: RawClient
) -> None:
    discord_fake.configure_sharding(shards=4, max_concurrency=2)
    reply = await raw.get("/gateway/bot")
    assert reply.status == 200
    assert reply.body["url"] == discord_fake.gateway_url and reply.body["shards"] == 4
    assert reply.body["session_start_limit"] == {
        "total": 1000,
        "remaining": 1000,
        "reset_after": 14_400_000,
        "max_concurrency": 2,
    }
    unauthenticated = await raw.get("/gateway/bot", auth=False)
    assert unauthenticated.status == 401


async def test_auto_sharded_client_gets_each_shard_its_guilds(
    discord_fake: FakeDiscord, run_bot: RunBot
) -> None:
    guilds = _guilds(discord_fake, 3)
    discord_fake.configure_sharding(shards=3, enforce_identify_limit=True, identify_window=WINDOW)
    bot = ShardedBot(shard_count=3)
    await run_bot(bot, sync=False)
    assert sorted(bot.shards) == [0, 1, 2]
    assert {g.id for g in bot.guilds} == {g.id for g in guilds}
    for shard_id, guild in enumerate(guilds):
        assert discord_fake.shard_of(guild, 3) == shard_id
        (session,) = discord_fake.sessions_for_shard(shard_id)
        assert session.shard == (shard_id, 3)
        ready = session.events[0]
        assert ready.name == "READY" and ready.data["shard"] == [shard_id, 3]
        assert [g["id"] for g in ready.data["guilds"]] == [str(guild.id)]
        assert _guild_creates(discord_fake, shard_id) == [guild.id]
        cached = bot.get_guild(guild.id)
        assert cached is not None and cached.shard_id == shard_id
    # One IDENTIFY per shard; with max_concurrency 1 they are one bucket, spaced by the window.
    assert [r.shard for r in discord_fake.identifies] == [(0, 3), (1, 3), (2, 3)]
    assert all(r.accepted for r in discord_fake.identifies)
    times = discord_fake.identify_times(0)
    assert len(times) == 3 and all(b - a >= WINDOW for a, b in itertools.pairwise(times))


async def test_recommended_shard_count_is_used_when_none_is_given(
    discord_fake: FakeDiscord, run_bot: RunBot
) -> None:
    _guilds(discord_fake, 2)
    discord_fake.configure_sharding(shards=2, max_concurrency=2)
    bot = ShardedBot()
    await run_bot(bot, sync=False)
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert [r.bucket for r in discord_fake.identifies] == [0, 1]
    assert [r.route for r in discord_fake.requests].count("/gateway/bot") == 1


async def test_interactions_reach_only_their_shards_process(
    discord_fake: FakeDiscord, run_bot: RunBot
) -> None:
    # Two processes: one runs shard 0, the other shards 1 and 2.
    g0, g1, g2 = _guilds(discord_fake, 3)
    alice = discord_fake.create_user("alice")
    channels = {}
    for guild in (g0, g2):
        discord_fake.add_member(guild, alice)
        channels[guild.id] = discord_fake.create_channel(guild, "imagine")
    discord_fake.configure_sharding(
        shards=3, max_concurrency=3, enforce_identify_limit=True, identify_window=WINDOW
    )
    first, second = (
        ShardedBot(shard_ids=[0], shard_count=3),
        ShardedBot(shard_ids=[1, 2], shard_count=3),
    )
    await run_bot(first)
    await run_bot(second, sync=False)
    assert [g.id for g in first.guilds] == [g0.id]
    assert {g.id for g in second.guilds} == {g1.id, g2.id}

    interaction = await discord_fake.invoke_slash_command(alice, channels[g2.id], "where")
    await interaction.wait_acknowledged()
    assert second.seen == [(g2.id, 2)] and first.seen == []
    assert interaction.original is not None and interaction.original.content == "shard 2"

    interaction = await discord_fake.invoke_slash_command(alice, channels[g0.id], "where")
    await interaction.wait_acknowledged()
    assert first.seen == [(g0.id, 0)]

    # DMs have no guild: Discord sends their events to shard 0 only.
    dm = await discord_fake.invoke_slash_command(alice, discord_fake.open_dm(alice), "where")
    await dm.wait_acknowledged()
    assert first.seen[-1] == (None, None) and len(second.seen) == 1
    for shard_id in (1, 2):
        (session,) = discord_fake.sessions_for_shard(shard_id)
        events = [e for e in session.events if e.name == "INTERACTION_CREATE"]
        assert [e.data.get("guild_id") for e in events] == ([str(g2.id)] if shard_id == 2 else [])


async def test_guild_events_follow_the_shard(discord_fake: FakeDiscord, run_bot: RunBot) -> None:
    g0, g1 = _guilds(discord_fake, 2)
    discord_fake.configure_sharding(shards=2, max_concurrency=2)
    first = await run_bot(ShardedBot(shard_ids=[0], shard_count=2), sync=False)
    second = await run_bot(ShardedBot(shard_ids=[1], shard_count=2), sync=False)
    late = discord_fake.create_guild("late", shard=(1, 2))
    channel = discord_fake.create_channel(g1, "news")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while second.get_channel(channel.id) is None or second.get_guild(late.id) is None:
        assert loop.time() < deadline, "the shard-1 process never saw its guild's events"
        await asyncio.sleep(0.01)
    assert first.get_channel(channel.id) is None and first.get_guild(late.id) is None
    (session0,) = discord_fake.sessions_for_shard(0)
    assert "CHANNEL_CREATE" not in session0.names() and g0.id in _guild_creates(discord_fake, 0)


async def _identify(
    session: aiohttp.ClientSession, fake: FakeDiscord, shard: list[int] | None
) -> aiohttp.WSMessage:
    """Open a connection, IDENTIFY, and return the first thing the gateway answers."""
    ws = await session.ws_connect(fake.gateway_url)
    await ws.receive_json()  # HELLO
    data: dict[str, Any] = {"token": fake.token, "intents": 513}
    if shard is not None:
        data["shard"] = shard
    await ws.send_json({"op": 2, "d": data})
    return await asyncio.wait_for(ws.receive(), 3)


async def test_identify_rules_invalid_session_invalid_shard_sharding_required(
    discord_fake: FakeDiscord,
) -> None:
    discord_fake.create_guild("a")
    discord_fake.create_guild("b")
    discord_fake.configure_sharding(enforce_identify_limit=True)  # Discord's 5 s, concurrency 1
    async with aiohttp.ClientSession() as session:
        first = await _identify(session, discord_fake, [0, 2])
        assert first.json()["t"] == "READY" and first.json()["d"]["shard"] == [0, 2]
        # Same bucket (1 % 1 == 0) within 5 s: Invalid Session, not resumable.
        second = await _identify(session, discord_fake, [1, 2])
        assert second.json() == {"op": 9, "d": False}
        for bad in ([2, 2], [0, 0], [-1, 3]):
            closed = await _identify(session, discord_fake, bad)
            assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4010
        discord_fake.configure_sharding(sharding_threshold=1)
        closed = await _identify(session, discord_fake, None)  # both guilds in one session
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4011
    outcomes = [r.outcome for r in discord_fake.identifies]
    assert outcomes == ["ready", "invalid_session"] + ["invalid_shard"] * 3 + ["sharding_required"]
    assert len(discord_fake.identify_times(0)) == 1
    assert discord_fake.sharding.session_start_remaining == 999


async def test_two_processes_identifying_at_once_recover(
    discord_fake: FakeDiscord, run_bot: RunBot
) -> None:
    # Both processes start their only shard at once, in one bucket: one is told Invalid
    # Session, and discord.py identifies again after its wait.
    _guilds(discord_fake, 2)
    discord_fake.configure_sharding(max_concurrency=1, enforce_identify_limit=True)
    discord_fake.configure_sharding(identify_window=WINDOW)
    bots = [ShardedBot(shard_ids=[i], shard_count=2) for i in range(2)]
    await asyncio.gather(*(run_bot(bot, sync=False) for bot in bots))
    outcomes = [r.outcome for r in discord_fake.identifies]
    assert outcomes.count("ready") == 2 and "invalid_session" in outcomes
    first, second = discord_fake.identify_times(0)
    assert second - first >= WINDOW
    assert all(len(bot.guilds) == 1 for bot in bots)
