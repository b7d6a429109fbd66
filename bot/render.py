"""Pure functions that turn jobs into the text and embeds the bot posts. No network here."""

from __future__ import annotations

import discord

from bot.store import Job

# Discord limits (see shared/discord-notes.md): content 2000, embed description 4096, title 256,
# field value 1024. We stay well inside them.
PROMPT_IN_CONTENT = 200
PROMPT_IN_EMBED = 1500
EMBED_COLOUR = discord.Colour(0x7C5CFF)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quote_prompt(prompt: str, limit: int = PROMPT_IN_CONTENT) -> str:
    """A prompt made safe to show inline: single line, no markdown tricks, no mentions."""
    flat = " ".join(prompt.split())
    safe = discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(flat, limit)))
    return f"“{safe}”"


def _images(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


def queued_status(prompt: str, model: str, count: int) -> str:
    return (
        f"🕒 Queued {_images(count)} for {quote_prompt(prompt)} with `{model}`. "
        "I'll post the result in this channel when it's ready."
    )


def done_status(prompt: str, count: int) -> str:
    return f"✅ Finished {quote_prompt(prompt)} ({_images(count)}): see the reply below."


def _position(job: Job) -> str:
    return f" (image {job.batch_index + 1} of {job.batch_size})" if job.batch_size > 1 else ""


def result_embed(job: Job, *, filename: str | None) -> discord.Embed:
    embed = discord.Embed(
        title="Your image is ready" + _position(job),
        description=discord.utils.escape_markdown(truncate(job.prompt, PROMPT_IN_EMBED)),
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Model", value=f"`{truncate(job.model, 200)}`", inline=True)
    seed = job.params.get("seed")
    if seed is not None:
        embed.add_field(name="Seed", value=str(seed), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.requester_id}>", inline=True)
    if filename:
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Generation {job.generation_id}")
    return embed


def success_content(job: Job) -> str:
    return f"<@{job.requester_id}>"


def link_content(job: Job, url: str) -> str:
    return (
        f"<@{job.requester_id}> your image for {quote_prompt(job.prompt)} is too large to upload "
        f"here, so here is a link to it instead (it expires after a while): {url}\n"
        f"{generation_tag(job.generation_id)}"
    )


def generation_tag(generation_id: str) -> str:
    """A small line naming the generation: for support, and so a restart can find its own post."""
    return f"-# generation {generation_id}"


def failure_content(job: Job, reason: str) -> str:
    return (
        f"<@{job.requester_id}> ❌ I couldn't make {quote_prompt(job.prompt)}{_position(job)}: "
        f"{truncate(reason, 500)}\n{generation_tag(job.generation_id)}"
    )


def cancelled_content(job: Job, reason: str | None = None) -> str:
    why = f": {truncate(reason, 300)}" if reason else "."
    return (
        f"<@{job.requester_id}> 🚫 The image for {quote_prompt(job.prompt)} was cancelled{why}"
        f"\n{generation_tag(job.generation_id)}"
    )


def interrupted_enqueue_content(requester_id: int, prompt: str) -> str:
    return (
        f"<@{requester_id}> ⚠️ I restarted while sending {quote_prompt(prompt)} to Oxen, so I "
        "can't tell whether it was queued. If no image arrives here in a few minutes, "
        "please run /imagine again."
    )


def mention_only(user_id: int) -> discord.AllowedMentions:
    """Only the person who asked may be pinged; never everyone, roles or anyone else."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )
