"""The gallery's bookkeeping, for the Discord side and the /gallery commands: votes (and when they
share an image), the lists, members' choices, remix lineage, and the weekly post's schedule.

``WeeklyTop`` is the background task that makes the top-of-the-week post every Monday (UTC)
through a ``WeeklyPoster`` (the Discord side), on an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.core.errors import UserFacingError
from bot.core.gallery import (
    Period,
    auto_share_due,
    monday_of,
    period_start,
    search_terms,
    vote_counts,
    weekly_due,
    weekly_window,
)
from bot.core.limits import GALLERY_LIST_LIMIT, LINEAGE_DEPTH
from bot.core.ports import Store, WeeklyPoster
from bot.core.types import GalleryPrefs, Job, Share, Vote
from bot.oxen import GenerationStatus

log = logging.getLogger(__name__)

MAX_WEEKLY_FAILURES = 5  # attempts at one server's weekly post before that week is passed over


@dataclass(frozen=True)
class VoteOutcome:
    vote: Vote
    share: Share | None  # the image's gallery post, if it has one
    auto_share: bool  # the vote took the image to the server's auto-share count, with consent


@dataclass(frozen=True)
class Mine:
    shares: list[Share]
    remixed: int  # how often others remixed this member's images here
    prefs: GalleryPrefs


def check_shareable(job: Job) -> int:
    """The image's server, if it is an image that could be shared at all."""
    if job.guild_id is None:
        raise UserFacingError("The gallery belongs to a server: images made in DMs stay private.")
    if job.outcome != GenerationStatus.SUCCEEDED or job.result_message_id is None:
        raise UserFacingError("There is no finished image here to share.")
    return job.guild_id


class Sharing:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._gallery = store.gallery
        self._clock = clock

    # --- votes -------------------------------------------------------------------------------

    async def vote(
        self, generation_id: str, *, guild_id: int | None, creator_id: int, voter_id: int
    ) -> VoteOutcome:
        """Add or take back a member's vote; says whether it should now be auto-shared."""
        if guild_id is None:
            raise UserFacingError("Votes are for images made in a server.")
        if not vote_counts(voter_id, creator_id):
            raise UserFacingError(
                "This is your own image, so your vote wouldn't count. Others can vote for it."
            )
        share = await self._gallery.get(generation_id)
        if share is not None and share.hidden:
            raise UserFacingError("A moderator hid this image from the gallery: it takes no votes.")
        vote = await self._gallery.toggle_vote(generation_id, voter_id, guild_id=guild_id)
        auto = False
        if vote.voted and share is None:
            settings = await self._store.servers.get(guild_id)
            if settings.auto_share_votes and vote.votes >= settings.auto_share_votes:
                prefs = await self._gallery.prefs(guild_id, creator_id)
                auto = auto_share_due(vote.votes, settings, prefs)
        return VoteOutcome(vote, share, auto)

    async def votes(self, generation_id: str) -> int:
        return await self._gallery.votes(generation_id)

    # --- lists -------------------------------------------------------------------------------

    async def top(self, guild_id: int, period: Period, *, nsfw: bool) -> list[Share]:
        since = period_start(period, self._clock())
        return await self._gallery.top(guild_id, since=since, nsfw=nsfw, limit=GALLERY_LIST_LIMIT)

    async def search(self, guild_id: int, query: str, *, nsfw: bool) -> list[Share]:
        terms = search_terms(query)
        if not terms:
            raise UserFacingError("Search for a word or two from a title or a prompt.")
        return await self._gallery.search(guild_id, terms, nsfw=nsfw, limit=GALLERY_LIST_LIMIT)

    async def by_creator(self, guild_id: int, creator_id: int, *, nsfw: bool) -> list[Share]:
        return await self._gallery.by_creator(
            guild_id, creator_id, nsfw=nsfw, limit=GALLERY_LIST_LIMIT
        )

    async def mine(self, guild_id: int, user_id: int, *, nsfw: bool) -> Mine:
        return Mine(
            shares=await self.by_creator(guild_id, user_id, nsfw=nsfw),
            remixed=await self._gallery.remixes_of(guild_id, user_id),
            prefs=await self._gallery.prefs(guild_id, user_id),
        )

    async def thumbnails(self, shares: list[Share]) -> dict[str, bytes]:
        return await self._gallery.thumbnails([s.generation_id for s in shares])

    # --- a member's choices ------------------------------------------------------------------

    async def prefs(self, guild_id: int, user_id: int) -> GalleryPrefs:
        return await self._gallery.prefs(guild_id, user_id)

    async def update_prefs(
        self,
        guild_id: int,
        user_id: int,
        *,
        auto_share: bool | None = None,
        show_prompt: bool | None = None,
    ) -> tuple[GalleryPrefs, GalleryPrefs]:
        def change(prefs: GalleryPrefs) -> GalleryPrefs:
            return replace(
                prefs,
                auto_share=prefs.auto_share if auto_share is None else auto_share,
                show_prompt=prefs.show_prompt if show_prompt is None else show_prompt,
            )

        return await self._gallery.update_prefs(guild_id, user_id, change)

    # --- lineage -----------------------------------------------------------------------------

    async def lineage(self, job: Job) -> list[Job]:
        if job.parent_id is None:
            return []
        return await self._gallery.lineage(job.generation_id, LINEAGE_DEPTH)

    async def remix_count(self, generation_id: str) -> int:
        return await self._gallery.remix_count(generation_id)

    # --- the weekly post ---------------------------------------------------------------------

    async def weekly_turned_on(self, guild_id: int) -> None:
        """From now on: the first post is next Monday's, not one at once for a week it was off."""
        monday = monday_of(self._clock())
        last = next((w for w in await self._gallery.weekly() if w.guild_id == guild_id), None)
        if last is None or last.monday < monday:
            await self._gallery.record_weekly(guild_id, monday, last.post_id if last else None)


