"""Pure functions that turn shares into the gallery's posts, lists, weekly post and audit entries.
Names are written as text (display names), never as mentions, wherever people are credited in
public; mentions appear only in embeds seen by one person or by admins (they never ping there)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import discord

from bot.core.gallery import week_words
from bot.core.limits import PROMPT_MAX_CHARS
from bot.core.types import Job, Share
from bot.discord_app.render import EMBED_COLOUR, truncate

GRID_FILENAME = "gallery.png"


def safe_name(name: str) -> str:
    """A display name as plain text: no markdown, no mention syntax, one line."""
    flat = " ".join(name.split()) or "someone"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(flat, 64)))


def safe_title(title: str, limit: int = 100) -> str:
    return discord.utils.escape_markdown(truncate(" ".join(title.split()), limit)).replace(
        "]", "\\]"
    )


def job_link(job: Job) -> str | None:
    if job.guild_id is None or job.result_message_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"


@dataclass(frozen=True)
class Remix:
    """What an image remixes: where to see it, and who made it."""

    link: str | None
    creator_name: str


def remix_line(remix: Remix) -> str:
    what = f"[an image]({remix.link})" if remix.link else "an image"
    return f"Remix of {what} by {safe_name(remix.creator_name)}"


def post_embed(
    job: Job,
    *,
    title: str,
    show_prompt: bool,
    creator_name: str,
    remix: Remix | None,
    filename: str,
    spoiler: bool,
) -> discord.Embed:
    """A gallery post: the title, the prompt if kept, model, seed, the credit and the remix."""
    description = None
    if show_prompt:
        prompt = discord.utils.escape_markdown(truncate(job.prompt, PROMPT_MAX_CHARS))
        description = f"||{prompt}||" if spoiler else prompt
    embed = discord.Embed(title=truncate(title, 256), description=description, colour=EMBED_COLOUR)
    embed.add_field(name="Model", value=f"`{truncate(job.model, 200)}`", inline=True)
    seed = job.params.get("seed")
    if seed is not None:
        embed.add_field(name="Seed", value=str(seed), inline=True)
    embed.add_field(name="By", value=safe_name(creator_name), inline=True)
    if remix is not None:
        embed.add_field(name="Lineage", value=remix_line(remix), inline=False)
    if not spoiler:  # Discord never blurs an embed's image: a spoilered one stays attached only
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Generation {job.generation_id}")
    return embed


def share_line(number: int, share: Share) -> str:
    return (
        f"**{number}.** [{safe_title(share.title, 80)}]({share.post_url}) by "
        f"{safe_name(share.creator_name)} · ⭐ {share.votes}"
    )


def list_embed(
    title: str, shares: Sequence[Share], *, empty: str, grid: bool = False, footer: str = ""
) -> discord.Embed:
    """/gallery top, search, user and mine: numbered lines with links, names and votes."""
    lines = [share_line(number, share) for number, share in enumerate(shares, 1)]
    embed = discord.Embed(
        title=truncate(title, 256), description="\n".join(lines) or empty, colour=EMBED_COLOUR
    )
    if grid:
        embed.set_image(url=f"attachment://{GRID_FILENAME}")
    if footer:
        embed.set_footer(text=footer)
    return embed


def weekly_name(monday: float) -> str:
    return truncate(f"⭐ Top of the week · {week_words(monday)}", 100)


def weekly_embed(shares: Sequence[Share], monday: float, *, grid: bool) -> discord.Embed:
    embed = list_embed(
        f"⭐ Top of the week · {week_words(monday)}",
        shares,
        empty="Nothing was shared last week.",
        grid=grid,
        footer="Vote with ⭐ on any gallery post; next week's list comes on Monday (UTC).",
    )
    embed.timestamp = datetime.fromtimestamp(monday, tz=UTC)
    return embed


def lineage_fields(
    embed: discord.Embed, chain: Sequence[Job], *, remixed: int, share: Share | None
) -> discord.Embed:
    """Info's extra lines: what the image remixes (as far back as the store knows), how often
    others remixed it, and its gallery post."""
    if chain:
        lines = []
        for job in chain:
            link = job_link(job)
            what = f"[an image]({link})" if link else "an image"
            lines.append(f"↳ remix of {what} by <@{job.requester_id}>")
        embed.add_field(name="Lineage", value=truncate("\n".join(lines), 1000), inline=False)
    if remixed:
        times = "once" if remixed == 1 else f"{remixed} times"
        embed.add_field(name="Remixed", value=f"{times} by others", inline=True)
    if share is not None and not share.hidden:
        embed.add_field(
            name="In the gallery", value=f"[the post]({share.post_url}) · ⭐ {share.votes}"
        )
    return embed


def audit_embed(
    what: str, share: Share, *, by_user_id: int | None, detail: str = ""
) -> discord.Embed:
    """A gallery entry for the audit channel: shared, withdrawn, hidden or shown again."""
    embed = discord.Embed(
        title=f"Gallery: {what}",
        description=f"[{safe_title(share.title)}]({share.post_url})",
        colour=EMBED_COLOUR,
        timestamp=datetime.now(tz=UTC),
    )
    embed.add_field(name="Creator", value=f"<@{share.creator_id}>", inline=True)
    by = f"<@{by_user_id}>" if by_user_id is not None else "someone, in Discord itself"
    embed.add_field(name="By", value=by, inline=True)
    embed.add_field(name="Gallery", value=f"<#{share.gallery_channel_id}>", inline=True)
    embed.add_field(name="Generation", value=f"`{share.generation_id}`", inline=False)
    if share.prompt is not None:
        prompt = discord.utils.escape_markdown(truncate(share.prompt, 1000))
        embed.add_field(name="Prompt", value=prompt, inline=False)
    else:
        embed.add_field(name="Prompt", value="kept private by the creator", inline=False)
    if detail:
        embed.add_field(name="Note", value=truncate(detail, 1000), inline=False)
    return embed
