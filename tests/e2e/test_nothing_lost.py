"""Issue 4: every accepted prompt ends in its image or an explanation, exactly once."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
from dataclasses import replace

import pytest
from PIL import Image

from tests.e2e.conftest import RunningBot
from tests.e2e.process import BotProcess, bot_env
from tests.e2e.test_imagine import ephemeral_reply, imagine, is_result, queued

SEND_MESSAGES = 1 << 11
SEND_MESSAGES_IN_THREADS = 1 << 38


def images_for(world, gid):
    return [
        m for m in world.discord.messages(world.channel)
        if m.attachments and m.attachments[0].filename.startswith(gid)
    ]  # fmt: skip


def job_row(database, gid):
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM jobs WHERE generation_id = ?", (gid,)).fetchone()


async def wait_status(database, gid, status, timeout=10.0):
    async with asyncio.timeout(timeout):
        while job_row(database, gid)["status"] != status:
            await asyncio.sleep(0.05)


def noisy_png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- restarts and crashes ----------------------------------------------------------------------


@pytest.fixture
def scene(discord_fake):
    guild = discord_fake.create_guild("Crash Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    return guild, channel, alice


async def queue_held_job(discord_fake, oxen, channel, user):
    """/imagine a job that Oxen holds, and wait until the bot has stored and announced it."""
    oxen.hold = True
    interaction = await discord_fake.invoke_slash_command(
        user, channel, "imagine", options={"prompt": "a red cube"}
    )
    await interaction.wait_acknowledged(timeout=3)
    await discord_fake.wait_for_message(channel, lambda m: "Queued" in m.content)


async def test_pending_job_survives_kill_9_and_is_delivered_after_restart(
    discord_fake, oxen, tmp_path, scene
):
    guild, channel, alice = scene
    env = bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3")
    first, second = BotProcess(env, tmp_path), BotProcess(env, tmp_path)
    try:
        await first.start(discord_fake, guild)
        await queue_held_job(discord_fake, oxen, channel, alice)
        await first.kill()
        [gid] = list(oxen.generations)
        await oxen.complete(gid)  # finishes while the bot is dead: its event is lost
        await second.start(discord_fake, guild)
        try:
            result = await discord_fake.wait_for_message(channel, lambda m: bool(m.attachments))
        except AssertionError:
            await second.kill()
            raise AssertionError(second.text[-6000:]) from None
        assert result.attachments[0].data == oxen.result_bytes(gid)
        await wait_status(tmp_path / "bot.sqlite3", gid, "delivered")
    finally:
        await first.ensure_stopped()
        await second.ensure_stopped()


async def test_prompt_lost_mid_enqueue_by_a_crash_is_explained_after_restart(
    discord_fake, oxen, tmp_path, scene
):
    guild, channel, alice = scene
    env = bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3")
    first, second = BotProcess(env, tmp_path), BotProcess(env, tmp_path)
    try:
        await first.start(discord_fake, guild)
        oxen.delay_next("POST", "/api/ai/queue", 30)  # Oxen takes it, the answer never arrives
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a vanishing act"}
        )
        await interaction.wait_acknowledged(timeout=3)
        async with asyncio.timeout(10):
            while not oxen.generations:
                await asyncio.sleep(0.02)
        await first.kill()
        await second.start(discord_fake, guild)
        notice = await discord_fake.wait_for_message(channel, lambda m: "restarted" in m.content)
        assert "a vanishing act" in notice.content and "/imagine again" in notice.content
        assert notice.pinged_users == [alice.id]
    finally:
        await first.ensure_stopped()
        await second.ensure_stopped()


async def test_crash_between_posting_and_recording_does_not_post_twice(world, tmp_path):
    await imagine(world, prompt="a red cube")
    await world.discord.wait_for_message(world.channel, is_result)
    [gid] = list(world.oxen.generations)
    await world.bot.stop()
    # As if the process died after Discord accepted the post but before the store recorded it.
    with sqlite3.connect(world.bot.settings.database_path) as db:
        db.execute("UPDATE jobs SET status = 'delivering', result_message_id = NULL")
    await world.bot.start(world.discord)
    await wait_status(world.bot.settings.database_path, gid, "delivered")
    assert len(images_for(world, gid)) == 1


async def test_sigterm_stops_cleanly_and_pending_work_resumes(discord_fake, oxen, tmp_path, scene):
    guild, channel, alice = scene
    env = bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3")
    first, second = BotProcess(env, tmp_path), BotProcess(env, tmp_path)
    try:
        await first.start(discord_fake, guild)
        await queue_held_job(discord_fake, oxen, channel, alice)
        assert await first.terminate() == 0
        assert "shutting down" in first.text and "Traceback" not in first.text
        with sqlite3.connect(tmp_path / "bot.sqlite3") as db:  # the store was closed cleanly
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [gid] = list(oxen.generations)
        await oxen.complete(gid)
        await second.start(discord_fake, guild)
        await discord_fake.wait_for_message(channel, lambda m: bool(m.attachments))
    finally:
        await first.ensure_stopped()
        await second.ensure_stopped()


# --- delivery that does not depend on luck -----------------------------------------------------


async def test_an_hour_long_generation_is_posted_without_the_interaction_token(world):
    world.oxen.hold = True
    interaction = await imagine(world, prompt="a patient tortoise")
    await queued(world, interaction)
    world.discord.clock.advance(60 * 60)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    await world.discord.wait_for_message(world.channel, is_result)
    late = [
        r for r in world.discord.requests
        if interaction.token in r.path and r.time > interaction.created_at + 14 * 60
    ]  # fmt: skip
    assert late == [], "the interaction token was used after 14 minutes"
    assert not [e for e in world.discord.errors if e.code in (50027, 10062, 40060)]


async def test_missing_thread_permission_is_named_up_front(world):
    thread = world.discord.create_channel(world.guild, "ideas", type="thread", parent=world.channel)
    world.discord.set_overwrite(
        world.channel, target=world.discord.bot_user, deny=SEND_MESSAGES_IN_THREADS
    )
    interaction = await world.discord.invoke_slash_command(
        world.alice, thread, "imagine", options={"prompt": "a red cube"}
    )
    await interaction.wait_acknowledged(timeout=3)
    reply = await world.discord.wait_for_message(thread, lambda m: m.ephemeral)
    assert "Send Messages in Threads" in reply.content
    assert world.oxen.count("POST", "/api/ai/queue") == 0


async def test_deleted_channel_falls_back_to_a_dm_with_the_image(world):
    world.oxen.hold = True
    await queued(world, await imagine(world))
    world.discord.delete_channel(world.channel)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    async with asyncio.timeout(10):
        while not world.discord.dm_messages(world.alice):
            await asyncio.sleep(0.05)
    [dm] = world.discord.dm_messages(world.alice)
    assert dm.attachments[0].data == world.oxen.result_bytes(gid)


async def test_permissions_removed_later_fall_back_to_dm(world):
    world.oxen.hold = True
    await queued(world, await imagine(world))
    world.discord.set_overwrite(world.channel, target=world.discord.bot_user, deny=SEND_MESSAGES)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    async with asyncio.timeout(10):
        while not world.discord.dm_messages(world.alice):
            await asyncio.sleep(0.05)
    assert world.discord.dm_messages(world.alice)[0].attachments


async def test_archived_thread_falls_back_to_dm(world):
    thread = world.discord.create_channel(world.guild, "ideas", type="thread", parent=world.channel)
    world.oxen.hold = True
    interaction = await world.discord.invoke_slash_command(
        world.alice, thread, "imagine", options={"prompt": "a red cube"}
    )
    await interaction.wait_acknowledged(timeout=3)
    await world.discord.wait_for_message(thread, lambda m: "Queued" in m.content)
    world.discord.archive_thread(thread, locked=True)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    async with asyncio.timeout(10):
        while not world.discord.dm_messages(world.alice):
            await asyncio.sleep(0.05)


async def test_nowhere_to_post_marks_the_job_undeliverable_and_logs_its_ids(world, caplog):
    world.oxen.hold = True
    await queued(world, await imagine(world))
    world.discord.delete_channel(world.channel)
    world.discord.close_dms(world.alice)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    await wait_status(world.bot.settings.database_path, gid, "undeliverable")
    logged = [r.getMessage() for r in caplog.records if "undeliverable" in r.getMessage()]
    assert logged and gid in logged[0] and str(world.alice.id) in logged[0]


async def test_deleted_status_message_is_not_an_error(world):
    world.oxen.hold = True
    status = await queued(world, await imagine(world))
    world.discord.delete_message(status)
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    result = await world.discord.wait_for_message(world.channel, is_result)
    assert result.attachments[0].data == world.oxen.result_bytes(gid)
    await wait_status(world.bot.settings.database_path, gid, "delivered")


# --- Oxen trouble ------------------------------------------------------------------------------


async def test_rate_limited_enqueue_is_retried_and_then_succeeds(world):
    world.oxen.fail_next("POST", "/api/ai/queue", 429, times=2, retry_after=0.1)
    await imagine(world)
    await world.discord.wait_for_message(world.channel, is_result)
    assert world.oxen.count("POST", "/api/ai/queue") == 3


async def test_refused_key_tells_the_admin_exactly_what_to_fix(world, caplog):
    world.oxen.fail_next("POST", "/api/ai/queue", 401, message="unauthenticated")
    reply = await ephemeral_reply(world, await imagine(world))
    assert "misconfigured" in reply.content
    admin = [r.getMessage() for r in caplog.records if "OXEN_API_KEY" in r.getMessage()]
    assert admin and ".env" in admin[0]
    assert world.oxen.api_key not in " ".join(r.getMessage() for r in caplog.records)


async def test_insufficient_credits_is_said_in_plain_words(world):
    world.oxen.insufficient_credits = True
    reply = await ephemeral_reply(world, await imagine(world))
    assert "out of credits" in reply.content
    assert world.oxen.generations == {}


async def test_polling_errors_do_not_stop_delivery(world):
    world.oxen.events_enabled = False
    world.oxen.drop_event_streams()
    world.oxen.fail_next("GET", "/api/ai/queue", 500, times=8)
    await imagine(world)
    await world.discord.wait_for_message(world.channel, is_result, timeout=15)


@pytest.fixture
async def short_fuse_world(world):
    """The same world, with the bot restarted to cancel generations older than 1 second."""
    await world.bot.stop()
    world.bot = RunningBot(replace(world.bot.settings, max_generation_age=1.0))
    await world.bot.start(world.discord)
    return world


async def test_stalled_generation_is_cancelled_at_oxen_and_the_requester_told(short_fuse_world):
    world = short_fuse_world
    world.oxen.outcome_for_prompt("stuck", stall=True)
    await imagine(world, prompt="a stuck elevator")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "cancelled" in m.content, timeout=10
    )
    assert "a stuck elevator" in message.content and "1 second" in message.content
    [gid] = list(world.oxen.generations)
    assert world.oxen.generations[gid]["status"] == "cancelled"
    assert world.oxen.count("DELETE", f"/api/ai/queue/{gid}") == 1


# --- downloading and uploading the result ------------------------------------------------------


async def test_redirect_to_another_host_goes_without_the_key(world):
    cdn = await world.oxen.start_cdn()
    await imagine(world)
    result = await world.discord.wait_for_message(world.channel, is_result)
    [gid] = list(world.oxen.generations)
    assert result.attachments[0].data == world.oxen.result_bytes(gid)
    assert cdn.requests and not cdn.received_auth


async def test_oversized_download_is_abandoned_with_a_clear_message(world):
    world.oxen.make_results_huge(60 * 1024 * 1024, send_length=False)
    await imagine(world, prompt="an enormous whale")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "larger than I may fetch" in m.content, timeout=20
    )
    assert "an enormous whale" in message.content


async def test_result_that_is_not_an_image_is_not_uploaded(world):
    world.oxen.outcome_for_prompt("garbage", image=b"<html>not an image</html>")
    await imagine(world, prompt="garbage in")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "isn't an image" in m.content
    )
    assert not message.attachments


async def test_image_over_the_upload_limit_is_reencoded_to_fit(world):
    world.discord.upload_limit = 150_000
    big = noisy_png(400)  # ~480 KB of incompressible pixels
    world.oxen.outcome_for_prompt("big", image=big)
    await imagine(world, prompt="a big noisy picture")
    result = await world.discord.wait_for_message(world.channel, is_result)
    [attachment] = result.attachments
    [gid] = list(world.oxen.generations)
    assert attachment.size <= 150_000 < len(big)
    assert attachment.filename.split(".")[0] == gid
    assert attachment.filename.rsplit(".", 1)[1] in ("webp", "jpg")


async def test_image_that_can_never_fit_is_linked_instead(world):
    world.discord.upload_limit = 100
    world.oxen.outcome_for_prompt("big", image=noisy_png(300))
    await imagine(world, prompt="a big noisy picture")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "too large to upload" in m.content
    )
    assert world.oxen.base_url in message.content and not message.attachments


async def test_expired_result_url_is_refreshed_once(world):
    await imagine(world)
    await world.discord.wait_for_message(world.channel, is_result)
    [gid] = list(world.oxen.generations)
    await world.bot.stop()
    stale = world.oxen.generations[gid]["result_url"]
    world.oxen.expire_result(gid)  # the stored link now answers 403
    with sqlite3.connect(world.bot.settings.database_path) as db:
        db.execute("UPDATE jobs SET status = 'delivering', result_url = ?", (stale,))
    for message in list(world.discord.messages(world.channel)):
        if message.attachments:
            world.discord.delete_message(message)  # so the resumed job must post again
    await world.bot.start(world.discord)
    result = await world.discord.wait_for_message(world.channel, is_result)
    assert result.attachments[0].data == world.oxen.result_bytes(gid)


async def restart_with(world, **changes):
    await world.bot.stop()
    world.bot = RunningBot(replace(world.bot.settings, **changes))
    await world.bot.start(world.discord)


async def test_slow_download_is_abandoned_with_a_clear_message(world):
    await restart_with(world, download_timeout=0.5)
    world.oxen.make_results_slow(0.2, chunk_size=16)
    await imagine(world, prompt="a sluggish sloth")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "took too long" in m.content, timeout=15
    )
    assert "a sluggish sloth" in message.content and not message.attachments


async def test_expired_link_that_cannot_be_refreshed_is_explained(world):
    world.oxen.events_enabled = False
    world.oxen.drop_event_streams()
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="a fading photo"))
    [gid] = list(world.oxen.generations)
    await world.bot.stop()
    await world.oxen.complete(gid)
    stale = world.oxen.generations[gid]["result_url"]
    world.oxen.expire_result(gid)
    with sqlite3.connect(world.bot.settings.database_path) as db:
        db.execute(
            "UPDATE jobs SET status = 'delivering', outcome = 'succeeded', result_url = ?", (stale,)
        )
    world.oxen.fail_next("GET", f"/api/ai/queue/{gid}", 404, times=10)
    await world.bot.start(world.discord)
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "link expired" in m.content, timeout=15
    )
    assert "a fading photo" in message.content


async def test_generation_unknown_to_oxen_is_reported_to_the_requester(world):
    world.oxen.events_enabled = False
    world.oxen.drop_event_streams()
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="a ghost ship"))
    [gid] = list(world.oxen.generations)
    del world.oxen.generations[gid]  # Oxen lost it
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "no longer knows" in m.content, timeout=15
    )
    assert "a ghost ship" in message.content and message.pinged_users == [world.alice.id]
