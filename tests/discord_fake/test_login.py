from __future__ import annotations

import discord
import discord.gateway
import yarl
from discord.ext import commands

from tests.fakes.discord import FakeDiscord

from .conftest import RunBot, World, make_bot


async def test_login_ready_and_guild_cache(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    role = discord_fake.create_role(world.guild, "Mods", permissions=0)
    thread = discord_fake.create_channel(world.guild, "ideas", type="thread", parent=world.channel)
    bot = await run_bot(make_bot(), sync=False)

    assert bot.user is not None and bot.user.id == discord_fake.bot_user.id
    assert bot.application_id == discord_fake.application_id
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.name == "Test Guild"
    channel = guild.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    assert guild.get_role(role.id) is not None
    assert guild.get_thread(thread.id) is not None
    assert guild.me is not None and guild.member_count == 3
    # No GUILD_MEMBERS intent: like Discord, GUILD_CREATE carries only the bot's member.
    assert guild.get_member(world.alice.id) is None
    assert channel.permissions_for(guild.me).send_messages
    session = discord_fake.gateway_sessions[0]
    assert discord_fake.ready_sessions() == [session]
    assert discord_fake.guilds == [world.guild]
    assert session.names()[:2] == ["READY", "GUILD_CREATE"]
    assert [r.route for r in discord_fake.requests][:1] == ["/users/@me"]


async def test_gateway_url_can_be_discovered_with_gateway_bot(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    """Recipe for a bot that is only given the REST base: ask GET /gateway/bot.

    discord.py 2.7's plain Client never asks; it dials DiscordWebSocket.DEFAULT_GATEWAY.
    """
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")

    class Bot(commands.Bot):
        async def setup_hook(self) -> None:
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    bot = Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
    await run_bot(bot, sync=False)
    assert discord_fake.ready_sessions()
    assert [r.route for r in discord_fake.requests][:3] == [
        "/users/@me",
        "/oauth2/applications/@me",
        "/gateway/bot",
    ]
