"""The server gallery on Discord's side: sharing a result as a forum post, withdrawing and hiding
it, ⭐ votes and their labels, Info with the remix lineage, the weekly post, and setting it up.

Everything goes through the bot's own permissions (never an interaction token, so it works
however late), keyed by the ids the store keeps. Posts never ping: names are written as text,
``allowed_mentions`` parses nothing, and posts are sent with SUPPRESS_NOTIFICATIONS.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal

import discord

from bot.core.catalog import ModelCatalog
from bot.core.errors import UserFacingError
from bot.core.gallery import (
    NotShareable,
    clean_title,
    default_title,
    gallery_for,
    is_nsfw_image,
    may_hide,
    may_share,
    may_withdraw,
    model_tag_name,
    pick_tags,
    tags_to_create,
)
from bot.core.gallery_images import grid, thumbnail
from bot.core.images import ImageWorker, NotAnImage
from bot.core.limits import (
    DISCORD_MAX_FORUM_TAGS,
    VOTE_LABEL_MIN_GAP_SECONDS,
)
from bot.core.ports import Store
from bot.core.server_admin import Change
from bot.core.sharing import Sharing, check_shareable
from bot.core.types import GuildSettings, Job, NewShare, Share
from bot.core.web_gallery import WebGallery
from bot.discord_app import gallery_render as views
from bot.discord_app import render
from bot.discord_app.attachments import is_image_attachment
from bot.discord_app.audit import AuditLog
from bot.discord_app.buttons import Buttons
from bot.discord_app.combined import is_file_of
from bot.discord_app.modals import ShareModal
from bot.discord_app.origin import is_nsfw
from bot.discord_app.permissions import missing_gallery_permissions
from bot.discord_app.results import ResultMessages

log = logging.getLogger(__name__)

# A gallery post stays open a week without activity (Discord's longest).
ARCHIVE_AFTER_MINUTES: Literal[10080] = 10080
THREAD_ARCHIVED = 50083
MODEL_NAME_WAIT = 2.0  # seconds to wait for Oxen's model list when naming a model's tag


def _moderator(interaction: discord.Interaction) -> bool:
    return interaction.guild is not None and interaction.permissions.manage_messages


def _names(missing: Sequence[str]) -> str:
    return ", ".join(f"**{name}**" for name in missing)


# --- the vote labels ---------------------------------------------------------------------------


class VoteLabels:
    """Keeps the ⭐ counts on an image's messages current without flooding Discord: presses on one
    image are coalesced, and its messages are edited at most once every ``min_gap`` seconds,
    within ``min_gap`` (plus the edit itself) of the last press, however many press."""

    def __init__(
        self,
        refresh: Callable[[str], Awaitable[None]],
        *,
        min_gap: float = VOTE_LABEL_MIN_GAP_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._refresh = refresh
        self._gap = min_gap
        self._clock = clock
        self._last: dict[str, float] = {}  # when each image's messages were last edited
        self._dirty: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def changed(self, generation_id: str) -> None:
        """The image's count (or its gallery state) changed: its labels will follow."""
        self._dirty.add(generation_id)
        if generation_id not in self._tasks:
            task = asyncio.create_task(self._run(generation_id), name=f"vote-label-{generation_id}")
            self._tasks[generation_id] = task

    async def _run(self, generation_id: str) -> None:
        try:
            while generation_id in self._dirty:
                wait = self._last.get(generation_id, -self._gap) + self._gap - self._now()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._dirty.discard(generation_id)  # presses from here on need another edit
                self._last[generation_id] = self._now()
                try:
                    await self._refresh(generation_id)
                except Exception:
                    log.exception("could not update the vote labels of %s", generation_id)
        finally:
            self._tasks.pop(generation_id, None)
            self._forget_old()

    def _forget_old(self) -> None:
        cutoff = self._now() - self._gap
        for gid in [g for g, at in self._last.items() if at < cutoff and g not in self._tasks]:
            del self._last[gid]

    async def close(self) -> None:
        """Let the edits due finish (the caller bounds the wait; counts stay in the store)."""
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


