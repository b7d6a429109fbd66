"""Less common response flows: defer + follow-up, deferred component updates, DMs, replies."""

from __future__ import annotations

import io

import discord
import pytest

from tests.fakes.discord import FakeDiscord

from .conftest import RunBot, World, make_bot


class Deferring(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="Vary", custom_id="vary")
    async def vary(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="varied", view=None)


async def test_first_followup_after_defer_replaces_thinking(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    @bot.tree.command(description="x")
    async def think(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("result")
        await interaction.followup.send("second")

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "think")
    await discord_fake.wait_for_message(world.channel, lambda m: m.content == "second")
    contents = [m.content for m in discord_fake.messages(world.channel)]
    assert contents == ["result", "second"]
    assert interaction.original is not None and interaction.original.content == "result"
    assert [m.content for m in interaction.followups] == ["second"]


async def test_deferred_component_update_edits_the_clicked_message(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    @bot.tree.command(description="x")
    async def grid(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("grid", view=Deferring())

    await run_bot(bot)
    await discord_fake.invoke_slash_command(world.alice, world.channel, "grid")
    message = await discord_fake.wait_for_message(world.channel, lambda m: m.components != [])
    click = await discord_fake.click_button(world.alice, message, "vary")
    edited = await discord_fake.wait_for_message(world.channel, lambda m: m.content == "varied")
    assert click.response_type == 6
    assert edited.id == message.id and edited.components == []


async def test_slash_command_in_dms(discord_fake: FakeDiscord, world: World, run_bot: RunBot):
    bot = make_bot()
    seen: list[object] = []

    @bot.tree.command(description="x")
    async def hello(interaction: discord.Interaction) -> None:
        seen.append((interaction.guild_id, type(interaction.channel).__name__))
        await interaction.response.send_message("hi there")

    await run_bot(bot)
    dm = discord_fake.open_dm(world.alice)
    interaction = await discord_fake.invoke_slash_command(world.alice, dm, "hello")
    await interaction.wait_acknowledged()
    assert seen == [(None, "DMChannel")]
    assert [m.content for m in discord_fake.dm_messages(world.alice)] == ["hi there"]


async def test_reply_pings_author_unless_disabled(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = await run_bot(make_bot(), sync=False)
    original = discord_fake.post_user_message(world.alice, world.channel, "draw me a cat")
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    ref = channel.get_partial_message(original.id)
    await channel.send("here", reference=ref)
    await channel.send("quiet", reference=ref, mention_author=False)
    _, loud, quiet = discord_fake.messages(world.channel)
    assert loud.pinged_users == [world.alice.id] and loud.type == 19
    assert quiet.pinged_users == []
    assert loud.message_reference is not None
    assert loud.message_reference["message_id"] == str(original.id)


async def test_global_rate_limit_and_wait_for_message_timeout(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = await run_bot(make_bot(), sync=False)
    discord_fake.rate_limit("*", r"^/channels/", times=1, retry_after=0.05, global_=True)
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("after global limit")
    assert discord_fake.rate_limited_count == 1
    with pytest.raises(AssertionError, match="after global limit"):
        await discord_fake.wait_for_message(world.channel, lambda m: "nope" in m.content, 0.05)


async def test_files_through_interaction_callbacks_and_edits(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    results: list[object] = []

    @bot.tree.command(description="x")
    async def files(interaction: discord.Interaction) -> None:
        callback = await interaction.response.send_message(
            "first", file=discord.File(io.BytesIO(b"one"), "1.txt")
        )
        results.append((callback.message_id, type(callback.resource).__name__))
        message = await interaction.original_response()
        edited = await interaction.edit_original_response(
            attachments=[*message.attachments, discord.File(io.BytesIO(b"two"), "2.txt")]
        )
        results.append([a.filename for a in edited.attachments])
        await interaction.edit_original_response(content="done", attachments=[])

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "files")
    done = await discord_fake.wait_for_message(world.channel, lambda m: m.content == "done")
    assert results == [(done.id, "InteractionMessage"), ["1.txt", "2.txt"]]
    kept, added = done.history[1]["payload"]["attachments"]
    assert kept["filename"] == "1.txt" and added == {"id": 0, "filename": "2.txt"}
    assert interaction.original is done
    assert done.attachments == [] and done.edits == 2
    multipart = discord_fake.requests_to("POST", "/interactions/{interaction_id}/{token}/callback")
    assert multipart[0].files == [("1.txt", 3)]
    patches = discord_fake.requests_to(
        "PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}"
    )
    assert [len(r.json["attachments"]) for r in patches] == [2, 0]


async def test_route_bucket_makes_discord_py_wait(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = await run_bot(make_bot(), sync=False)
    discord_fake.set_route_limit("POST", "/channels/{channel_id}/messages", 2, 0.2)
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    for i in range(5):
        await channel.send(str(i))
    assert [m.content for m in discord_fake.messages(world.channel)] == list("01234")
    posts = discord_fake.requests_to("POST", "/channels/{channel_id}/messages")
    # discord.py reads X-RateLimit-Remaining and waits instead of hitting the limit.
    assert posts[1].time - posts[0].time < 0.2 <= posts[2].time - posts[0].time + 0.05
