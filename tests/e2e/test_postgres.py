"""The real bot on the Postgres store (DATABASE_URL=postgresql://...): an /imagine delivered end
to end, and a pending job kept across a kill -9 and delivered by the next start."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.e2e.conftest import RunningBot, bot_settings, replace
from tests.e2e.process import BotProcess, bot_env
from tests.support.forwarder import Forwarder
from tests.support.net import free_port


@pytest.fixture
def scene(discord_fake):
    guild = discord_fake.create_guild("Postgres Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    return guild, channel, alice


async def job_row(url, gid):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow("SELECT * FROM jobs WHERE generation_id = $1", gid)
    finally:
        await conn.close()


async def wait_status(url, gid, status, timeout=10.0):
    async with asyncio.timeout(timeout):
        while (row := await job_row(url, gid)) is None or row["status"] != status:
            await asyncio.sleep(0.05)
    return row


async def test_imagine_is_delivered_with_the_postgres_store(
    discord_fake, oxen, postgres_url, scene, tmp_path
):
    guild, channel, alice = scene
    unused = tmp_path / "unused.sqlite3"
    settings = replace(
        bot_settings(discord_fake, oxen, guild.id, unused), database_url=postgres_url
    )
    bot = RunningBot(settings)
    await bot.start(discord_fake)
    try:
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a blue elephant"}
        )
        await interaction.wait_acknowledged(timeout=3)
        result = await discord_fake.wait_for_message(channel, lambda m: bool(m.attachments))
        [gid] = list(oxen.generations)
        assert result.attachments[0].data == oxen.result_bytes(gid)
        row = await wait_status(postgres_url, gid, "delivered")
        assert row["prompt"] == "a blue elephant" and row["requester_id"] == alice.id
        assert row["result_message_id"] == result.id and row["status_message_id"]
    finally:
        await bot.stop()
    assert not unused.exists()  # nothing went to SQLite


async def test_a_pending_job_survives_kill_9_and_is_delivered_after_restart(
    discord_fake, oxen, postgres_url, scene, tmp_path
):
    guild, channel, alice = scene
    env = bot_env(
        discord_fake, oxen, guild.id, tmp_path / "unused.sqlite3", DATABASE_URL=postgres_url
    )
    first, second = BotProcess(env, tmp_path), BotProcess(env, tmp_path)
    try:
        await first.start(discord_fake, guild)
        oxen.hold = True
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a red cube"}
        )
        await interaction.wait_acknowledged(timeout=3)
        await discord_fake.wait_for_message(channel, lambda m: "Queued" in m.content)
        await first.kill()
        [gid] = list(oxen.generations)
        assert (await job_row(postgres_url, gid))["status"] == "pending"
        await oxen.complete(gid)  # finishes while the bot is dead: its event is lost
        await second.start(discord_fake, guild)
        try:
            result = await discord_fake.wait_for_message(channel, lambda m: bool(m.attachments))
        except AssertionError:
            await second.kill()
            raise AssertionError(second.text[-6000:]) from None
        assert result.attachments[0].data == oxen.result_bytes(gid)
        await wait_status(postgres_url, gid, "delivered")
        await second.terminate()
    finally:
        await first.ensure_stopped()
        await second.ensure_stopped()
    password = urlsplit(postgres_url).password
    assert password and password not in first.text + second.text  # DEBUG logs and all
    assert "Traceback" not in second.text
    assert not (tmp_path / "unused.sqlite3").exists()


async def test_the_bot_rides_out_a_postgres_outage(
    discord_fake, oxen, postgres_url, scene, tmp_path
):
    """PostgreSQL goes away under a running bot (every connection dropped, nothing listening)
    and comes back: a generation that finished during the outage is delivered after it, a
    /imagine during it is answered with why (and no traceback), and /imagine works again."""
    guild, channel, alice = scene
    bob = discord_fake.create_user("bob")
    discord_fake.add_member(guild, bob)
    database = Forwarder(free_port(), urlsplit(postgres_url).port)
    await database.start()
    url = (
        urlsplit(postgres_url)
        ._replace(
            netloc=f"{urlsplit(postgres_url).username}:{urlsplit(postgres_url).password}"
            f"@127.0.0.1:{database.listen_port}"
        )
        .geturl()
    )
    env = bot_env(
        discord_fake, oxen, guild.id, tmp_path / "unused.sqlite3", DATABASE_URL=url,
        LOG_LEVEL="INFO",
    )  # fmt: skip
    bot = BotProcess(env, tmp_path)
    try:
        await bot.start(discord_fake, guild)
        oxen.hold = True
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a patient owl"}
        )
        await interaction.wait_acknowledged(timeout=3)
        await discord_fake.wait_for_message(channel, lambda m: "Queued" in m.content)
        [gid] = list(oxen.generations)

        await database.cut()
        await oxen.complete(gid)  # its event arrives while the store is out of reach
        await bot.wait_for_output(f"finishing generation {gid} failed")
        during = await discord_fake.invoke_slash_command(
            bob, channel, "imagine", options={"prompt": "an impatient crow"}
        )
        await during.wait_acknowledged(timeout=3)
        answer = await discord_fake.wait_for_message(
            channel,
            lambda m: m.interaction_id == during.id and not m.loading and bool(m.content),
            timeout=15,
        )
        assert answer.ephemeral and "database" in answer.content.lower(), answer.content
        assert not any(m.attachments for m in discord_fake.messages(channel))
        told = [m for m in discord_fake.messages(channel) if m.interaction_id == during.id]
        assert [m.content for m in told] == [answer.content]  # told once

        await database.start()
        result = await discord_fake.wait_for_message(
            channel, lambda m: bool(m.attachments), timeout=30
        )
        assert result.attachments[0].data == oxen.result_bytes(gid)
        await wait_status(postgres_url, gid, "delivered")
        oxen.hold = False
        after = await discord_fake.invoke_slash_command(
            bob, channel, "imagine", options={"prompt": "a crow, at last"}
        )
        await after.wait_acknowledged(timeout=3)
        await discord_fake.wait_for_message(
            channel, lambda m: bool(m.attachments) and m.id != result.id, timeout=20
        )
        assert await bot.terminate() == 0, bot.text
    finally:
        await bot.ensure_stopped()
        await database.cut()
    # Every failure during the outage said so in one line, not with a traceback.
    assert "Traceback" not in bot.text, bot.text[-6000:]
    assert "the database cannot be reached" in bot.text
    assert urlsplit(postgres_url).password not in bot.text
