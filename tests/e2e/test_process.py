"""``python -m bot`` as a real process against the local fakes: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.process import BotProcess, bot_env
from tests.waiting import wait_until


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


async def test_sigterm_while_still_logging_in_exits_0_with_one_line(discord_fake, oxen, tmp_path):
    """Discord never answers the login: SIGTERM must still stop the bot at once, cleanly."""
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # hold the connection open until the bot goes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = bot_env(discord_fake, oxen, 1, tmp_path / "bot.sqlite3", LOG_LEVEL="INFO")
    env["DISCORD_API_BASE_URL"] = f"http://127.0.0.1:{port}"
    bot = BotProcess(env, tmp_path)
    try:
        await bot.spawn()
        async with asyncio.timeout(20):
            await accepted.wait()  # the bot is logging in
        assert await bot.terminate(timeout=10) == 0, bot.text
    finally:
        await bot.ensure_stopped()
        server.close()
        await server.wait_closed()
    assert "Traceback" not in bot.text, bot.text
    lines = [line for line in bot.text.splitlines() if line.strip()]
    assert [line for line in lines if "shutting down" in line] == lines[-1:], bot.text


async def test_sigterm_stops_within_the_grace_and_the_job_resumes(discord_fake, oxen, tmp_path):
    """A delivery that would take a minute does not hold shutdown past SHUTDOWN_GRACE_SECONDS;
    the job stays in the store and is posted after the restart."""
    guild = discord_fake.create_guild("Process Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    database = tmp_path / "bot.sqlite3"
    env = bot_env(discord_fake, oxen, guild.id, database, SHUTDOWN_GRACE_SECONDS="2")
    bot = BotProcess(env, tmp_path)
    try:
        await bot.start(discord_fake, guild)
        oxen.make_results_slow(1.0, chunk_size=64)  # the download would take minutes
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a slow fox"}
        )
        await interaction.wait_acknowledged(timeout=3)
        await wait_until(lambda: oxen.requests_to("GET", "/api/repos"), timeout=15)  # downloading
        started = time.monotonic()
        assert await bot.terminate(timeout=15) == 0, bot.text
        assert time.monotonic() - started < 8  # 2 s of grace, then out
        assert "shutdown grace of 2 s ran out" in bot.text
        oxen.make_results_slow(0.0)
        await bot.start(discord_fake, guild)
        result = await discord_fake.wait_for_message(
            channel, lambda m: bool(m.attachments), timeout=20
        )
        [gid] = list(oxen.generations)
        assert result.attachments[0].data == oxen.result_bytes(gid)
    finally:
        await bot.ensure_stopped()
    assert "Traceback" not in bot.text, bot.text
