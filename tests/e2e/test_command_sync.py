"""Global command sync happens only when the definitions changed (Discord limits creates/day)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from bot.discord_app.client import GLOBAL_COMMANDS_HASH
from tests.e2e.conftest import RunningBot, bot_settings

COMMANDS = ["Edit with imagine-bot", "edit", "gallery", "help", "imagine", "imagine-admin", "jobs"]


async def test_global_commands_are_synced_once_and_again_only_after_a_change(
    discord_fake, oxen, tmp_path
):
    guild = discord_fake.create_guild("Prod Guild")
    database = tmp_path / "bot.sqlite3"
    settings = replace(bot_settings(discord_fake, oxen, guild.id, database), guild_ids=())

    for _ in range(2):
        bot = RunningBot(settings)
        await bot.start(discord_fake)
        await bot.stop()
    assert discord_fake.command_sync_count == 1
    assert sorted(c["name"] for c in discord_fake.registered_commands()) == COMMANDS
    assert discord_fake.registered_commands(guild) == []  # no development copies

    # A release that changes the definitions leaves a different hash behind: sync again.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE meta SET value = 'old' WHERE key = ?", (GLOBAL_COMMANDS_HASH,))
    bot = RunningBot(settings)
    await bot.start(discord_fake)
    await bot.stop()
    assert discord_fake.command_sync_count == 2


async def test_development_guilds_get_their_commands_at_every_start(discord_fake, oxen, tmp_path):
    guild = discord_fake.create_guild("Dev Guild")
    settings = bot_settings(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3")
    for _ in range(2):
        bot = RunningBot(settings)
        await bot.start(discord_fake)
        await bot.stop()
    assert discord_fake.command_sync_count == 2
    assert sorted(c["name"] for c in discord_fake.registered_commands(guild)) == COMMANDS
    assert discord_fake.registered_commands() == []