# --- the gallery ----------------------------------------------------------------------------------


class Gallery:
    def __init__(
        self,
        client: discord.Client,
        store: Store,
        sharing: Sharing,
        buttons: Buttons,
        audit: AuditLog,
        images: ImageWorker,
        catalog: ModelCatalog,
        *,
        web: WebGallery,
        results: ResultMessages,
        vote_label_gap: float = VOTE_LABEL_MIN_GAP_SECONDS,
    ) -> None:
        self._client = client
        self._web = web  # the web gallery's own copies of each shared image
        self._results = results  # result messages of one image or several
        self._store = store
        self._sharing = sharing
        self._buttons = buttons
        self._audit = audit
        self._images = images
        self._catalog = catalog
        self.labels = VoteLabels(self._refresh_labels, min_gap=vote_label_gap)
        # One share at a time per image, so two presses never make two posts.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """At shutdown: let auto-shares and label edits in flight finish (bounded by the caller)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.labels.close()

    # --- Share ---------------------------------------------------------------------------------

    async def share_pressed(self, interaction: discord.Interaction, generation_id: str) -> None:
        """Share on a result: the checks first (so nobody fills a form for nothing), then the
        title and whether to show the prompt."""
        job = await self._job(generation_id)
        check_shareable(job)
        if not may_share(interaction.user.id, job.requester_id, moderator=_moderator(interaction)):
            raise UserFacingError(
                "Only the person who asked for this image, or someone with **Manage Messages**, "
                "can share it to the gallery."
            )
        existing = await self._store.gallery.get(generation_id)
        if existing is not None:
            raise UserFacingError(_already(existing))
        await self._destination(job, channel_nsfw=is_nsfw(interaction.channel))
        source = interaction.message

        async def answered(submitted: discord.Interaction, title: str, show_prompt: bool) -> None:
            await submitted.response.defer(ephemeral=True, thinking=True)
            me = submitted.user
            share, created = await self.share(
                job,
                by_user_id=me.id,
                creator_name=me.display_name if me.id == job.requester_id else None,
                title=clean_title(title, job.prompt),
                show_prompt=show_prompt,
                channel_nsfw=is_nsfw(submitted.channel),
                source=source,
            )
            text = f"📤 Shared to the gallery: {share.post_url}" if created else _already(share)
            await submitted.edit_original_response(content=text)

        await interaction.response.send_modal(ShareModal(job.prompt, answered))

    async def share(
        self,
        job: Job,
        *,
        by_user_id: int,
        creator_name: str | None,
        title: str,
        show_prompt: bool,
        channel_nsfw: bool,
        source: discord.Message | None = None,
        auto: bool = False,
    ) -> tuple[Share, bool]:
        """Post the image in the gallery it may go to; returns the share and whether it is new
        (an image already shared returns its existing post). ``creator_name``: the creator's
        display name when known (they pressed), else it is looked up."""
        guild_id = check_shareable(job)
        lock = self._locks.setdefault(job.generation_id, asyncio.Lock())
        async with lock:
            existing = await self._store.gallery.get(job.generation_id)
            if existing is not None:
                return existing, False
            settings = await self._store.servers.get(guild_id)
            channel_nsfw = await self._made_in_nsfw(job, channel_nsfw)
            nsfw = is_nsfw_image(settings, channel_nsfw=channel_nsfw)
            forum = await self._destination(job, channel_nsfw=channel_nsfw, settings=settings)
            missing = missing_gallery_permissions(forum.permissions_for(forum.guild.me))
            if missing:
                raise UserFacingError(
                    f"I can't post in the gallery {forum.mention}: I'm missing {_names(missing)} "
                    "there. Ask a server admin to grant it."
                )
            data, extension = await self._image_of(job, source)
            if creator_name is None:
                creator_name = await self._display_name(forum.guild, job.requester_id)
            filename = ("SPOILER_" if nsfw else "") + f"{job.generation_id}.{extension}"
            tags = await self._tags(forum, job.model, settings.gallery_theme)
            embed = views.post_embed(
                job,
                title=title,
                show_prompt=show_prompt,
                creator_name=creator_name,
                remix=await self._remix(job),
                filename=filename,
                spoiler=nsfw,
            )
            votes = await self._store.gallery.votes(job.generation_id)
            created = await forum.create_thread(
                name=title or default_title(job.prompt),
                embed=embed,
                file=discord.File(io.BytesIO(data), filename=filename),
                view=self._buttons.gallery_view(job.generation_id, votes=votes),
                applied_tags=tags,
                allowed_mentions=discord.AllowedMentions.none(),
                silent=True,
                auto_archive_duration=ARCHIVE_AFTER_MINUTES,
            )
            post_id = created.thread.id
            share = NewShare(
                generation_id=job.generation_id,
                guild_id=guild_id,
                gallery_channel_id=forum.id,
                post_id=post_id,
                creator_id=job.requester_id,
                creator_name=creator_name,
                shared_by_id=by_user_id,
                title=title,
                prompt=job.prompt if show_prompt else None,
                model=job.model,
                nsfw=nsfw,
                auto=auto,
            )
            if not await self._store.gallery.add(share, await self._thumbnail(data)):
                # Shared meanwhile by another bot process: keep theirs.
                with contextlib.suppress(discord.HTTPException):
                    await created.thread.delete()
                return await self._existing(job.generation_id), False
            recorded = await self._existing(job.generation_id)
            await self._web.keep(recorded, data)  # never for an NSFW image
        what = f"auto-shared at {votes} votes, as its creator allowed" if auto else "shared"
        self._audit.gallery(guild_id, views.audit_embed(what, recorded, by_user_id=by_user_id))
        log.info("generation %s shared to gallery post %s", job.generation_id, post_id)
        self.labels.changed(job.generation_id)  # the original's Share becomes Withdraw
        return recorded, True

    async def _made_in_nsfw(self, job: Job, pressed_in: bool) -> bool:
        """Whether the image comes from an age-restricted channel: where it was asked for (it
        may have reached its requester by DM), or where the button was pressed. A channel the
        bot can no longer see counts as age-restricted: the safe side."""
        if pressed_in:
            return True
        channel = self._client.get_channel(job.channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(job.channel_id)
            except discord.HTTPException:
                return True
        return is_nsfw(channel)

    async def _destination(
        self, job: Job, *, channel_nsfw: bool, settings: GuildSettings | None = None
    ) -> discord.ForumChannel:
        """The gallery this image may go to (an NSFW image: only the age-restricted one)."""
        guild_id = check_shareable(job)
        settings = settings or await self._store.servers.get(guild_id)
        nsfw = is_nsfw_image(settings, channel_nsfw=await self._made_in_nsfw(job, channel_nsfw))
        nsfw_gallery = None
        if nsfw and settings.gallery_nsfw_channel_id is not None:
            nsfw_gallery = await self._forum(settings.gallery_nsfw_channel_id)
        channel_id = gallery_for(
            settings,
            nsfw_image=nsfw,
            nsfw_gallery_is_age_restricted=nsfw_gallery is None or nsfw_gallery.is_nsfw(),
        )
        forum = nsfw_gallery or await self._forum(channel_id)
        if forum is None:
            raise NotShareable(
                "This server's gallery channel is gone or isn't a forum any more. Ask an admin "
                "to set it again with `/imagine-admin gallery`."
            )
        return forum

    async def _forum(self, channel_id: int) -> discord.ForumChannel | None:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(channel_id)
            except discord.HTTPException:
                return None
        return channel if isinstance(channel, discord.ForumChannel) else None

    async def _image_of(self, job: Job, source: discord.Message | None) -> tuple[bytes, str]:
        """The result's bytes (re-uploaded: a CDN link would expire) and its file extension."""
        message = source if source is not None and source.id == job.result_message_id else None
        if message is None and job.result_message_id is not None:
            channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
            try:
                message = await channel.fetch_message(job.result_message_id)
            except discord.HTTPException:
                message = None
        images = [a for a in (message.attachments if message else []) if is_image_attachment(a)]
        # In a message of several images, this one's file (its name starts with its id).
        attachment = next((a for a in images if is_file_of(a, job.generation_id)), None)
        attachment = attachment or next(iter(images), None)
        if attachment is None:
            raise UserFacingError(
                "I can't find this image's file any more (it was deleted, or it was too large "
                "to upload here and only linked), so I can't share it."
            )
        data = await attachment.read()
        name = attachment.filename.removeprefix("SPOILER_")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else "png"
        return data, extension

    async def _thumbnail(self, data: bytes) -> bytes | None:
        try:
            return await self._images.run(thumbnail, data)
        except NotAnImage:
            return None

    async def _tags(
        self, forum: discord.ForumChannel, model: str, theme: str | None
    ) -> list[discord.ForumTag]:
        found = await self._catalog.find(model, wait=MODEL_NAME_WAIT)
        wanted = [model_tag_name(model, found.display_name if found else None)]
        if theme:
            wanted.append(theme)
        ids = pick_tags({t.name: t.id for t in forum.available_tags}, wanted)
        tags = [t for t in forum.available_tags if t.id in ids]
        if not tags and forum.flags.require_tag:
            raise UserFacingError(
                f"The gallery {forum.mention} requires a tag on every post, and none of its tags "
                "names this model or the theme. Ask an admin to run `/imagine-admin gallery "
                "create_tags:True`, or to turn off the channel's *Require tags*."
            )
        return tags

    async def _remix(self, job: Job) -> views.Remix | None:
        if job.parent_id is None or job.guild_id is None:
            return None
        parent_share = await self._store.gallery.get(job.parent_id)
        if parent_share is not None and not parent_share.hidden:
            return views.Remix(parent_share.post_url, parent_share.creator_name)
        parent = await self._store.jobs.get(job.parent_id)
        if parent is None:
            return None
        guild = self._client.get_guild(job.guild_id)
        name = await self._display_name(guild, parent.requester_id) if guild else "someone"
        return views.Remix(views.job_link(parent), name)

    async def _display_name(self, guild: discord.Guild | None, user_id: int) -> str:
        member = guild.get_member(user_id) if guild else None
        if member is not None:
            return member.display_name
        try:
            if guild is not None:
                return (await guild.fetch_member(user_id)).display_name
            return (await self._client.fetch_user(user_id)).display_name
        except discord.HTTPException:
            return "a former member"

    # --- Withdraw, Hide, and deleting the original -----------------------------------------------

    async def withdraw_pressed(self, interaction: discord.Interaction, generation_id: str) -> None:
        share = await self._store.gallery.get(generation_id)
        if share is None:
            raise UserFacingError("This image isn't in the gallery any more.")
        if not may_withdraw(interaction.user.id, share.creator_id):
            hint = (
                " Moderators can hide a post with its Hide button."
                if _moderator(interaction)
                else ""
            )
            raise UserFacingError(
                "Only the person who made this image can withdraw it from the gallery." + hint
            )
        await self._can_manage_posts(share, "delete its post")
        # Answered first: pressed on the post, the channel is about to be deleted.
        await interaction.response.send_message(
            "↩️ Withdrawn: the gallery post is deleted, and the image is out of every list.",
            ephemeral=True,
        )
        await self.withdraw(generation_id, by_user_id=interaction.user.id, why="by its creator")

    async def withdraw(self, generation_id: str, *, by_user_id: int, why: str) -> Share | None:
        """Out of the store's lists first (at once), then the post is deleted."""
        share = await self._store.gallery.remove(generation_id)
        if share is None:
            return None
        await self._web.forget(generation_id)  # its web copies are deleted at once
        detail = why
        try:
            thread = await self._thread(share.post_id)
            if thread is not None:
                await thread.delete()
        except discord.HTTPException as err:
            log.warning("gallery post %s not deleted: %s", share.post_id, err.text or err.status)
            detail += (
                f"; the post could not be deleted ({err.text or err.status}): delete it by hand"
            )
        self._audit.gallery(
            share.guild_id,
            views.audit_embed("withdrawn", share, by_user_id=by_user_id, detail=detail),
        )
        self.labels.changed(generation_id)  # the original's Withdraw becomes Share again
        return share

    async def original_deleted(self, job: Job, *, by_user_id: int) -> None:
        """Deleting the original result withdraws its share."""
        if await self._store.gallery.get(job.generation_id) is not None:
            await self.withdraw(
                job.generation_id, by_user_id=by_user_id, why="its original result was deleted"
            )

    async def post_gone(self, post_id: int) -> None:
        """Someone deleted a gallery post in Discord itself: it leaves every list too."""
        share = await self._store.gallery.by_post(post_id)
        if share is not None and await self._store.gallery.remove(share.generation_id):
            await self._web.forget(share.generation_id)
            self._audit.gallery(
                share.guild_id,
                views.audit_embed(
                    "withdrawn", share, by_user_id=None, detail="its post was deleted in Discord"
                ),
            )  # fmt: skip
            self.labels.changed(share.generation_id)

    async def hide_pressed(self, interaction: discord.Interaction, generation_id: str) -> None:
        share = await self._store.gallery.get(generation_id)
        if share is None:
            raise UserFacingError("This image isn't in the gallery any more.")
        if not may_hide(moderator=_moderator(interaction)):
            hint = (
                " You can withdraw your own with Withdraw."
                if (interaction.user.id == share.creator_id)
                else ""
            )
            raise UserFacingError(
                "Only moderators (**Manage Messages**) can hide gallery posts." + hint
            )
        await self._can_manage_posts(share, "hide or show it")
        thread = await self._thread(share.post_id)
        if thread is None:
            raise UserFacingError("I can't find this gallery post any more.")
        hidden = not share.hidden
        votes = await self._store.gallery.votes(generation_id)
        view = self._buttons.gallery_view(generation_id, votes=votes, hidden=hidden)
        if hidden:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self._store.gallery.set_hidden(generation_id, True)
            # The label first: an archived post's messages can't be edited.
            await thread.get_partial_message(share.post_id).edit(view=view)
            await interaction.followup.send(
                "🙈 Hidden: the post is archived and locked, and out of every list. "
                "Press Unhide to bring it back.",
                ephemeral=True,
            )
            await thread.edit(archived=True, locked=True)
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await thread.edit(archived=False, locked=False)
            await self._store.gallery.set_hidden(generation_id, False)
            await thread.get_partial_message(share.post_id).edit(view=view)
            await interaction.followup.send("👁️ Shown again, and back in the lists.", ephemeral=True)
        self._audit.gallery(
            share.guild_id,
            views.audit_embed("hidden" if hidden else "shown again", share,
                              by_user_id=interaction.user.id),
        )  # fmt: skip

    async def _can_manage_posts(self, share: Share, what: str) -> None:
        """Refused before anything changes when the bot could not finish the job."""
        forum = await self._forum(share.gallery_channel_id)
        if forum is not None and not forum.permissions_for(forum.guild.me).manage_threads:
            raise UserFacingError(
                f"I can't {what}: I'm missing **Manage Threads** in {forum.mention}. "
                "Ask a server admin to grant it."
            )

    async def _thread(self, thread_id: int) -> discord.Thread | None:
        channel = self._client.get_channel(thread_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(thread_id)
            except discord.NotFound:
                return None
        return channel if isinstance(channel, discord.Thread) else None

    # --- votes -----------------------------------------------------------------------------------

    async def vote_pressed(self, interaction: discord.Interaction, generation_id: str) -> None:
        job = await self._store.jobs.get(generation_id)
        share = await self._store.gallery.get(generation_id)
        # The gallery post outlives the job row (pruned after JOB_RETENTION_DAYS).
        if job is not None:
            creator_id, guild_id = job.requester_id, job.guild_id
        elif share is not None:
            creator_id, guild_id = share.creator_id, share.guild_id
        else:
            raise UserFacingError("I no longer have the details of this image.")
        outcome = await self._sharing.vote(
            generation_id, guild_id=guild_id, creator_id=creator_id, voter_id=interaction.user.id
        )
        votes = outcome.vote.votes
        if outcome.vote.voted:
            text = (
                f"⭐ Voted: {votes} vote{'s' * (votes != 1)} now. Press ⭐ again to take it back."
            )
        else:
            text = f"Vote taken back: {votes} vote{'s' * (votes != 1)} now."
        await interaction.response.send_message(text, ephemeral=True)
        self.labels.changed(generation_id)
        if outcome.auto_share and job is not None:
            self._in_background(
                self._auto_share(job, channel_nsfw=is_nsfw(interaction.channel),
                                 source=interaction.message)
            )  # fmt: skip

    async def _auto_share(
        self, job: Job, *, channel_nsfw: bool, source: discord.Message | None
    ) -> None:
        """Votes reached the server's count and the creator allowed it: share with their
        choices (the prompt shown unless they said otherwise)."""
        try:
            assert job.guild_id is not None
            prefs = await self._sharing.prefs(job.guild_id, job.requester_id)
            if not prefs.auto_share:
                return  # consent withdrawn meanwhile
            await self.share(
                job,
                by_user_id=job.requester_id,  # their consent shares it
                creator_name=None,
                title=default_title(job.prompt),
                show_prompt=prefs.show_prompt,
                channel_nsfw=channel_nsfw,
                source=source,
                auto=True,
            )
        except UserFacingError as err:
            log.info("generation %s not auto-shared: %s", job.generation_id, err)
        except Exception:
            log.exception("auto-share of generation %s failed", job.generation_id)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="gallery-auto-share")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh_labels(self, generation_id: str) -> None:
        """Both of an image's messages show its count now: the result, and its gallery post."""
        votes = await self._store.gallery.votes(generation_id)
        share = await self._store.gallery.get(generation_id)
        job = await self._store.jobs.get(generation_id)
        # An image in a message of several shows its count among its own buttons (drawn when
        # they are opened): that message's buttons stay as they are.
        if (
            job is not None
            and job.guild_id is not None
            and job.result_message_id is not None
            and not await self._results.holds_several(job)
        ):
            view = self._buttons.result_view(generation_id, votes=votes, shared=share is not None)
            self._results.relabel(job, view)  # through the channel's outbox
        if share is not None and not share.hidden:
            await self._edit_post_view(share, votes)

    async def _edit_post_view(self, share: Share, votes: int) -> None:
        view = self._buttons.gallery_view(share.generation_id, votes=votes)
        post = self._client.get_partial_messageable(share.post_id, guild_id=share.guild_id)
        message = post.get_partial_message(share.post_id)
        try:
            await message.edit(view=view)
        except discord.HTTPException as err:
            if err.code != THREAD_ARCHIVED:
                log.info("vote label of gallery post %s not updated: %s", share.post_id,
                         err.text or err.status)  # fmt: skip
                return
            # Discord archived the quiet post; a vote brings it back.
            thread = await self._thread(share.post_id)
            if thread is not None:
                await thread.edit(archived=False)
                await message.edit(view=view)

    # --- Info -------------------------------------------------------------------------------------

    async def info(self, interaction: discord.Interaction, generation_id: str) -> None:
        """Every parameter and the remix lineage; on a gallery post whose creator kept the prompt
        private, without the prompt."""
        job = await self._store.jobs.get(generation_id)
        share = await self._store.gallery.get(generation_id)
        on_post = share is not None and interaction.channel_id == share.post_id
        private = on_post and share is not None and share.prompt is None
        if job is None:
            if share is None:
                raise UserFacingError("I no longer have the details of this image.")
            embed = discord.Embed(title="Image details", colour=render.EMBED_COLOUR)
            if share.prompt is not None:
                embed.description = discord.utils.escape_markdown(share.prompt[:4000])
            embed.add_field(name="Model", value=f"`{render.truncate(share.model, 200)}`")
            embed.add_field(name="By", value=f"<@{share.creator_id}>")
        elif private:
            embed = discord.Embed(
                title="Image details",
                description="*The creator kept the prompt private.*",
                colour=render.EMBED_COLOUR,
            )
            embed.add_field(name="Model", value=f"`{render.truncate(job.model, 200)}`")
            seed = job.params.get("seed")
            if seed is not None:
                embed.add_field(name="Seed", value=str(seed))
            embed.add_field(name="By", value=f"<@{job.requester_id}>")
        else:
            embed = render.info_embed(job)
        if job is not None:
            views.lineage_fields(
                embed,
                await self._sharing.lineage(job),
                remixed=await self._sharing.remix_count(generation_id),
                share=share if not on_post else None,
            )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    # --- the weekly post (bot.core.ports.WeeklyPoster) --------------------------------------------

    async def post_weekly(
        self,
        guild_id: int,
        gallery_channel_id: int,
        shares: Sequence[Share],
        monday: float,
        previous_post_id: int | None,
    ) -> int | None:
        forum = await self._forum(gallery_channel_id)
        if forum is None:
            log.warning("guild %s: no gallery forum %s for the weekly post", guild_id,
                        gallery_channel_id)  # fmt: skip
            return None
        file = await self.grid_file(list(shares), spoiler=False)
        try:
            created = await forum.create_thread(
                name=views.weekly_name(monday),
                embed=views.weekly_embed(shares, monday, grid=file is not None),
                files=[file] if file is not None else [],
                allowed_mentions=discord.AllowedMentions.none(),
                silent=True,
                auto_archive_duration=ARCHIVE_AFTER_MINUTES,
            )
        except (discord.Forbidden, discord.NotFound) as err:
            log.warning("guild %s: weekly post refused in %s: %s", guild_id, forum.id,
                        err.text or err.status)  # fmt: skip
            return None
        if previous_post_id is not None:
            await self._unpin(previous_post_id)
        try:
            await created.thread.edit(pinned=True)
        except discord.HTTPException as err:
            log.warning("weekly post %s not pinned: %s", created.thread.id, err.text or err.status)
        log.info("guild %s: top of the week posted (%s)", guild_id, created.thread.id)
        return created.thread.id

    async def _unpin(self, thread_id: int) -> None:
        try:
            thread = await self._thread(thread_id)
            if thread is None:
                return
            if thread.archived:
                await thread.edit(archived=False, pinned=False)
            elif thread.flags.pinned:
                await thread.edit(pinned=False)
        except discord.HTTPException as err:
            log.warning("last week's post %s not unpinned: %s", thread_id, err.text or err.status)

    async def grid_file(self, shares: list[Share], *, spoiler: bool) -> discord.File | None:
        """The shares' thumbnails in a grid, for a list or the weekly post (None: no pictures)."""
        thumbs = await self._sharing.thumbnails(shares)
        ordered = [thumbs[s.generation_id] for s in shares if s.generation_id in thumbs]
        if not ordered:
            return None
        try:
            data = await self._images.run(grid, ordered)
        except (NotAnImage, OSError, ValueError):
            log.warning("could not draw the gallery grid", exc_info=True)
            return None
        name = ("SPOILER_" if spoiler else "") + views.GRID_FILENAME
        return discord.File(io.BytesIO(data), filename=name)

    # --- setting it up (/imagine-admin gallery) ------------------------------------------------

    def check_channel(self, channel: Any, *, nsfw: bool) -> int:
        """A gallery must be a forum or media channel where the bot can post; the NSFW one must
        be age-restricted. Refused with what to do."""
        label = "NSFW gallery" if nsfw else "gallery"
        mention = getattr(channel, "mention", "That channel")
        if not isinstance(channel, discord.ForumChannel):
            kind = getattr(getattr(channel, "type", None), "name", "other")
            raise UserFacingError(
                f"{mention} is a {kind.replace('_', ' ')} channel. The {label} must be a forum or "
                "media channel, where each shared image gets its own post with tags: create one "
                "(Create Channel → Forum or Media) and pick it."
            )
        if nsfw and not channel.is_nsfw():
            raise UserFacingError(
                f"{mention} isn't age-restricted. The NSFW gallery must be: turn on "
                "*Age-Restricted Channel* in its settings first."
            )
        missing = missing_gallery_permissions(channel.permissions_for(channel.guild.me))
        if missing:
            raise UserFacingError(
                f"I can't run the {label} in {mention}: I'm missing {_names(missing)} there "
                "(Send Messages creates posts in a forum; Manage Threads hides and removes them)."
            )
        return channel.id

    async def settings_changed(
        self, guild: discord.Guild, change: Change, *, create_tags: bool
    ) -> list[str]:
        """What follows a gallery change: the weekly schedule, and tags if asked. Returns notes
        for the admin."""
        before, after = change.before, change.after
        notes: list[str] = []
        if after.weekly_top and not before.weekly_top:
            await self._sharing.weekly_turned_on(guild.id)
            notes.append("The first top of the week comes next Monday (UTC), pinned.")
        if (after.auto_share_votes or after.weekly_top) and after.gallery_channel_id is None:
            notes.append("These take effect once the server has a gallery (`channel:`).")
        if create_tags:
            for channel_id in (after.gallery_channel_id, after.gallery_nsfw_channel_id):
                if channel_id is not None:
                    notes.append(await self._create_tags(channel_id, after))
        elif after.gallery_theme and after.gallery_theme != before.gallery_theme:
            forum = (
                await self._forum(after.gallery_channel_id) if after.gallery_channel_id else None
            )
            names = {t.name.casefold() for t in forum.available_tags} if forum else set()
            if forum is not None and after.gallery_theme.casefold() not in names:
                notes.append(
                    f"{forum.mention} has no `{after.gallery_theme}` tag yet, so posts can't "
                    "carry the theme: run this again with `create_tags:True`, or add the tag."
                )
        return notes

    async def _create_tags(self, channel_id: int, settings: GuildSettings) -> str:
        forum = await self._forum(channel_id)
        if forum is None:
            return f"<#{channel_id}> isn't a forum I can see, so I added no tags."
        missing = missing_gallery_permissions(forum.permissions_for(forum.guild.me), tags=True)
        if "Manage Channels" in missing:
            return f"I couldn't add tags to {forum.mention}: I'm missing **Manage Channels** there."
        models = [self._catalog.default_model, self._catalog.default_edit_model]
        if settings.default_model:
            models.insert(0, settings.default_model)
        wanted = []
        for model in models:
            found = await self._catalog.find(model, wait=MODEL_NAME_WAIT)
            wanted.append(model_tag_name(model, found.display_name if found else None))
        if settings.gallery_theme:
            wanted.append(settings.gallery_theme)
        existing = [t.name for t in forum.available_tags]
        new = tags_to_create(existing, wanted)
        if not new:
            if len(existing) >= DISCORD_MAX_FORUM_TAGS:
                return f"{forum.mention} already has Discord's {DISCORD_MAX_FORUM_TAGS} tags."
            return f"{forum.mention} already has the tags I'd add."
        # One edit with the whole list: tags added one by one would each start from a cached
        # list that may not have the previous one yet.
        tags = [*forum.available_tags, *(discord.ForumTag(name=name) for name in new)]
        try:
            await forum.edit(available_tags=tags)
        except discord.HTTPException as err:
            log.warning("tags %r not added to %s: %s", new, forum.id, err.text or err.status)
            return f"Discord refused the new tags for {forum.mention} ({err.text or err.status})."
        listed = ", ".join(f"`{n}`" for n in new)
        return f"Tags added to {forum.mention}: {listed}."

    # --- helpers ---------------------------------------------------------------------------------

    async def _job(self, generation_id: str) -> Job:
        job = await self._store.jobs.get(generation_id)
        if job is None:
            raise UserFacingError("I no longer have the details of this image.")
        return job

    async def _existing(self, generation_id: str) -> Share:
        share = await self._store.gallery.get(generation_id)
        assert share is not None
        return share


def _already(share: Share) -> str:
    if share.hidden:
        return "This image is already in the gallery, but a moderator hid its post."
    return f"This image is already in the gallery: {share.post_url}"
