"""Application command sync and the interaction response rules."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands

from tests.fakes.discord import FakeDiscord, permissions

from .conftest import RunBot, World, make_bot


async def test_command_sync_global_and_guild_is_recorded(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    @bot.tree.command(description="Make an image")
    @app_commands.describe(prompt="What to draw")
    async def imagine(interaction: discord.Interaction, prompt: str, count: int = 1) -> None:
        await interaction.response.send_message(prompt)

    await run_bot(bot, sync=False)
    synced = await bot.tree.sync()
    assert [c.name for c in synced] == ["imagine"]
    assert synced[0].id == int(discord_fake.registered_commands()[0]["id"])
    target = discord.Object(world.guild.id)
    bot.tree.copy_global_to(guild=target)
    await bot.tree.sync(guild=target)

    (registered,) = discord_fake.registered_commands()
    assert registered["name"] == "imagine"
    assert [o["name"] for o in registered["options"]] == ["prompt", "count"]
    assert discord_fake.registered_commands(world.guild)[0]["guild_id"] == str(world.guild.id)
    assert discord_fake.command_sync_count == 2
    # Re-syncing keeps command ids stable, as Discord does.
    again = await bot.tree.sync()
    assert again[0].id == synced[0].id


async def test_slash_command_gets_options_and_app_permissions(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    seen: dict[str, object] = {}

    @bot.tree.command(description="Make an image")
    async def imagine(
        interaction: discord.Interaction,
        prompt: str,
        count: app_commands.Range[int, 1, 4] = 1,
        image: discord.Attachment | None = None,
    ) -> None:
        seen.update(
            prompt=prompt,
            count=count,
            image=(image.filename, image.size, image.width) if image else None,
            data=await image.read() if image else None,
            send=interaction.app_permissions.send_messages,
            attach=interaction.app_permissions.attach_files,
            limit=interaction.filesize_limit,
            user=interaction.user.id,
        )
        await interaction.response.send_message(f"drawing {prompt}")

    await run_bot(bot)
    png = _png()
    interaction = await discord_fake.invoke_slash_command(
        world.alice,
        world.channel,
        "imagine",
        options={"prompt": "a red cube", "count": 2},
        attachments={"image": ("ref.png", png, "image/png")},
    )
    await interaction.wait_acknowledged()
    assert seen == {
        "prompt": "a red cube",
        "count": 2,
        "image": ("ref.png", len(png), 4),
        "data": png,
        "send": True,
        "attach": True,
        "limit": 10 * 1024 * 1024,
        "user": world.alice.id,
    }
    assert interaction.response_type == 4
    assert interaction.original is not None
    assert interaction.original.content == "drawing a red cube"
    assert interaction.ack_latency is not None and interaction.ack_latency < 3
    assert discord_fake.messages(world.channel)[-1].interaction_id == interaction.id


async def test_unregistered_command_is_an_error(discord_fake: FakeDiscord, world: World):
    with pytest.raises(AssertionError, match="not registered"):
        await discord_fake.invoke_slash_command(world.alice, world.channel, "nope")


async def test_defer_then_edit_original_and_ephemeral_followup(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    @bot.tree.command(description="Slow")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="done")
        await interaction.followup.send("only you", ephemeral=True)

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "slow")
    followup = await discord_fake.wait_for_message(world.channel, lambda m: m.ephemeral)
    assert interaction.response_type == 5
    assert interaction.original is not None and interaction.original.content == "done"
    assert not interaction.original.loading
    assert followup.content == "only you" and followup.flags & 64
    assert interaction.followups == [followup]
    assert followup.webhook_id == discord_fake.application_id
    assert interaction.errors == []


async def test_responding_twice_is_40060(discord_fake: FakeDiscord, world: World, run_bot: RunBot):
    bot = make_bot()
    raised = Signal()

    @bot.tree.command(description="Twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("one")
        interaction.response._response_type = None  # bypass discord.py's local guard
        try:
            await interaction.response.send_message("two")
        except discord.HTTPException as err:
            raised.append(err)

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "twice")
    await raised.first()
    assert raised[0].code == 40060 and raised[0].status == 400
    assert interaction.error_codes == [40060]
    assert [m.content for m in discord_fake.messages(world.channel)] == ["one"]


async def test_response_after_three_seconds_is_10062(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    go = asyncio.Event()
    raised = Signal()

    @bot.tree.command(description="Late")
    async def late(interaction: discord.Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as err:
            raised.append(err)

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "late")
    discord_fake.clock.advance(3.1)
    go.set()
    await raised.first()
    assert raised[0].code == 10062
    assert interaction.error_codes == [10062]
    assert not interaction.acknowledged


async def test_followup_after_fifteen_minutes_is_50027(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()
    captured = Signal()

    @bot.tree.command(description="Queue")
    async def queue(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        captured.append(interaction)

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "queue")
    await interaction.wait_acknowledged()
    await captured.first()
    discord_fake.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as info:
        await captured[0].followup.send("result")
    assert info.value.status == 401 and info.value.code == 50027
    with pytest.raises(discord.HTTPException) as info:
        await captured[0].edit_original_response(content="result")
    assert info.value.code == 50027
    assert interaction.error_codes == [50027, 50027]


async def test_interaction_responses_ignore_channel_permissions(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    discord_fake.set_overwrite(world.channel, discord_fake.bot_user, deny=permissions.SEND_MESSAGES)
    bot = make_bot()
    seen: list[bool] = []

    @bot.tree.command(description="Hi")
    async def hi(interaction: discord.Interaction) -> None:
        seen.append(interaction.app_permissions.send_messages)
        await interaction.response.send_message("hello")

    await run_bot(bot)
    interaction = await discord_fake.invoke_slash_command(world.alice, world.channel, "hi")
    await interaction.wait_acknowledged()
    assert seen == [False]
    assert interaction.original is not None and interaction.original.content == "hello"


class Signal(list):
    """A list that also lets a test await its first item."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()

    def append(self, item) -> None:
        super().append(item)
        self.event.set()

    async def first(self, timeout: float = 3.0):
        await asyncio.wait_for(self.event.wait(), timeout)
        return self[0]


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format="PNG")
    return buffer.getvalue()
