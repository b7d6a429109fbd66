"""/edit and the "Edit with imagine-bot" message menu: change an existing image with words."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalog import ModelCatalog
from bot.core.errors import UserFacingError
from bot.core.limits import PROMPT_MAX_CHARS
from bot.core.types import ImagineRequest
from bot.discord_app.attachments import check_input_image, image_url, result_generation
from bot.discord_app.autocomplete import model_choices
from bot.discord_app.flow import RequestFlow
from bot.discord_app.modals import EditModal
from bot.discord_app.origin import origin_of

CONTEXT_MENU_NAME = "Edit with imagine-bot"


class EditCog(commands.Cog):
    def __init__(
        self,
        flow: RequestFlow,
        catalog: ModelCatalog,
        tree: app_commands.CommandTree[commands.Bot],
    ) -> None:
        self._flow = flow
        self._catalog = catalog
        # Context menus can't be declared in a cog; this one joins the tree with the cog.
        self._tree = tree
        self._menu = app_commands.ContextMenu(name=CONTEXT_MENU_NAME, callback=self.edit_message)

    async def cog_load(self) -> None:
        self._tree.add_command(self._menu)

    async def cog_unload(self) -> None:
        self._tree.remove_command(self._menu.name, type=self._menu.type)

    @app_commands.command(name="edit", description="Change an image with a text instruction")
    @app_commands.describe(
        image="The image to edit (PNG, JPEG, WebP or GIF)",
        prompt="What should change, e.g. “make it night time”",
        model="The Oxen edit model (leave empty for the default)",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, PROMPT_MAX_CHARS],
        model: str | None = None,
    ) -> None:
        check_input_image(image)
        request = ImagineRequest(
            prompt=prompt,
            origin=origin_of(interaction),
            model=model,
            input_image=image.url,
            input_is_upload=True,
        )
        await self._flow.start(interaction, request)

    @edit.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self._catalog, current, edit_only=True)

    async def edit_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        url = image_url(message)
        if url is None:
            raise UserFacingError("That message has no image I can edit.")
        me = interaction.client.user
        ours = me is not None and message.author.id == me.id
        parent = result_generation(message) if ours else None  # an edit of a result remixes it
        modal = EditModal(self._flow, url, upload=not ours, parent_id=parent)
        await interaction.response.send_modal(modal)
