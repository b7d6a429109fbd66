"""Forum and media channels: posts, tags, pins, archive/lock, and the refusals, via discord.py."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass

import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import ChannelRecord, FakeDiscord, permissions

from .conftest import RunBot, World, make_bot
from .raw import RawClient

MANAGER = permissions.DEFAULT_EVERYONE | permissions.MANAGE_THREADS | permissions.MANAGE_CHANNELS
SUPPRESS_NOTIFICATIONS = 1 << 12


@dataclass
class Forum:
    record: ChannelRecord
    bot: commands.Bot

    @property
    def channel(self) -> discord.ForumChannel:
        channel = self.bot.get_channel(self.record.id)
        assert isinstance(channel, discord.ForumChannel)
        return channel

    def tag(self, name: str) -> discord.ForumTag:
        tag = discord.utils.get(self.channel.available_tags, name=name)
        assert tag is not None
        return tag


async def until(check: Callable[[], object], timeout: float = 3.0) -> None:
    """Wait for a gateway event to reach discord.py's cache."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def forum(discord_fake: FakeDiscord, world: World, run_bot: RunBot) -> Forum:
    discord_fake.set_bot_permissions(world.guild, MANAGER)
    record = discord_fake.create_channel(
        world.guild,
        "gallery",
        type=15,
        nsfw=True,
        available_tags=["cats", "dogs", {"name": "featured", "moderated": True}],
        default_reaction_emoji="👍",
    )
    bot = await run_bot(make_bot(), sync=False)
    return Forum(record, bot)


def _png() -> discord.File:
    return discord.File(io.BytesIO(b"\x89PNG fake image"), "cube.png")


async def test_forum_and_media_channels_in_guild_create(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
) -> None:
    forum = discord_fake.create_channel(
        world.guild, "gallery", type="forum", available_tags=[{"name": "cats", "emoji_name": "🐱"}]
    )
    media = discord_fake.create_channel(world.guild, "renders", type=16, nsfw=True)
    bot = await run_bot(make_bot(), sync=False)
    cached = bot.get_channel(forum.id)
    assert isinstance(cached, discord.ForumChannel) and not cached.is_media()
    (tag,) = cached.available_tags
    assert (tag.id, tag.name, tag.moderated, str(tag.emoji)) == (
        int(forum.available_tags[0]["id"]),
        "cats",
        False,
        "🐱",
    )
    cached_media = bot.get_channel(media.id)
    assert isinstance(cached_media, discord.ForumChannel)
    assert cached_media.is_media() and cached_media.is_nsfw()
    guild_create = discord_fake.gateway_sessions[0].events[1].data
    payload = next(c for c in guild_create["channels"] if c["id"] == str(forum.id))
    assert payload["type"] == 15 and payload["flags"] == 0
    assert set(payload["available_tags"][0]) == {
        "id",
        "name",
        "moderated",
        "emoji_id",
        "emoji_name",
    }
    assert "default_reaction_emoji" in payload


async def test_create_post_with_file_tags_and_silent_flag(
    discord_fake: FakeDiscord, forum: Forum
) -> None:
    created = await forum.channel.create_thread(
        name="A red cube",
        content="prompt: a red cube",
        embed=discord.Embed(title="seed 42"),
        file=_png(),
        applied_tags=[forum.tag("cats")],
        allowed_mentions=discord.AllowedMentions.none(),
        silent=True,
    )
    thread, message = created.thread, created.message
    assert thread.id == message.id  # Discord: a post's id is its starter message's id
    assert thread.parent_id == forum.record.id and thread.type is discord.ChannelType.public_thread
    assert [t.name for t in thread.applied_tags] == ["cats"]
    assert message.attachments[0].filename == "cube.png" and message.flags.suppress_notifications

    (post,) = discord_fake.posts(forum.record)
    assert post.id == thread.id and post.type == 11 and post.name == "A red cube"
    assert discord_fake.applied_tag_names(post) == ["cats"]
    starter = discord_fake.starter_message(post)
    assert starter is not None and starter.channel_id == post.id
    assert starter.content == "prompt: a red cube" and starter.embeds[0]["title"] == "seed 42"
    assert starter.attachments[0].data == b"\x89PNG fake image"
    assert starter.flags & SUPPRESS_NOTIFICATIONS
    assert starter.allowed_mentions == {"parse": []}
    (request,) = discord_fake.requests_to("POST", "/channels/{channel_id}/threads")
    assert request.files == [("cube.png", 15)] and request.status == 201
    names = discord_fake.gateway_sessions[0].names()
    assert names[-2:] == ["THREAD_CREATE", "MESSAGE_CREATE"]
    await until(lambda: forum.channel.get_thread(thread.id) is not None)
    assert forum.channel.last_message_id == thread.id


