"""/edit and the "Edit with imagine-bot" message menu: change an existing image with words."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog import ModelCatalog
from bot.errors import UserFacingError
from bot.request import ImagineRequest
from bot.ui import (
    IMAGE_TYPES,
    EditModal,
    image_url,
    interaction_context,
    is_image_attachment,
    model_choices,
    start_request,
)

MAX_INPUT_MB = 20  # Oxen documents no limit; larger uploads are slow for it to fetch
CONTEXT_MENU_NAME = "Edit with imagine-bot"


def check_input_image(attachment: discord.Attachment) -> None:
    """Refuse what an edit model cannot use, saying why."""
    kinds = ", ".join(IMAGE_TYPES.values())
    if not is_image_attachment(attachment):
        kind = attachment.content_type or "that kind of file"
        raise UserFacingError(
            f"`{attachment.filename[:80]}` is {kind}, not an image: attach a {kinds} image."
        )
    if attachment.size > MAX_INPUT_MB * 1024 * 1024:
        raise UserFacingError(
            f"`{attachment.filename[:80]}` is {attachment.size / 1024 / 1024:.1f} MB; "
            f"images to edit can be at most {MAX_INPUT_MB} MB."
        )
    if attachment.width is not None and not attachment.width:
        raise UserFacingError(f"`{attachment.filename[:80]}` doesn't look like a valid image.")


class EditCog(commands.Cog):
    def __init__(self, bot: commands.Bot, catalog: ModelCatalog) -> None:
        self._bot = bot
        self._catalog = catalog
        self._menu = app_commands.ContextMenu(name=CONTEXT_MENU_NAME, callback=self.edit_message)

    async def cog_load(self) -> None:
        self._bot.tree.add_command(self._menu)

    async def cog_unload(self) -> None:
        self._bot.tree.remove_command(self._menu.name, type=self._menu.type)

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
        prompt: app_commands.Range[str, 1, 1500],
        model: str | None = None,
    ) -> None:
        check_input_image(image)
        request = ImagineRequest(
            prompt=prompt,
            model=model,
            input_image=image.url,
            input_is_upload=True,
            **interaction_context(interaction),
        )
        await start_request(interaction, request)

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
        ours = self._bot.user is not None and message.author.id == self._bot.user.id
        await interaction.response.send_modal(EditModal(url, upload=not ours))


async def setup(bot: commands.Bot) -> None:
    from bot.app import ImagineBot

    assert isinstance(bot, ImagineBot)
    await bot.add_cog(EditCog(bot, bot.services.catalog))
