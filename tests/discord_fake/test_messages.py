"""Channel messages: limits, permissions, mentions, nonces, rate limits, unknown routes."""

from __future__ import annotations

import io

import discord
import pytest
from discord.http import Route

from tests.fakes.discord import FakeDiscord, permissions

from .conftest import RunBot, World, make_bot


@pytest.fixture
async def bot(run_bot: RunBot, world: World) -> discord.Client:
    return await run_bot(make_bot(), sync=False)


def _channel(bot: discord.Client, world: World) -> discord.TextChannel:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_send_message_with_attachment(discord_fake: FakeDiscord, world: World, bot):
    sent = await _channel(bot, world).send(
        "hello", file=discord.File(io.BytesIO(b"GIF89a"), "cat.gif"), embed=discord.Embed(title="t")
    )
    (record,) = discord_fake.messages(world.channel)
    assert record.id == sent.id and record.content == "hello"
    assert record.attachments[0].filename == "cat.gif"
    assert record.attachments[0].data == b"GIF89a"
    assert record.attachments[0].content_type == "image/gif"
    assert record.embeds[0]["title"] == "t"
    assert await sent.attachments[0].read() == b"GIF89a"  # served by the fake CDN
    # discord.py saw its own MESSAGE_CREATE over the gateway
    assert "MESSAGE_CREATE" in discord_fake.gateway_sessions[0].names()


async def test_upload_over_limit_is_40005(discord_fake: FakeDiscord, world: World, bot):
    discord_fake.upload_limit = 1000
    with pytest.raises(discord.HTTPException) as info:
        await _channel(bot, world).send(file=discord.File(io.BytesIO(b"x" * 1001), "big.png"))
    assert info.value.status == 413 and info.value.code == 40005
    assert discord_fake.messages(world.channel) == []


async def test_eleven_files_or_long_content_are_rejected(
    discord_fake: FakeDiscord, world: World, bot
):
    channel = _channel(bot, world)
    files = [discord.File(io.BytesIO(b"x"), f"{i}.txt") for i in range(11)]
    with pytest.raises((discord.HTTPException, ValueError)):
        await channel.send(files=files)
    # Bypass discord.py's own checks to see the server's answer.
    params = discord.http.handle_message_parameters(
        files=[discord.File(io.BytesIO(b"x"), f"{i}.txt") for i in range(11)]
    )
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.send_message(world.channel.id, params=params)
    assert info.value.code == 30015
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x" * 2001)
    assert info.value.code == 50035 and "content" in info.value.text
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert info.value.code == 50035 and "embeds.0.title" in info.value.text
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(file=discord.File(io.BytesIO(b"x"), "p" * 1025 + ".png"))
    assert info.value.code == 50035
    assert discord_fake.messages(world.channel) == []


