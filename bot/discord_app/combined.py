"""Messages of several results, for a channel whose bucket is saturated: rendering only.

Images: up to 10 attachments (Discord's limit), one embed each (numbered, crediting its
requester, ``attachment://<file>`` unless spoilered), the content mentioning exactly those
requesters, and one button per image ("⚙️ Image 3") that opens that image's own buttons: ten
images' seven buttons each would not fit Discord's 25 components. Texts (failures, links to
results too large to upload): their lines one after another. Every attachment's file name
starts with its generation id and every embed's footer names it, so the history check after a
restart finds the message for each of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import discord

from bot.core.limits import DISCORD_CONTENT_CHARS, DISCORD_EMBEDS_TOTAL_CHARS
from bot.discord_app import render
from bot.discord_app.buttons import Action, Buttons
from bot.discord_app.posts import Post

ACTIONS_ID_PREFIX = f"ib:{Action.ACTIONS.value}:"
_FOOTER_PREFIX = "Generation "


@dataclass(frozen=True)
class Combined:
    """One message for several posts, ready for ``Messageable.send``."""

    content: str
    embeds: list[discord.Embed]
    files: list[discord.File]
    view: discord.ui.View | None
    mentions: discord.AllowedMentions
    nonce: str


def image_label(number: int) -> str:
    return f"Image {number}"


def mentions_only(user_ids: Iterable[int]) -> discord.AllowedMentions:
    """These people may be pinged, nobody else (no roles, no everyone, no reply ping)."""
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        users=[discord.Object(u) for u in dict.fromkeys(user_ids)],
        replied_user=False,
    )


def images_content(requester_ids: Iterable[int]) -> str:
    mentions = " ".join(f"<@{u}>" for u in dict.fromkeys(requester_ids))
    return f"{mentions} your images are ready: **⚙️ Image N** opens that image's buttons."


def batch_nonce(generation_ids: Iterable[str]) -> str:
    """The same batch gets the same nonce (Discord drops a repeat of it); one generation's
    post alone keeps its own (its id)."""
    ids = sorted(generation_ids)
    if len(ids) == 1:
        return ids[0].replace("-", "")[:25]
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:25]


def fits_text(posts: Sequence[Post]) -> bool:
    """Text posts that fit one message's 2000 characters, one per line."""
    return sum(len(p.outgoing.content) + 1 for p in posts) - 1 <= DISCORD_CONTENT_CHARS


def combined_message(posts: Sequence[Post], buttons: Buttons) -> Combined:
    """One message for every post given: all images, or all texts."""
    jobs = [p.job for p in posts]
    requesters = [j.requester_id for j in jobs]
    nonce = batch_nonce(j.generation_id for j in jobs)
    if not all(p.outgoing.is_image for p in posts):
        return Combined(
            content="\n".join(p.outgoing.content for p in posts),
            embeds=[],
            files=[],
            view=None,
            mentions=mentions_only(requesters),
            nonce=nonce,
        )
    files = [f for p in posts if (f := p.outgoing.file()) is not None]
    view = buttons.combined_view(
        [(image_label(number), p.job.generation_id) for number, p in enumerate(posts, 1)]
    )
    return Combined(
        content=images_content(requesters),
        embeds=fitted_embeds(posts),
        files=files,
        view=view,
        mentions=mentions_only(requesters),
        nonce=nonce,
    )


def fitted_embeds(posts: Sequence[Post]) -> list[discord.Embed]:
    """One numbered embed per image, the prompts shortened evenly when all of them together
    would pass Discord's 6000 characters of embeds per message."""

    def draw(limit: int) -> list[discord.Embed]:
        return [
            render.result_embed(
                p.job,
                filename=p.outgoing.filename,
                spoiler=p.outgoing.spoiler,
                number=number,
                prompt_limit=limit,
            )
            for number, p in enumerate(posts, 1)
        ]

    embeds = draw(render.PROMPT_IN_EMBED)
    if sum(len(e) for e in embeds) <= DISCORD_EMBEDS_TOTAL_CHARS:
        return embeds
    fixed = sum(len(e) - len(e.description or "") for e in embeds)
    limit = max(1, (DISCORD_EMBEDS_TOTAL_CHARS - fixed) // len(posts) - 8)
    while True:
        embeds = draw(limit)
        if sum(len(e) for e in embeds) <= DISCORD_EMBEDS_TOTAL_CHARS or limit <= 1:
            return embeds
        limit = max(1, limit * 4 // 5)  # escaped markdown made some longer: shorten again


# --- reading a posted message --------------------------------------------------------------------


def is_file_of(attachment: discord.Attachment, generation_id: str) -> bool:
    return attachment.filename.removeprefix("SPOILER_").startswith(generation_id)


def embed_generation(embed: discord.Embed) -> str | None:
    text = embed.footer.text or ""
    if not text.startswith(_FOOTER_PREFIX):
        return None
    return text.removeprefix(_FOOTER_PREFIX).strip() or None


def action_buttons(message: discord.Message) -> list[tuple[str, str]]:
    """A message of several images: (label, generation id) of each image's button."""
    found: list[tuple[str, str]] = []
    for row in message.components:
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None) or ""
            if custom_id.startswith(ACTIONS_ID_PREFIX):
                label = getattr(child, "label", None) or image_label(len(found) + 1)
                found.append((label, custom_id.removeprefix(ACTIONS_ID_PREFIX)))
    return found
