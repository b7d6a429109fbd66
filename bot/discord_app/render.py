"""Pure functions that turn jobs into the text and embeds the bot posts. No network here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import discord

from bot.core.limits import PROMPT_MAX_CHARS
from bot.core.text import images as _images
from bot.core.types import Job, LinePlace

# Discord limits (see shared/discord-notes.md): content 2000, embed description 4096, title 256,
# field value 1024. We stay well inside them.
PROMPT_IN_CONTENT = 200
PROMPT_IN_EMBED = PROMPT_MAX_CHARS  # the whole prompt fits an embed's description
EMBED_COLOUR = discord.Colour(0x7C5CFF)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quote_prompt(prompt: str, limit: int = PROMPT_IN_CONTENT) -> str:
    """A prompt made safe to show inline: single line, no markdown tricks, no mentions."""
    flat = " ".join(prompt.split())
    safe = discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(flat, limit)))
    return f"“{safe}”"


@dataclass(frozen=True)
class Progress:
    """Where one request stands, as its status message tells it."""

    prompt: str
    model: str
    count: int
    position: int | None = None  # in this server's queue, while Oxen has not started it
    started_at: float | None = None  # Unix seconds; Oxen is working on it
    delivered: int = 0  # images already posted
    failed: int = 0  # generations that ended without an image
    result_url: str | None = None  # a link to the first posted result, once there is one


def progress_status(p: Progress) -> str:
    """The status message of a request that is still open."""
    what = f"{_images(p.count)} for {quote_prompt(p.prompt)} with `{truncate(p.model, 100)}`"
    if p.started_at is not None:
        line = f"🎨 Making {what}: started {discord.utils.format_dt(_dt(p.started_at), 'R')}."
    else:
        where = f": #{p.position} in this server's queue" if p.position else ""
        line = f"🕒 Queued {what}{where}."
    finished = p.delivered + p.failed
    if finished:
        line += f" {finished} of {p.count} finished."
    return line + " I'll post the result in this channel when it's ready."


def waiting_status(
    prompt: str, model: str, count: int, place: LinePlace, *, moved_back_from: int | None = None
) -> str:
    """The status message of a request waiting its turn in the bot's own line."""
    what = f"{_images(count)} for {quote_prompt(prompt)} with `{truncate(model, 100)}`"
    after = " I'll post the result in this channel."
    if place.waits_for_own:
        own = f"#{place.own_place} of your {place.own_total} waiting"
        if place.owner_in_flight:
            return (
                f"⏳ Waiting to start {what}: you have {_images(place.owner_in_flight)} being "
                f"made here, and this one starts when one of yours finishes ({own})." + after
            )
        return f"⏳ Waiting to start {what}: it goes after your earlier requests ({own})." + after
    turn = f"#{place.line_place} in line" if place.line_place else "waiting its turn in line"
    line = (
        f"⏳ Waiting to start {what}: {turn}. The bot is at its limit of images at once; "
        "requests take turns across servers and people."
    )
    if moved_back_from is not None:
        line += (
            f" (Moved back from #{moved_back_from}: someone with nothing being made went first.)"
        )
    return line + after


def interrupted_status(prompt: str) -> str:
    return (
        f"⚠️ I restarted while sending {quote_prompt(prompt)} to Oxen, so I can't tell whether "
        "it was queued. If no image arrives here in a few minutes, please ask again."
    )


def not_started_status(prompt: str, reason: str) -> str:
    return f"❌ {quote_prompt(prompt)} couldn't start: {truncate(reason, 500)}"


def final_status(p: Progress) -> str:
    """The status message once every generation of the request is finished."""
    prompt = quote_prompt(p.prompt)
    if not p.failed:
        where = f"[posted below]({p.result_url})" if p.result_url else "posted below"
        return f"✅ Finished {prompt}: {_images(p.delivered)} {where}."
    if not p.delivered:
        return f"❌ {prompt} failed: the reason is posted below."
    return (
        f"⚠️ Finished {prompt}: {_images(p.delivered)} posted below; "
        f"{p.failed} of {p.count} failed (reason below)."
    )


def cancelled_status(prompt: str, by_user_id: int, count: int) -> str:
    return f"🚫 {quote_prompt(prompt)} ({_images(count)}) was cancelled by <@{by_user_id}>."


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _position(job: Job) -> str:
    return f" (image {job.batch_index + 1} of {job.batch_size})" if job.batch_size > 1 else ""


