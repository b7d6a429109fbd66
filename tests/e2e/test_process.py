"""``python -m bot`` as a real process against the local fakes: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import pytest

from tests.e2e.process import BotProcess, bot_env


async def test_python_m_bot_serves_imagine_and_stops_cleanly_on_sigterm(
    discord_fake, oxen, tmp_path
):
    guild = discord_fake.create_guild("Process Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    bot = BotProcess(bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3"), tmp_path)
    try:
        await bot.start(discord_fake, guild)
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a red cube"}
        )
        await interaction.wait_acknowledged(timeout=3)
        result = await discord_fake.wait_for_message(
            channel, lambda m: bool(m.attachments), timeout=15
        )
        [gid] = list(oxen.generations)
        assert result.attachments[0].data == oxen.result_bytes(gid)
        assert await bot.terminate() == 0, bot.text
    finally:
        await bot.ensure_stopped()
    assert "shutting down" in bot.text
    assert "Traceback" not in bot.text, bot.text
    # Secrets never reach the logs, even at DEBUG.
    assert discord_fake.token not in bot.text and oxen.api_key not in bot.text
    assert (tmp_path / "bot.sqlite3").exists()


async def test_a_token_discord_refuses_stops_with_one_clear_line(discord_fake, oxen, tmp_path):
    guild = discord_fake.create_guild("Process Guild")
    env = bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3")
    env["DISCORD_TOKEN"] = "not-the-right-token"
    bot = BotProcess(env, tmp_path)
    try:
        with pytest.raises(AssertionError) as exited:
            await bot.start(discord_fake, guild)
    finally:
        await bot.ensure_stopped()
    assert bot.process is not None and bot.process.returncode == 2
    text = str(exited.value)
    assert "Discord refused DISCORD_TOKEN" in text
    assert "Traceback" not in text and "not-the-right-token" not in text
