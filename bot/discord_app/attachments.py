"""Images on Discord messages: finding them, and checking an upload an edit model can use."""

from __future__ import annotations

import discord

from bot.core.errors import UserFacingError
from bot.core.limits import MAX_EDIT_INPUT_BYTES, MIB

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP", "image/gif": "GIF"}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def image_url(message: discord.Message) -> str | None:
    """The first image on a message: an image attachment, else an embed's image."""
    for attachment in message.attachments:
        if is_image_attachment(attachment):
            return attachment.url
    for embed in message.embeds:
        if embed.image and embed.image.url and embed.image.url.startswith("http"):
            return embed.image.url
    return None


def is_image_attachment(attachment: discord.Attachment) -> bool:
    if attachment.content_type:
        return attachment.content_type.split(";")[0].strip().lower() in IMAGE_TYPES
    return attachment.filename.lower().endswith(_IMAGE_SUFFIXES)


def check_input_image(attachment: discord.Attachment) -> None:
    """Refuse what an edit model cannot use, saying why."""
    kinds = ", ".join(IMAGE_TYPES.values())
    name = attachment.filename[:80]
    if not is_image_attachment(attachment):
        kind = attachment.content_type or "that kind of file"
        raise UserFacingError(f"`{name}` is {kind}, not an image: attach a {kinds} image.")
    if attachment.size > MAX_EDIT_INPUT_BYTES:
        raise UserFacingError(
            f"`{name}` is {attachment.size / MIB:.1f} MB; images to edit can be at most "
            f"{MAX_EDIT_INPUT_BYTES // MIB} MB."
        )
    if attachment.width is not None and not attachment.width:
        raise UserFacingError(f"`{name}` doesn't look like a valid image.")


_FOOTER_PREFIX = "Generation "


def result_generation(message: discord.Message) -> str | None:
    """The generation id of one of the bot's results (its embed's footer names it)."""
    for embed in message.embeds:
        text = embed.footer.text or ""
        if text.startswith(_FOOTER_PREFIX):
            return text.removeprefix(_FOOTER_PREFIX).strip() or None
    return None