async def test_missing_permissions(discord_fake: FakeDiscord, world: World, bot):
    channel = _channel(bot, world)
    discord_fake.set_overwrite(world.channel, discord_fake.bot_user, deny=permissions.ATTACH_FILES)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send(file=discord.File(io.BytesIO(b"x"), "a.png"))
    assert info.value.code == 50013
    discord_fake.set_overwrite(world.channel, discord_fake.bot_user, deny=permissions.SEND_MESSAGES)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hi")
    assert info.value.code == 50013
    discord_fake.set_overwrite(world.channel, discord_fake.bot_user, deny=permissions.VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hi")
    assert info.value.code == 50001
    assert [e.error_code for e in discord_fake.errors] == [50013, 50013, 50001]
    assert discord_fake.errors[0].get("code") == 50013  # dict-style access works too


async def test_set_bot_permissions_is_exact(discord_fake: FakeDiscord, world: World, bot):
    discord_fake.set_bot_permissions(world.guild, permissions.VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden):
        await _channel(bot, world).send("hi")
    # humans keep their permissions (moved to a "Members" role)
    assert discord_fake.permissions_for(world.alice, world.channel) & permissions.SEND_MESSAGES


async def test_deleted_channel_is_10003(discord_fake: FakeDiscord, world: World, bot):
    discord_fake.delete_channel(world.channel)
    with pytest.raises(discord.NotFound) as info:
        await bot.get_partial_messageable(world.channel.id).send("hi")
    assert info.value.code == 10003


async def test_archived_thread_and_closed_dms(discord_fake: FakeDiscord, world: World, bot):
    thread = discord_fake.create_channel(world.guild, "t", type="thread", parent=world.channel)
    discord_fake.archive_thread(thread)
    with pytest.raises(discord.HTTPException) as info:
        await bot.get_partial_messageable(thread.id).send("hi")
    assert info.value.code == 50083
    bob = discord_fake.create_user("bob")
    discord_fake.add_member(world.guild, bob)
    user = await bot.fetch_user(bob.id)
    await user.send("welcome")
    assert [m.content for m in discord_fake.dm_messages(bob)] == ["welcome"]
    discord_fake.close_dms(bob)
    with pytest.raises(discord.Forbidden) as info:
        await user.send("again")
    assert info.value.code == 50007


async def test_allowed_mentions(discord_fake: FakeDiscord, world: World, bot):
    discord_fake.set_bot_permissions(
        world.guild, permissions.DEFAULT_EVERYONE | permissions.MENTION_EVERYONE
    )
    channel = _channel(bot, world)
    await channel.send("@everyone look", allowed_mentions=discord.AllowedMentions.none())
    await channel.send("@everyone look")
    await channel.send(f"<@{world.alice.id}> done", allowed_mentions=discord.AllowedMentions.none())
    await channel.send(
        f"<@{world.alice.id}> done",
        allowed_mentions=discord.AllowedMentions(
            everyone=False, users=[discord.Object(world.alice.id)]
        ),
    )
    quiet, loud, silent_user, pinged_user = discord_fake.messages(world.channel)
    assert not quiet.pinged_everyone and quiet.allowed_mentions == {"parse": []}
    assert loud.pinged_everyone
    assert silent_user.pinged_users == []
    assert pinged_user.pinged_users == [world.alice.id]


async def test_nonce_deduplicates(discord_fake: FakeDiscord, world: World, bot):
    channel = _channel(bot, world)
    first = await channel.send("once", nonce=12345)
    second = await channel.send("once", nonce=12345)
    assert first.id == second.id
    assert len(discord_fake.messages(world.channel)) == 1
    discord_fake.clock.advance(10 * 60)
    third = await channel.send("once", nonce=12345)
    assert third.id != first.id


async def test_rate_limit_on_demand_is_retried(discord_fake: FakeDiscord, world: World, bot):
    discord_fake.rate_limit("POST", r"^/channels/\d+/messages$", times=2, retry_after=0.05)
    await _channel(bot, world).send("eventually")
    posts = discord_fake.requests_to("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in posts] == [429, 429, 200]
    assert discord_fake.rate_limited_count == 2
    assert len(discord_fake.messages(world.channel)) == 1


async def test_edit_history_and_delete(discord_fake: FakeDiscord, world: World, bot):
    channel = _channel(bot, world)
    sent = await channel.send("v1")
    await sent.edit(content="v2")
    await sent.add_reaction("👍")
    record = discord_fake.messages(world.channel)[0]
    assert record.content == "v2" and record.edits == 1 and "👍" in record.reactions
    fetched = [m async for m in channel.history(limit=10)]
    assert [m.id for m in fetched] == [sent.id]
    await sent.delete()
    assert discord_fake.messages(world.channel) == []
    assert discord_fake.deleted_messages[0].id == sent.id
    with pytest.raises(discord.NotFound) as info:
        await channel.fetch_message(sent.id)
    assert info.value.code == 10008


async def test_unknown_route_is_recorded(discord_fake: FakeDiscord, world: World, bot):
    with pytest.raises(discord.NotFound) as info:
        await bot.http.request(
            Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=world.guild.id)
        )
    assert info.value.code == 0
    assert [r.path for r in discord_fake.unhandled] == [f"/guilds/{world.guild.id}/audit-logs"]


async def test_bad_token_is_401(discord_fake: FakeDiscord):
    client = make_bot()
    with pytest.raises(discord.LoginFailure):
        await client.login("wrong")
    await client.close()
    assert discord_fake.errors[-1].status == 401