async def test_edit_post_tags_pin_archive_and_lock(discord_fake: FakeDiscord, forum: Forum) -> None:
    created = await forum.channel.create_thread(name="post", content="hi")
    thread = created.thread
    (post,) = discord_fake.posts(forum.record)

    edited = await thread.edit(applied_tags=[forum.tag("dogs"), forum.tag("featured")])
    assert discord_fake.applied_tag_names(post) == ["dogs", "featured"]
    assert [t.name for t in edited.applied_tags] == ["dogs", "featured"]

    await thread.edit(pinned=True)
    assert post.pinned
    await until(lambda: (t := forum.channel.get_thread(thread.id)) is not None and t.flags.pinned)

    updates: list[discord.Thread] = []

    async def on_thread_update(before: discord.Thread, after: discord.Thread) -> None:
        updates.append(after)

    forum.bot.add_listener(on_thread_update)
    await thread.edit(archived=True, locked=True)
    assert post.archived and post.locked
    await until(lambda: updates)
    assert updates[0].archived and updates[0].locked
    # discord.py drops archived threads from its cache, as it does with Discord.
    assert forum.channel.get_thread(thread.id) is None
    assert discord_fake.gateway_sessions[0].names().count("THREAD_UPDATE") == 3

    await thread.edit(archived=False)  # a manager may reopen a locked post
    assert not post.archived and post.locked
    await until(lambda: forum.channel.get_thread(thread.id) is not None)


async def test_create_tag_and_replace_available_tags(
    discord_fake: FakeDiscord, forum: Forum
) -> None:
    tag = await forum.channel.create_tag(
        name="birds", emoji=discord.PartialEmoji(name="🐦"), moderated=True
    )
    assert tag.id == int(forum.record.tag("birds")["id"])
    assert forum.record.tag("birds")["emoji_name"] == "🐦"
    await until(lambda: any(t.name == "birds" for t in forum.channel.available_tags))
    cats = forum.tag("cats")  # existing tags keep their ids
    await forum.channel.edit(available_tags=[cats, tag])
    assert [t["name"] for t in forum.record.available_tags] == ["cats", "birds"]
    assert forum.record.tag("cats")["id"] == str(cats.id)
    await until(lambda: len(forum.channel.available_tags) == 2)
    assert discord_fake.gateway_sessions[0].names().count("CHANNEL_UPDATE") == 2


async def test_media_channel_post_and_a_members_post(
    discord_fake: FakeDiscord, world: World, forum: Forum
) -> None:
    media = discord_fake.create_channel(world.guild, "renders", type="media")
    await until(lambda: isinstance(forum.bot.get_channel(media.id), discord.ForumChannel))
    channel = forum.bot.get_channel(media.id)
    assert isinstance(channel, discord.ForumChannel)
    created = await channel.create_thread(name="render", file=_png())
    assert created.message.attachments and discord_fake.posts(media)[0].id == created.thread.id

    created_threads: list[discord.Thread] = []

    async def on_thread_create(thread: discord.Thread) -> None:
        created_threads.append(thread)

    forum.bot.add_listener(on_thread_create)
    post = discord_fake.create_post(
        world.alice, forum.record, "my cat", "look", tags=["cats"], files=[("cat.png", b"png")]
    )
    await until(lambda: any(t.id == post.id for t in created_threads))
    seen = next(t for t in created_threads if t.id == post.id)
    assert seen.owner_id == world.alice.id and seen.parent_id == forum.record.id
    assert [t.name for t in seen.applied_tags] == ["cats"]
    starter = discord_fake.starter_message(post)
    assert starter is not None and starter.author_id == world.alice.id
    assert starter.filenames == ["cat.png"]


async def test_posting_into_archived_and_locked_posts(
    discord_fake: FakeDiscord, world: World, forum: Forum
) -> None:
    created = await forum.channel.create_thread(name="post", content="hi")
    thread = created.thread
    (post,) = discord_fake.posts(forum.record)
    await thread.send("a reply")
    discord_fake.update_thread(post, locked=True)
    await thread.send("managers may still post")  # the bot has MANAGE_THREADS
    discord_fake.set_bot_permissions(world.guild, permissions.DEFAULT_EVERYONE)
    with pytest.raises(discord.HTTPException) as info:
        await thread.send("not any more")
    assert info.value.code == 160005
    discord_fake.update_thread(post, archived=True)
    with pytest.raises(discord.HTTPException) as info:
        await thread.send("archived")
    assert info.value.code == 50083
    assert [m.content for m in discord_fake.messages(post)] == [
        "hi",
        "a reply",
        "managers may still post",
    ]


async def test_delete_post_needs_manage_threads(
    discord_fake: FakeDiscord, world: World, forum: Forum
) -> None:
    first = (await forum.channel.create_thread(name="one", content="1")).thread
    second = (await forum.channel.create_thread(name="two", content="2")).thread
    await first.delete()
    assert [p.id for p in discord_fake.posts(forum.record)] == [second.id]
    await until(lambda: forum.channel.get_thread(first.id) is None)
    discord_fake.set_bot_permissions(world.guild, permissions.DEFAULT_EVERYONE)
    with pytest.raises(discord.Forbidden) as info:
        await second.delete()  # Discord asks MANAGE_THREADS even of the thread's creator
    assert info.value.code == 50013
    assert "THREAD_DELETE" in discord_fake.gateway_sessions[0].names()


# -- refusals -------------------------------------------------------------------------------