class WeeklyTop:
    """Every Monday (UTC), each server that turned it on gets a pinned top-of-the-week post in
    its gallery (its non-NSFW images only). One guarded pass per ``check_interval``: a failure
    is logged per server and tried again, and a week is passed over after MAX_WEEKLY_FAILURES."""

    def __init__(
        self,
        store: Store,
        poster: WeeklyPoster,
        *,
        clock: Callable[[], float] = time.time,
        check_interval: float,
        serves: Callable[[int], bool] = lambda _guild_id: True,
    ) -> None:
        self._store = store
        self._poster = poster
        # With several bot processes, each posts for the servers its shards serve: once each.
        self._serves = serves
        self._clock = clock
        self._interval = check_interval
        self._task: asyncio.Task[None] | None = None
        self._failures: dict[tuple[int, float], int] = {}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gallery-weekly-top")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("the weekly gallery check failed; trying again later")
            await asyncio.sleep(self._interval)

    async def check(self) -> int:
        """One pass: make every post that is due; returns how many were made."""
        posted = 0
        now = self._clock()
        for record in await self._store.gallery.weekly():
            monday = weekly_due(now, record.monday)
            if monday is None or not self._serves(record.guild_id):
                continue
            key = (record.guild_id, monday)
            try:
                posted += await self._post(record.guild_id, monday, record.post_id)
                self._failures.pop(key, None)
            except Exception:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                log.exception(
                    "weekly gallery post for guild %s failed (%s of %s tries)",
                    record.guild_id, failures, MAX_WEEKLY_FAILURES,
                )  # fmt: skip
                if failures >= MAX_WEEKLY_FAILURES:
                    await self._store.gallery.record_weekly(record.guild_id, monday, record.post_id)
                    self._failures.pop(key, None)
        return posted

    async def _post(self, guild_id: int, monday: float, previous: int | None) -> int:
        settings = await self._store.servers.get(guild_id)
        if not settings.weekly_top or settings.gallery_channel_id is None:
            # Off this week: passed over, so turning it on again starts with next Monday.
            await self._store.gallery.record_weekly(guild_id, monday, previous)
            return 0
        since, until = weekly_window(monday)
        shares = await self._store.gallery.top(
            guild_id, since=since, until=until, nsfw=False, limit=GALLERY_LIST_LIMIT
        )
        post_id = None
        if shares:
            post_id = await self._poster.post_weekly(
                guild_id, settings.gallery_channel_id, shares, monday, previous
            )
        await self._store.gallery.record_weekly(
            guild_id, monday, post_id if post_id is not None else previous
        )
        return int(post_id is not None)
