"""Buttons, modals, autocomplete and context menus through real discord.py handlers."""

from __future__ import annotations

import discord
from discord import app_commands

from tests.fakes.discord import FakeDiscord

from .conftest import RunBot, World, make_bot


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.clicks = 0

    @discord.ui.button(label="Again", custom_id="again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.clicks += 1
        await interaction.response.edit_message(content=f"clicked {self.clicks}", view=self)


class PromptModal(discord.ui.Modal, title="Remix"):
    prompt = discord.ui.TextInput(label="Prompt", custom_id="prompt")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"remix: {self.prompt.value}")


async def test_button_click_reaches_the_view(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    @bot.tree.command(description="Buttons")
    async def buttons(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("click me", view=Counter())

    await run_bot(bot)
    command = await discord_fake.invoke_slash_command(world.alice, world.channel, "buttons")
    message = await discord_fake.wait_for_message(world.channel, lambda m: m.components != [])
    assert command.original is message
    click = await discord_fake.click_button(world.alice, message, "again")
    await click.wait_acknowledged()
    assert click.response_type == 7
    updated = await discord_fake.wait_for_message(world.channel, lambda m: m.content == "clicked 1")
    assert updated.id == message.id and updated.edits == 1


async def test_modal_submit(discord_fake: FakeDiscord, world: World, run_bot: RunBot):
    bot = make_bot()

    @bot.tree.command(description="Remix")
    async def remix(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(PromptModal())

    await run_bot(bot)
    command = await discord_fake.invoke_slash_command(world.alice, world.channel, "remix")
    shown = await command.wait_acknowledged()
    assert shown["type"] == 9
    submit = await discord_fake.submit_modal(
        world.alice, world.channel, shown["data"]["custom_id"], fields={"prompt": "blue"}
    )
    await submit.wait_acknowledged()
    assert submit.original is not None and submit.original.content == "remix: blue"


async def test_autocomplete_returns_choices(
    discord_fake: FakeDiscord, world: World, run_bot: RunBot
):
    bot = make_bot()

    async def models(interaction: discord.Interaction, current: str):
        names = ["flux", "sdxl", "flux-pro"]
        return [app_commands.Choice(name=n, value=n) for n in names if current in n]

    @bot.tree.command(description="Make an image")
    @app_commands.autocomplete(model=models)
    async def imagine(interaction: discord.Interaction, prompt: str, model: str) -> None:
        await interaction.response.send_message(model)

    await run_bot(bot)
    choices = await discord_fake.autocomplete(
        world.alice, world.channel, "imagine", options={"model": "flux"}, focused="model"
    )
    assert [c["value"] for c in choices] == ["flux", "flux-pro"]


async def test_message_context_menu(discord_fake: FakeDiscord, world: World, run_bot: RunBot):
    bot = make_bot()
    seen: list[int] = []

    @bot.tree.context_menu(name="Edit with imagine-bot")
    async def edit_with(interaction: discord.Interaction, message: discord.Message) -> None:
        seen.append(message.id)
        await interaction.response.send_message("editing", ephemeral=True)

    await run_bot(bot)
    target = discord_fake.post_user_message(world.alice, world.channel, "a photo")
    interaction = await discord_fake.invoke_message_command(
        world.alice, target, "Edit with imagine-bot"
    )
    await interaction.wait_acknowledged()
    assert seen == [target.id]
    assert interaction.original is not None and interaction.original.ephemeral
    assert interaction.original.visible_to == world.alice.id
