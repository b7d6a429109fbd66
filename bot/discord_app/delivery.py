"""Delivery: turns a job whose outcome is known into a message in the channel it came from.

Delivery composes (downloads, re-encodes, renders); the channel's outbox (bot.discord_app.outbox)
sends, when the channel's turn comes: alone, or with other results when the channel is busy, on
the bot's own permissions or, while its interaction token is valid and the channel's bucket is
full, as a follow-up of the request. Posts mention only their requesters, and fall back to a DM
when the channel will not take them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import discord

from bot.core.images import ImageWorker, NotAnImage
from bot.core.limits import DISCORD_DEFAULT_UPLOAD_BYTES
from bot.core.ports import DeliveryFailed, ServerSettingsRepository
from bot.core.types import InterruptedEnqueue, Job, Waiting
from bot.discord_app import render
from bot.discord_app.buttons import Buttons
from bot.discord_app.outbox import Outbox, send_one
from bot.discord_app.posts import Outgoing, channel_refused
from bot.oxen import (
    DownloadError,
    DownloadTooLarge,
    GenerationStatus,
    OxenClient,
    OxenError,
    OxenTimeout,
    ResultExpired,
)

log = logging.getLogger(__name__)

_HISTORY_SCAN = 500  # messages looked at when checking whether a job was already posted

Send = Callable[[], Awaitable[int | None]]


class Delivery:
    def __init__(
        self,
        client: discord.Client,
        oxen: OxenClient,
        servers: ServerSettingsRepository,
        buttons: Buttons,
        images: ImageWorker,
        outbox: Outbox,
        *,
        max_download_bytes: int,
        download_timeout: float,
    ) -> None:
        self._client = client
        self._outbox = outbox
        self._servers = servers
        self._buttons = buttons
        self._images = images
        self._oxen = oxen
        self._max_download_bytes = max_download_bytes
        self._download_timeout = download_timeout

    async def deliver(self, job: Job) -> int | None:
        """Post the job's outcome; return the message id. Transient errors propagate (retry)."""
        send = await self.prepare(job)
        return await send()

    async def prepare(self, job: Job) -> Send:
        """Compose the job's post (download, re-encode: the slow part); the call returned sends
        it when the channel's turn comes and returns the message id."""
        await self._outbox.room(job.channel_id)  # a saturated channel: no pile of images
        outgoing = await self._compose(job)

        async def send() -> int | None:
            try:
                return await self._send_to_channel(job, outgoing)
            except discord.HTTPException as err:
                if not channel_refused(err):
                    raise  # transient (5xx, rate limit): the watcher retries
                log.warning(
                    "cannot post generation %s in channel %s (%s); trying the requester's DMs",
                    job.generation_id, job.channel_id, err.text or err.status,
                )  # fmt: skip
            message = await self._send_to_requester(job, outgoing)
            return message.id

        return send

    async def find_existing(self, job: Job) -> int | None:
        """The id of a message this bot already posted for the job, if any.

        Used when resuming a job whose delivery may have happened just before a crash: the post
        is in the channel but its id never reached the store. Looks at recent history only.
        """
        me = self._client.user
        if me is None:
            return None
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        # The post came after the outcome was recorded (updated_at); start a little before that
        # and page far enough to find it in a busy channel.
        since = datetime.fromtimestamp(job.updated_at - 5, tz=UTC)
        try:
            async for message in channel.history(limit=_HISTORY_SCAN, after=since):
                if message.author.id == me.id and _mentions_generation(message, job.generation_id):
                    return message.id
        except discord.HTTPException as err:
            log.info("cannot read channel %s history (%s)", job.channel_id, err.text or err.status)
        return None

    async def explain_interrupted(self, enqueue: InterruptedEnqueue) -> None:
        """Tell the requester that a prompt's enqueue outcome was lost in a restart."""
        content = render.interrupted_enqueue_content(enqueue.requester_id, enqueue.prompt)
        await self.tell(enqueue.guild_id, enqueue.channel_id, enqueue.requester_id, content)

    async def explain_not_started(self, waiting: Waiting, reason: str) -> None:
        """Tell the requester that their request from the waiting line never started."""
        content = render.not_started_content(waiting.requester_id, waiting.prompt, reason)
        await self.tell(waiting.guild_id, waiting.channel_id, waiting.requester_id, content)

    async def tell(
        self, guild_id: int | None, channel_id: int, requester_id: int, content: str
    ) -> None:
        """A message for the requester (mentioned) in the channel, else in their DMs."""
        mentions = render.mention_only(requester_id)
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await channel.send(content, allowed_mentions=mentions)
        except (discord.Forbidden, discord.NotFound):
            try:
                user = await self._client.fetch_user(requester_id)
                await user.send(content, allowed_mentions=mentions)
            except (discord.Forbidden, discord.NotFound) as err:
                raise DeliveryFailed(
                    f"channel {channel_id} and user {requester_id} both refused"
                ) from err

    async def _compose(self, job: Job) -> Outgoing:
        if job.outcome == GenerationStatus.SUCCEEDED:
            return await self._compose_image(job)
        if job.outcome == GenerationStatus.CANCELLED:
            return Outgoing(render.cancelled_content(job, job.error))
        return Outgoing(render.failure_content(job, job.error or "Oxen reported a failure."))

    async def _compose_image(self, job: Job) -> Outgoing:
        try:
            data = await self._download(job)
        except DownloadTooLarge:
            return Outgoing(render.failure_content(job, "the result was larger than I may fetch."))
        except OxenTimeout:
            return Outgoing(render.failure_content(job, "downloading the result took too long."))
        except ResultExpired:
            return Outgoing(
                render.failure_content(job, "the result's link expired before I got it.")
            )
        except DownloadError as err:
            return Outgoing(
                render.failure_content(job, f"the result could not be fetched ({err}).")
            )
        limit = job.upload_limit or DISCORD_DEFAULT_UPLOAD_BYTES
        try:
            fitted = await self._images.fit_to_limit(data, limit)
        except NotAnImage:
            return Outgoing(
                render.failure_content(job, "Oxen returned something that isn't an image.")
            )
        spoiler = await self._spoiler(job)
        if fitted is None:
            url = job.result_url or ""
            return Outgoing(render.link_content(job, f"||{url}||" if spoiler else url))
        # Discord blurs an attachment whose name starts with SPOILER_ until it is clicked.
        filename = ("SPOILER_" if spoiler else "") + f"{job.generation_id}.{fitted.extension}"
        return Outgoing(
            render.success_content(job),
            embed=render.result_embed(job, filename=filename, spoiler=spoiler),
            image=fitted.data,
            filename=filename,
            view=self._buttons.result_view(job.generation_id),
            spoiler=spoiler,
        )

    async def _spoiler(self, job: Job) -> bool:
        """The server's setting now, not when the image was asked for: an admin who turns
        spoilers on expects images still being made to arrive hidden too."""
        if job.guild_id is None:
            return False
        return (await self._servers.get(job.guild_id)).spoiler_results

    async def _download(self, job: Job) -> bytes:
        """Download the result; an expired link is refreshed from Oxen once."""
        url = job.result_url or ""
        try:
            return await self._fetch(url)
        except ResultExpired:
            try:
                fresh = await self._oxen.get_generation(job.generation_id)
            except OxenError:
                raise ResultExpired("result link expired and could not be refreshed") from None
            if not fresh.result_url or fresh.result_url == url:
                raise
            return await self._fetch(fresh.result_url)

    async def _fetch(self, url: str) -> bytes:
        return await self._oxen.download(
            url, max_bytes=self._max_download_bytes, timeout=self._download_timeout
        )

    async def _send_to_channel(self, job: Job, outgoing: Outgoing) -> int:
        reference = (
            discord.MessageReference(
                message_id=job.status_message_id,
                channel_id=job.channel_id,
                guild_id=job.guild_id,
                fail_if_not_exists=False,  # the status message may have been deleted: not an error
            )
            if job.status_message_id and self._can_reply(job)
            else None
        )
        return await self._outbox.post(job, outgoing, reply_to=reference)

    async def _send_to_requester(self, job: Job, outgoing: Outgoing) -> discord.Message:
        try:
            user = self._client.get_user(job.requester_id) or await self._client.fetch_user(
                job.requester_id
            )
            return await send_one(user, job, outgoing, None)
        except (discord.Forbidden, discord.NotFound) as err:
            raise DeliveryFailed(
                f"channel {job.channel_id} and the DMs of user {job.requester_id} both refused"
            ) from err

    def _can_reply(self, job: Job) -> bool:
        """Replies need Read Message History; without it, post a plain message."""
        channel = self._client.get_channel(job.channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            return channel.permissions_for(channel.guild.me).read_message_history
        return True


def _mentions_generation(message: discord.Message, generation_id: str) -> bool:
    if generation_id in message.content:
        return True
    names = (a.filename.removeprefix("SPOILER_") for a in message.attachments)
    if any(name.startswith(generation_id) for name in names):
        return True
    return any(generation_id in (embed.footer.text or "") for embed in message.embeds)
