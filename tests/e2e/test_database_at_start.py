"""``python -m bot`` when its database is not there yet, or cannot be used: it waits for a
PostgreSQL that comes up late, and otherwise stops with one clear line (no traceback, no
password), exit 2 when the setting is wrong and 1 when the database never answered."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from tests.e2e.process import BotProcess, bot_env
from tests.support.forwarder import Forwarder
from tests.support.net import free_port


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def postgres_env(discord_fake, oxen, tmp_path, url: str, **extra: str) -> dict[str, str]:
    env = bot_env(discord_fake, oxen, 1, tmp_path / "unused.sqlite3", LOG_LEVEL="INFO", **extra)
    env["DATABASE_URL"] = url
    return env


async def run_to_the_end(env: dict[str, str], cwd) -> tuple[int, BotProcess]:
    """Start the bot and wait for it to stop by itself: its exit code, and the process."""
    bot = BotProcess(env, cwd)
    try:
        await bot.spawn()
        code = await bot.exit_code()
    finally:
        await bot.ensure_stopped()
    return code, bot


async def test_a_postgres_that_comes_up_after_the_bot_is_waited_for(
    discord_fake, oxen, postgres_url, tmp_path
):
    guild = discord_fake.create_guild("Late Database Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    late_port = free_port()
    env = postgres_env(discord_fake, oxen, tmp_path, with_port(postgres_url, late_port))
    env["DISCORD_GUILD_IDS"] = str(guild.id)
    bot = BotProcess(env, tmp_path)
    try:
        await bot.spawn()  # the default DATABASE_WAIT_SECONDS: nothing listens there yet
        await bot.wait_for_output("is not answering yet")
        async with Forwarder(late_port, urlsplit(postgres_url).port):
            async with asyncio.timeout(30):
                while not (
                    discord_fake.registered_commands(guild) and discord_fake.ready_sessions()
                ):
                    assert bot.process is not None and bot.process.returncode is None, bot.text
                    await asyncio.sleep(0.05)
            interaction = await discord_fake.invoke_slash_command(
                alice, channel, "imagine", options={"prompt": "a late heron"}
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
    assert "Traceback" not in bot.text, bot.text
    password = urlsplit(postgres_url).password
    assert password and password not in bot.text
    waits = [line for line in bot.lines() if "is not answering yet" in line]
    assert waits and all(f"127.0.0.1:{late_port}" in line for line in waits)


async def test_a_wrong_password_stops_at_once_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    wrong = "not-the-password-7f3a"
    env = postgres_env(discord_fake, oxen, tmp_path, with_password(postgres_url, wrong))
    started = time.monotonic()
    code, bot = await run_to_the_end(env, tmp_path)
    assert code == 2, bot.text
    assert time.monotonic() - started < 15  # not the minute of waiting: waiting would not help
    [line] = bot.lines()
    assert "password authentication failed" in line and "DATABASE_URL" in line, line
    assert wrong not in bot.text


async def test_a_database_that_does_not_exist_stops_at_once_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    missing = urlsplit(postgres_url)._replace(path="/no_such_database").geturl()
    code, bot = await run_to_the_end(postgres_env(discord_fake, oxen, tmp_path, missing), tmp_path)
    assert code == 2, bot.text
    [line] = bot.lines()
    assert 'database "no_such_database" does not exist' in line, line
    assert urlsplit(postgres_url).password not in bot.text


async def test_a_postgres_that_never_answers_exits_1_after_the_wait(
    discord_fake, oxen, postgres_url, tmp_path
):
    down = with_port(postgres_url, free_port())
    env = postgres_env(discord_fake, oxen, tmp_path, down, DATABASE_WAIT_SECONDS="2")
    code, bot = await run_to_the_end(env, tmp_path)
    assert code == 1, bot.text
    assert "Traceback" not in bot.text, bot.text
    lines = bot.lines()
    assert "did not answer within 2 s" in lines[-1], bot.text
    assert all("is not answering yet" in line for line in lines[:-1]), bot.text
    assert urlsplit(postgres_url).password not in bot.text


async def test_sigterm_while_waiting_for_the_database_exits_0_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    down = with_port(postgres_url, free_port())
    bot = BotProcess(postgres_env(discord_fake, oxen, tmp_path, down), tmp_path)
    try:
        await bot.spawn()
        await bot.wait_for_output("is not answering yet")
        assert await bot.terminate(timeout=10) == 0, bot.text
    finally:
        await bot.ensure_stopped()
    assert "Traceback" not in bot.text, bot.text
    assert bot.lines()[-1].endswith("shutting down"), bot.text


async def test_a_sqlite_file_that_is_not_a_database_stops_with_one_line(
    discord_fake, oxen, tmp_path
):
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are my notes, not a database\n" * 100)
    env = bot_env(discord_fake, oxen, 1, not_a_database, LOG_LEVEL="INFO")
    code, bot = await run_to_the_end(env, tmp_path)
    assert code == 2, bot.text
    [line] = bot.lines()
    assert f"cannot open the SQLite database {not_a_database}" in line, line
    assert "not a database" in line, line
    assert not_a_database.read_text().startswith("these are my notes")  # left as it was


async def test_a_sqlite_folder_that_cannot_be_made_stops_with_one_line(
    discord_fake, oxen, tmp_path
):
    a_file = tmp_path / "data"
    a_file.write_text("a file where the folder should be")
    env = bot_env(discord_fake, oxen, 1, a_file / "bot.sqlite3", LOG_LEVEL="INFO")
    code, bot = await run_to_the_end(env, tmp_path)
    assert code == 2, bot.text
    [line] = bot.lines()
    assert f"cannot open the SQLite database {a_file / 'bot.sqlite3'}" in line, line