async def test_post_refusals(
    discord_fake: FakeDiscord, world: World, forum: Forum, raw: RawClient
) -> None:
    path = f"/channels/{forum.record.id}/threads"
    no_message = await raw.post(path, {"name": "x"})
    assert no_message.status == 400 and no_message.code == 50035
    assert "message" in no_message.body["errors"]
    empty = await raw.post(path, {"name": "x", "message": {}})
    assert empty.status == 400 and empty.code == 50006
    long_name = await raw.post(path, {"name": "x" * 101, "message": {"content": "hi"}})
    assert long_name.code == 50035 and "name" in long_name.body["errors"]
    unknown = await raw.post(
        path, {"name": "x", "message": {"content": "hi"}, "applied_tags": ["123"]}
    )
    assert unknown.code == 50035 and "0" in unknown.body["errors"]["applied_tags"]
    assert discord_fake.posts(forum.record) == []

    for i in range(3):
        discord_fake.add_tag(forum.record, f"extra{i}")
    six = [t["id"] for t in forum.record.available_tags]
    assert len(six) == 6
    with pytest.raises(discord.HTTPException) as info:
        await forum.channel.create_thread(
            name="x",
            content="hi",
            applied_tags=[discord.Object(int(i)) for i in six],  # type: ignore[misc]
        )
    assert info.value.code == 50035 and "applied_tags" in info.value.text

    discord_fake.set_overwrite(forum.record, discord_fake.bot_user, deny=permissions.SEND_MESSAGES)
    with pytest.raises(discord.Forbidden) as info:
        await forum.channel.create_thread(name="x", content="hi")
    assert info.value.code == 50013
    discord_fake.set_overwrite(forum.record, discord_fake.bot_user, deny=permissions.ATTACH_FILES)
    with pytest.raises(discord.Forbidden) as info:
        await forum.channel.create_thread(name="x", file=_png())
    assert info.value.code == 50013
    assert discord_fake.posts(forum.record) == []


async def test_tag_refusals(
    discord_fake: FakeDiscord, world: World, forum: Forum, raw: RawClient
) -> None:
    too_many = [discord.ForumTag(name=f"t{i}") for i in range(21)]
    with pytest.raises(discord.HTTPException) as info:
        await forum.channel.edit(available_tags=too_many)
    assert info.value.code == 50035 and "available_tags" in info.value.text
    patch = await raw.patch(
        f"/channels/{forum.record.id}", {"available_tags": [{"name": "x" * 21}]}
    )
    assert patch.code == 50035 and "name" in patch.body["errors"]["available_tags"]["0"]
    assert len(forum.record.available_tags) == 3  # nothing changed

    required = discord_fake.create_channel(
        world.guild, "strict", type=15, flags=1 << 4, available_tags=["a"]
    )
    reply = await raw.post(
        f"/channels/{required.id}/threads", {"name": "x", "message": {"content": "hi"}}
    )
    assert reply.status == 400 and reply.code == 40067

    discord_fake.set_bot_permissions(world.guild, permissions.DEFAULT_EVERYONE)
    with pytest.raises(discord.Forbidden):
        await forum.channel.create_tag(name="nope")  # needs MANAGE_CHANNELS
    with pytest.raises(discord.Forbidden):  # a moderated tag needs MANAGE_THREADS
        await forum.channel.create_thread(
            name="x", content="hi", applied_tags=[forum.tag("featured")]
        )


async def test_thread_edit_refusals(
    discord_fake: FakeDiscord, world: World, forum: Forum, raw: RawClient
) -> None:
    first = (await forum.channel.create_thread(name="one", content="1")).thread
    second = (await forum.channel.create_thread(name="two", content="2")).thread
    await first.edit(pinned=True)
    with pytest.raises(discord.HTTPException) as info:
        await second.edit(pinned=True)
    assert info.value.code == 30047  # one pinned post per forum
    await first.edit(pinned=False)
    await second.edit(pinned=True)

    text_thread = discord_fake.create_channel(
        world.guild, "chat", type="thread", parent=world.channel
    )
    pin = await raw.patch(f"/channels/{text_thread.id}", {"flags": 2})
    assert pin.status == 400 and pin.code == 50035 and "flags" in pin.body["errors"]
    tags = await raw.patch(f"/channels/{text_thread.id}", {"applied_tags": []})
    assert tags.code == 50035

    discord_fake.set_bot_permissions(world.guild, permissions.DEFAULT_EVERYONE)
    with pytest.raises(discord.Forbidden) as info:
        await first.edit(locked=True)
    assert info.value.code == 50013
    with pytest.raises(discord.Forbidden):
        await first.edit(pinned=True)
    # The creator may still rename and archive its own post without MANAGE_THREADS.
    await first.edit(name="renamed", archived=True)
    (one, two) = discord_fake.posts(forum.record)
    assert one.name == "renamed" and one.archived and not one.locked
    with pytest.raises(discord.HTTPException) as info:
        await first.edit(name="again")  # archived: unarchive first
    assert info.value.code == 50083
    await first.edit(archived=False)
    assert not one.archived and two.pinned
