"""Discord's rate limits as Discord reports them: per-channel, per-interaction, shared, global."""

from __future__ import annotations

import asyncio
import math
import time

import discord
from discord.ext import commands

from tests.fakes.discord import ChannelRecord, FakeDiscord, InteractionRecord

from .conftest import RunBot, World, make_bot
from .raw import RawClient, Reply

MESSAGES = "POST /channels/{channel_id}/messages"
FOLLOWUP = "POST /webhooks/{application_id}/{token}"


def _text_channel(bot: discord.Client, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def _assert_bucket_headers(reply: Reply, limit: int, per: float) -> None:
    assert reply.header("X-RateLimit-Limit") == str(limit)
    reset_after = float(reply.headers["X-RateLimit-Reset-After"])
    assert 0 < reset_after <= per
    # Reset is the same moment as an epoch timestamp (float seconds).
    assert abs(float(reply.headers["X-RateLimit-Reset"]) - (time.time() + reset_after)) < 0.5
    assert reply.header("X-RateLimit-Bucket")


def _assert_429(reply: Reply, scope: str) -> float:
    assert reply.status == 429
    assert reply.header("X-RateLimit-Scope") == scope
    retry_after = reply.body["retry_after"]
    assert retry_after > 0 and reply.body["global"] is (scope == "global")
    assert reply.header("Retry-After") == str(max(1, math.ceil(retry_after)))
    return float(retry_after)


async def test_per_channel_message_buckets_and_headers(
    discord_fake: FakeDiscord, world: World, raw: RawClient
) -> None:
    discord_fake.use_discord_limits()
    other = discord_fake.create_channel(world.guild, "other")
    path = f"/channels/{world.channel.id}/messages"
    replies = [await raw.post(path, {"content": str(i)}) for i in range(5)]
    assert [r.status for r in replies] == [200] * 5
    assert [r.remaining for r in replies] == [4, 3, 2, 1, 0]
    for reply in replies:
        _assert_bucket_headers(reply, 5, 5.0)
    afters = [float(r.headers["X-RateLimit-Reset-After"]) for r in replies]
    assert afters == sorted(afters, reverse=True)  # one window, counting down

    limited = await raw.post(path, {"content": "sixth"})
    retry_after = _assert_429(limited, "user")
    assert 4 < retry_after <= 5 and limited.remaining == 0
    assert limited.body["message"] == "You are being rate limited."
    assert limited.header("X-RateLimit-Global") is None

    # Another channel: its own bucket (same hash: the hash excludes the channel id).
    elsewhere = await raw.post(f"/channels/{other.id}/messages", {"content": "hi"})
    assert elsewhere.status == 200 and elsewhere.remaining == 4
    assert elsewhere.header("X-RateLimit-Bucket") == replies[0].header("X-RateLimit-Bucket")
    # Edits have their own per-channel bucket.
    message_id = replies[0].body["id"]
    edit = await raw.patch(f"{path}/{message_id}", {"content": "edited"})
    assert edit.status == 200 and edit.remaining == 4
    assert edit.header("X-RateLimit-Bucket") != replies[0].header("X-RateLimit-Bucket")

    assert len(discord_fake.messages(world.channel)) == 5
    assert discord_fake.rate_limited_by_route == {MESSAGES: 1}
    assert discord_fake.rate_limited_by_scope == {"user": 1}
    (hit,) = discord_fake.rate_limit_hits
    assert hit.path == path and not hit.forced


async def test_discord_py_sends_a_burst_without_429s(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
) -> None:
    # Discord's counts (5 per 5 s per channel) with every window scaled to a tenth.
    discord_fake.use_discord_limits(time_scale=0.1)
    bot = await run_bot(make_bot(), sync=False)
    channel = _text_channel(bot, world.channel.id)
    sent = await asyncio.wait_for(
        asyncio.gather(*(channel.send(f"image {i}") for i in range(12))), 10
    )
    stored = discord_fake.messages(world.channel)
    assert sorted(m.content for m in stored) == sorted(f"image {i}" for i in range(12))
    assert len({m.id for m in sent}) == 12
    # discord.py sends one request to learn the bucket, then waits whenever Remaining
    # reaches 0: no 429 at all.
    assert discord_fake.rate_limited_count == 0
    posts = discord_fake.requests_to("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in posts] == [200] * 12
    # 12 messages at 5 per 0.5 s need three windows.
    assert posts[-1].time - posts[0].time >= 1.0 - 0.05


async def test_two_channels_do_not_slow_each_other(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
) -> None:
    discord_fake.use_discord_limits(time_scale=0.2)  # 5 per second per channel
    other = discord_fake.create_channel(world.guild, "other")
    bot = await run_bot(make_bot(), sync=False)
    busy = _text_channel(bot, world.channel.id)
    quiet = _text_channel(bot, other.id)
    burst = asyncio.gather(*(busy.send(f"busy {i}") for i in range(11)))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await quiet.send("quiet")  # not queued behind the busy channel's bucket
    assert time.monotonic() - started < 0.5
    await asyncio.wait_for(burst, 10)
    assert len(discord_fake.messages(world.channel)) == 11
    assert discord_fake.rate_limited_count == 0


def _deferring_bot(count: int = 0) -> commands.Bot:
    """/defer defers; /burst sends ``count`` follow-ups."""
    bot = make_bot()

    @bot.tree.command(description="defer only")
    async def defer(interaction: discord.Interaction) -> None:
        await interaction.response.defer()

    @bot.tree.command(description="follow-ups")
    async def burst(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        for i in range(count):
            await interaction.followup.send(f"part {i}")

    return bot


async def _deferred(
    fake: FakeDiscord, world: World, channel: ChannelRecord | None = None
) -> InteractionRecord:
    interaction = await fake.invoke_slash_command(world.alice, channel or world.channel, "defer")
    await interaction.wait_acknowledged()
    return interaction


async def test_followups_have_a_bucket_per_interaction_token(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot, raw: RawClient
) -> None:
    discord_fake.use_discord_limits()
    await run_bot(_deferring_bot())
    first = await _deferred(discord_fake, world)
    second = await _deferred(discord_fake, world)
    hook = f"/webhooks/{discord_fake.application_id}"
    replies = [
        await raw.post(f"{hook}/{first.token}", {"content": str(i)}, auth=False) for i in range(5)
    ]
    assert [r.status for r in replies] == [204] * 5
    assert [r.remaining for r in replies] == [4, 3, 2, 1, 0]
    for reply in replies:
        _assert_bucket_headers(reply, 5, 2.0)
    limited = await raw.post(f"{hook}/{first.token}", {"content": "6"}, auth=False)
    assert 1 < _assert_429(limited, "user") <= 2
    # @original edits draw on the same per-token bucket.
    edit = await raw.patch(f"{hook}/{first.token}/messages/@original", {"content": "x"}, auth=False)
    assert edit.status == 429
    # Another interaction's token is untouched.
    other = await raw.post(f"{hook}/{second.token}", {"content": "hello"}, auth=False)
    assert other.status == 204 and other.remaining == 4
    assert other.header("X-RateLimit-Bucket") == replies[0].header("X-RateLimit-Bucket")
    assert discord_fake.rate_limited_by_route == {
        FOLLOWUP: 1,
        "PATCH /webhooks/{application_id}/{token}/messages/{message_id}": 1,
    }


async def test_discord_py_paces_followups_of_one_interaction(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
) -> None:
    discord_fake.use_discord_limits(time_scale=0.1)  # 5 per 0.2 s per token
    await run_bot(_deferring_bot(count=7))
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "burst")
    await discord_fake.wait_for_message(world.channel, lambda m: m.content == "part 6")
    assert interaction.original is not None and interaction.original.content == "part 0"
    assert [m.content for m in interaction.followups] == [f"part {i}" for i in range(1, 7)]
    assert discord_fake.rate_limited_count == 0
    posts = discord_fake.requests_to("POST", "/webhooks/{application_id}/{token}")
    assert posts[5].time - posts[0].time >= 0.2 - 0.02  # waited for the window to reset


async def test_followups_into_one_channel_share_a_limit(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot, raw: RawClient
) -> None:
    discord_fake.use_discord_limits()
    discord_fake.set_shared_limit("POST", "/webhooks/{application_id}/{token}", 3, 60.0)
    other = discord_fake.create_channel(world.guild, "other")
    await run_bot(_deferring_bot())
    first, second = await _deferred(discord_fake, world), await _deferred(discord_fake, world)
    elsewhere = await _deferred(discord_fake, world, other)
    hook = f"/webhooks/{discord_fake.application_id}"
    for token in (first.token, first.token, second.token):
        assert (await raw.post(f"{hook}/{token}", {"content": "x"}, auth=False)).status == 204
    limited = await raw.post(f"{hook}/{second.token}", {"content": "x"}, auth=False)
    assert 59 < _assert_429(limited, "shared") <= 60
    assert limited.body["message"] == "The resource is being rate limited."
    # The route's own bucket still has room: a shared limit is a resource's, not the token's.
    assert limited.remaining == 4
    ok = await raw.post(f"{hook}/{elsewhere.token}", {"content": "x"}, auth=False)
    assert ok.status == 204
    assert discord_fake.rate_limited_by_scope == {"shared": 1}


async def test_discord_py_retries_a_shared_429_without_duplicates(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
) -> None:
    discord_fake.use_discord_limits()
    discord_fake.set_shared_limit("POST", "/webhooks/{application_id}/{token}", 3, 0.3)
    await run_bot(_deferring_bot(count=5))
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "burst")
    await discord_fake.wait_for_message(world.channel, lambda m: m.content == "part 4")
    contents = [m.content for m in discord_fake.messages(world.channel)]
    assert contents == [f"part {i}" for i in range(5)]
    assert interaction.original is not None
    # The 4th follow-up (first three: the one replacing "thinking" + two) hit the shared limit.
    assert discord_fake.rate_limited_by_scope.get("shared", 0) >= 1
    posts = discord_fake.requests_to("POST", "/webhooks/{application_id}/{token}")
    assert [p.status for p in posts].count(429) == discord_fake.rate_limited_count
    assert [p.status for p in posts if p.status != 429] == [200] * 5  # ?wait=true


async def test_global_limit_answers_with_scope_global(
    discord_fake: FakeDiscord, world: World, raw: RawClient
) -> None:
    discord_fake.use_discord_limits()
    channels = [world.channel] + [
        discord_fake.create_channel(world.guild, f"c{i}") for i in range(2)
    ]
    replies = await asyncio.gather(*(raw.get(f"/channels/{channels[i % 3].id}") for i in range(60)))
    statuses = [r.status for r in replies]
    assert statuses.count(200) == 50 and statuses.count(429) == 10
    limited = next(r for r in replies if r.status == 429)
    retry_after = _assert_429(limited, "global")
    assert retry_after <= 1.0
    assert limited.header("X-RateLimit-Global") == "true"
    # As documented for a global 429: no per-route bucket headers.
    assert limited.header("X-RateLimit-Bucket") is None
    # Interaction callbacks are neither rate limited nor counted against the global limit.
    callback = await raw.post("/interactions/1/nope/callback", {"type": 1}, auth=False)
    assert callback.status == 404 and callback.header("X-RateLimit-Limit") is None
    assert discord_fake.rate_limited_by_scope == {"global": 10}


async def test_injected_429_has_the_route_headers(
    discord_fake: FakeDiscord, world: World, raw: RawClient
) -> None:
    discord_fake.use_discord_limits()
    path = f"/channels/{world.channel.id}/messages"
    ok = await raw.post(path, {"content": "first"})
    discord_fake.rate_limit("POST", r"^/channels/\d+/messages$", retry_after=1.5)
    limited = await raw.post(path, {"content": "second"})
    assert _assert_429(limited, "user") == 1.5
    assert limited.header("Retry-After") == "2"
    assert limited.header("X-RateLimit-Limit") == "5" and limited.remaining == 0
    assert limited.header("X-RateLimit-Reset-After") == "1.500"
    assert limited.header("X-RateLimit-Bucket") == ok.header("X-RateLimit-Bucket")
    (hit,) = discord_fake.rate_limit_hits
    assert hit.forced and hit.key == MESSAGES
    assert len(discord_fake.messages(world.channel)) == 1


async def test_default_limits_stay_permissive(
    discord_fake: FakeDiscord, world: World, raw: RawClient
) -> None:
    path = f"/channels/{world.channel.id}/messages"
    replies = await asyncio.gather(*(raw.post(path, {"content": str(i)}) for i in range(20)))
    assert {r.status for r in replies} == {200}
    assert replies[0].header("X-RateLimit-Limit") == "50"
    assert discord_fake.rate_limited_count == 0