def result_embed(
    job: Job,
    *,
    filename: str | None,
    spoiler: bool = False,
    number: int | None = None,
    prompt_limit: int = PROMPT_IN_EMBED,
) -> discord.Embed:
    """The result's embed. With ``spoiler`` the image stays out of the embed (Discord never
    blurs embed images; the spoilered attachment shows instead) and the prompt is hidden too.
    ``number``: its place in a message of several images (its button says the same);
    ``prompt_limit``: the prompt's share of such a message's 6000 characters of embeds."""
    prompt = discord.utils.escape_markdown(truncate(job.prompt, max(prompt_limit, 1)))
    numbered = f"{number}. " if number is not None else ""
    embed = discord.Embed(
        title=f"{numbered}Your image is ready{_position(job)}",
        description=f"||{prompt}||" if spoiler else prompt,
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Model", value=f"`{truncate(job.model, 200)}`", inline=True)
    seed = job.params.get("seed")
    if seed is not None:
        embed.add_field(name="Seed", value=str(seed), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.requester_id}>", inline=True)
    embed.add_field(name="Time", value=_elapsed(job.updated_at - job.created_at), inline=True)
    if filename and not spoiler:
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Generation {job.generation_id}")
    return embed


# Request parameters shown by Info, in this order, with the names people know them by.
_INFO_PARAMS = (
    ("aspect_ratio", "Aspect ratio"),
    ("seed", "Seed"),
    ("num_inference_steps", "Steps"),
    ("negative_prompt", "Negative prompt"),
    ("input_image", "Edited image"),
)


def info_embed(job: Job) -> discord.Embed:
    """Everything needed to make this image again (Info button, ephemeral)."""
    embed = discord.Embed(
        title="Image details",
        description=discord.utils.escape_markdown(truncate(job.prompt, 4000)),
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Model", value=f"`{truncate(job.model, 200)}`", inline=False)
    for key, label in _INFO_PARAMS:
        value = job.params.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value not in (None, ""):
            embed.add_field(name=label, value=truncate(str(value), 1000), inline=False)
    embed.add_field(name="Requested by", value=f"<@{job.requester_id}>", inline=True)
    embed.add_field(
        name="Requested", value=discord.utils.format_dt(_dt(job.created_at), "f"), inline=True
    )
    if job.finished_at or job.outcome:
        embed.add_field(name="Time", value=_elapsed(job.updated_at - job.created_at), inline=True)
    embed.set_footer(text=f"Generation {job.generation_id}")
    return embed


def _elapsed(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min {seconds % 60} s"


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


def not_started_content(requester_id: int, prompt: str, reason: str) -> str:
    return (
        f"<@{requester_id}> ❌ {quote_prompt(prompt)} waited in line but couldn't start: "
        f"{truncate(reason, 500)}"
    )


def mention_only(user_id: int) -> discord.AllowedMentions:
    """Only the person who asked may be pinged; never everyone, roles or anyone else."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )


def group_requests(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs grouped by request, in the order the requests were made."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.request_id, []).append(job)
    return list(groups.values())


def jobs_list(
    requests: list[list[Job]],
    queued_in_guild: list[Job],
    waiting: Sequence[LinePlace] = (),
) -> str:
    """/jobs: one numbered line per request (then per request waiting in the bot's line, with
    its place), within Discord's 2000 characters."""
    order = {job.generation_id: index for index, job in enumerate(queued_in_guild, 1)}
    lines = ["Your images being made here:"]
    rows: list[tuple[str, str, int, str]] = []  # prompt, model, images, state
    for jobs in requests:
        first = jobs[0]
        started = [j.started_at for j in jobs if j.started_at is not None]
        if started:
            state = f"making it, started {discord.utils.format_dt(_dt(min(started)), 'R')}"
        else:
            position = min((order[j.generation_id] for j in jobs if j.generation_id in order),
                           default=None)  # fmt: skip
            state = f"queued, #{position} in this server's queue" if position else "queued"
        rows.append((first.prompt, first.model, len(jobs), state))
    rows += [
        (p.waiting.prompt, p.waiting.order.model, p.waiting.order.count, _waiting_state(p))
        for p in waiting
    ]
    for number, (prompt, model, count, state) in enumerate(rows, 1):
        line = (
            f"**#{number}** {quote_prompt(prompt, 60)}: {_images(count)}, "
            f"`{truncate(model, 40)}`, {state}"
        )
        if sum(len(x) + 1 for x in lines) + len(line) > 1900:
            break
        lines.append(line)
    return "\n".join(lines)


def _waiting_state(place: LinePlace) -> str:
    if not place.waits_for_own:
        return f"waiting its turn, #{place.line_place or '?'} in the bot's line"
    return f"waiting for one of yours to finish (#{place.own_place} of {place.own_total} waiting)"


@dataclass(frozen=True)
class AuditEntry:
    """One request as the audit channel records it."""

    requester_id: int
    channel_id: int
    prompt: str
    model: str
    outcome: str
    generation_ids: tuple[str, ...] = ()
    negative_prompt: str | None = None
    edit: bool = False  # an edit of an existing image


def audit_embed(entry: AuditEntry) -> discord.Embed:
    """An audit log entry: who asked what, where, with which model, and how it ended. Mentions
    in an embed never ping (and the post allows none anyway)."""
    embed = discord.Embed(
        title="Image edit" if entry.edit else "Image request",
        description=discord.utils.escape_markdown(truncate(entry.prompt, PROMPT_IN_EMBED)),
        colour=EMBED_COLOUR,
        timestamp=datetime.now(tz=UTC),
    )
    embed.add_field(name="Requested by", value=f"<@{entry.requester_id}>", inline=True)
    embed.add_field(name="Channel", value=f"<#{entry.channel_id}>", inline=True)
    embed.add_field(name="Model", value=f"`{truncate(entry.model, 200)}`", inline=True)
    if entry.negative_prompt:
        embed.add_field(
            name="Negative prompt",
            value=discord.utils.escape_markdown(truncate(entry.negative_prompt, 1000)),
            inline=False,
        )
    generations = "\n".join(f"`{g}`" for g in entry.generation_ids) or "none (never sent to Oxen)"
    embed.add_field(name="Generation", value=truncate(generations, 1000), inline=False)
    embed.add_field(name="Outcome", value=truncate(entry.outcome, 1000), inline=False)
    return embed
