"""The per-channel outbox: everything the bot sends to a channel goes through one queue and one
worker per channel (made when needed, stopped when idle), paced by the channel's buckets.

Discord limits each channel far more tightly than the bot: about 5 new messages and 5 edits per
5 s (the exact numbers come in the ``X-RateLimit-*`` headers, which the outbox reads from every
answer through the client's aiohttp trace; until it has seen them it assumes 5 per 5 s). So:

- **Results first.** A worker sends a result post as soon as the channel's create bucket has
  room; edits wait while a post is ready to go.
- **Several results in one message when the channel is saturated.** Whatever is waiting when
  the bucket has room goes together: up to 10 images in one message (``combined.py``), or the
  texts one per line. A quiet channel sends each post alone, at once, as before. Once a channel
  has had as many posts in the last window as its bucket allows, the worker spreads the
  bucket's requests over the window (one per ``window / limit``) instead of spending them at
  once and then waiting for the reset: posts wait at most about a second and travel together.
- **The interaction's own bucket.** While a request's interaction token is valid (14 minutes,
  ``InteractionRoutes``), its status edits go as ``PATCH …/messages/@original`` and, when the
  channel's bucket is full, its results as a follow-up (kept under Discord's ~30 follow-ups
  per minute per channel); never the channel's bucket, never the token after it expires.
- **Status edits coalesce.** A newer edit of a message replaces the one waiting (fields
  merged); the final edit of a request goes first and is never dropped; an intermediate one
  that waited ``STATUS_EDIT_MAX_WAIT_SECONDS`` for a saturated channel is dropped.
- **No 429 in steady state, nothing lost or doubled by one.** One request at a time per bucket
  and channel, sent only when the bucket has room; a 429 that still comes (another process, an
  injected one) is waited out and retried by discord.py with the same nonce, and the bucket is
  marked empty until its Retry-After. A post whose fate is unknown (a network error after
  Discord may have created it) fails its delivery: the watcher's next attempt looks in the
  channel's history before posting again.
- **Answered is done.** discord.py's request that spends a bucket's last request only returns
  once the bucket resets (it sleeps on its way out); the outbox takes a post as sent when the
  answer arrives (the trace sees it: the message id, by the post's nonce) and an edit when its
  answer does, so neither the worker nor the delivery waits out the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import aiohttp
import discord

from bot.core.limits import (
    DISCORD_CHANNEL_BUCKET_LIMIT,
    DISCORD_CHANNEL_BUCKET_SECONDS,
    DISCORD_FOLLOWUP_WINDOW_SECONDS,
    DISCORD_FOLLOWUPS_PER_CHANNEL,
    DISCORD_MAX_ATTACHMENTS,
    DISCORD_MAX_REQUEST_BYTES,
    MIB,
    OUTBOX_FOLLOWUPS_IN_FLIGHT,
    OUTBOX_IDLE_SECONDS,
    OUTBOX_MAX_WAITING_POSTS,
    STATUS_EDIT_MAX_WAIT_SECONDS,
)
from bot.core.types import Job
from bot.discord_app import render
from bot.discord_app.buttons import Buttons
from bot.discord_app.combined import batch_nonce, combined_message, fits_text
from bot.discord_app.interaction_routes import InteractionRoutes, Route
from bot.discord_app.posts import Edit, EditOutcome, Outgoing, Post, channel_refused

log = logging.getLogger(__name__)

_CHANNEL_MESSAGES = re.compile(r"/channels/(\d+)/messages(?:/(\d+))?$")
_FOLLOWUP = re.compile(r"/webhooks/\d+/([^/]+)$")
_RESET_MARGIN = 0.05  # seconds after a bucket's reset before using it: rounding and clocks
_BATCH_BYTES = DISCORD_MAX_REQUEST_BYTES - MIB  # room for the rest of the request
_LAYOUTS_KEPT = 10_000  # message ids whose layout (one image, or several) is remembered
CREATE, EDIT = "create", "edit"
_T = TypeVar("_T")


def _nothing(*_: Any) -> None:
    return None


# --- what the bot knows of a bucket ------------------------------------------------------------


class Bucket:
    """One of a channel's buckets: Discord's own numbers once an answer carried them, else the
    documented 5 per 5 s. Windows are Discord's: fixed, opened by the first request after a
    reset."""

    def __init__(
        self,
        limit: int = DISCORD_CHANNEL_BUCKET_LIMIT,
        per: float = DISCORD_CHANNEL_BUCKET_SECONDS,
    ) -> None:
        self.limit = limit
        self.per = per
        self.remaining = limit
        self.reset_at = 0.0  # monotonic; 0: no window open
        self.touched_at = 0.0

    def _roll(self, now: float) -> None:
        if self.reset_at and now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = 0.0

    def took(self, now: float) -> None:
        """A request was sent on this bucket (its answer will say more)."""
        self._roll(now)
        if not self.reset_at:
            self.reset_at = now + self.per
            self.remaining = self.limit
        self.remaining = max(0, self.remaining - 1)
        self.touched_at = now

    def learn(self, now: float, *, limit: int, remaining: int, reset_after: float) -> None:
        """An answer's ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset-After``."""
        self.limit = max(1, limit)
        if remaining == self.limit - 1 and reset_after > 0:
            self.per = reset_after  # the window's first request: how long a window lasts
        self.remaining = max(0, remaining)
        self.reset_at = now + max(0.0, reset_after)
        self.touched_at = now

    def limited(self, now: float, retry_after: float) -> None:
        """A 429: nothing more until Retry-After."""
        self.remaining = 0
        self.reset_at = max(self.reset_at, now + retry_after)
        self.touched_at = now

    def left(self, now: float) -> int:
        """Requests the bucket still takes in this window (all of them when none is open)."""
        self._roll(now)
        return self.remaining if self.reset_at else self.limit

    def ready_at(self, now: float, *, busy: bool) -> float:
        """When the next request may go. ``busy``: spread what is left of the window over it,
        rather than spend it at once and wait for the reset."""
        self._roll(now)
        if not self.reset_at:
            return now
        if self.remaining <= 0:
            return self.reset_at + _RESET_MARGIN
        if not busy:
            return now
        gap = self.per / self.limit
        return max(now, self.reset_at - self.remaining * gap)


class SlidingWindow:
    """At most ``limit`` uses in any ``per`` seconds (follow-ups per channel: Discord's shared
    limit is a fixed window of about 30 per minute, and a sliding window never exceeds it)."""

    def __init__(
        self,
        limit: int = DISCORD_FOLLOWUPS_PER_CHANNEL,
        per: float = DISCORD_FOLLOWUP_WINDOW_SECONDS,
    ) -> None:
        self.limit = limit
        self.per = per
        self._uses: deque[float] = deque()
        self._blocked_until = 0.0

    def _trim(self, now: float) -> None:
        while self._uses and self._uses[0] <= now - self.per:
            self._uses.popleft()

    def free_at(self, now: float) -> float:
        self._trim(now)
        at = now if len(self._uses) < self.limit else self._uses[0] + self.per
        return max(at, self._blocked_until)

    def took(self, now: float) -> None:
        self._uses.append(now)

    def limited(self, now: float, retry_after: float) -> None:
        self._blocked_until = max(self._blocked_until, now + retry_after)


def _busy(arrivals: deque[float], bucket: Bucket, now: float) -> bool:
    """More arrivals in the last window than the bucket allows: pace it (a burst it can take,
    say a request's four images, goes at once)."""
    while arrivals and arrivals[0] <= now - bucket.per:
        arrivals.popleft()
    return len(arrivals) > bucket.limit


# --- the outbox --------------------------------------------------------------------------------


class Outbox:
    def __init__(
        self,
        client: discord.Client,
        routes: InteractionRoutes,
        buttons: Buttons,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        edit_max_wait: float = STATUS_EDIT_MAX_WAIT_SECONDS,
        idle_after: float = OUTBOX_IDLE_SECONDS,
        max_waiting_posts: int = OUTBOX_MAX_WAITING_POSTS,
        on_posted: Callable[[int], None] = _nothing,
        on_edit_dropped: Callable[[], None] = _nothing,
    ) -> None:
        self._client = client
        self.routes = routes
        self._buttons = buttons
        self._now = monotonic
        self._edit_max_wait = edit_max_wait
        self._idle_after = idle_after
        self._max_waiting = max_waiting_posts
        self._on_posted = on_posted  # images in each result message
        self._on_edit_dropped = on_edit_dropped
        self._lanes: dict[int, _Lane] = {}
        self._buckets: dict[tuple[int, str], Bucket] = {}
        self._followups: dict[int, SlidingWindow] = {}
        self._token_edits: dict[int, Edit] = {}  # status message id -> the edit waiting
        self._token_tasks: dict[int, asyncio.Task[None]] = {}
        self._layouts: OrderedDict[int, bool] = OrderedDict()  # message id -> several images
        # Requests a worker waits for, answered as the trace sees them: a post by its channel
        # and nonce (-> the message id), an edit by its message (-> the HTTP status).
        self._created: dict[tuple[int, str], asyncio.Future[int]] = {}
        self._answered: dict[int, asyncio.Future[int]] = {}
        self._closing = False

    # --- what callers use -----------------------------------------------------------------------

    async def room(self, channel_id: int) -> None:
        """Wait while the channel already has ``max_waiting_posts`` results waiting (so a
        saturated channel does not pile up images in memory)."""
        while (lane := self._lanes.get(channel_id)) is not None and lane.full:
            await lane.wait_for_room()

    async def post(
        self, job: Job, outgoing: Outgoing, *, reply_to: discord.MessageReference | None
    ) -> int:
        """Send the job's outcome in its channel when the channel's turn comes, alone or with
        others; returns the id of the message it went out in. Errors are Discord's
        (``HTTPException``) or the network's; a post cut short by cancellation is taken out of
        the queue."""
        if self._closing:
            raise ConnectionError("the bot is shutting down; the post stays for the next start")
        loop = asyncio.get_running_loop()
        post = Post(job, outgoing, reply_to, loop.create_future(), queued_at=self._now())
        lane = self._lane(job.channel_id, job.guild_id)
        lane.add_post(post)
        try:
            return await post.future
        except asyncio.CancelledError:
            lane.discard(post)
            raise

    def edit(self, edit: Edit) -> None:
        """Queue an edit (it returns at once; ``edit.done`` callbacks hear how it went). A status
        message whose request's interaction token is still valid is edited on the token's
        bucket, else on the channel's."""
        if self._closing and not edit.final:
            edit.finish(EditOutcome.DROPPED)
            return
        edit.queued_at = self._now()
        if self.routes.get(edit.message_id) is not None:
            self._edit_by_token(edit)
        else:
            self._lane(edit.channel_id, edit.guild_id).add_edit(edit)

    async def edit_now(self, edit: Edit) -> EditOutcome:
        """``edit``, waiting for its outcome (e.g. a button press that changes a message)."""
        done: asyncio.Future[EditOutcome] = asyncio.get_running_loop().create_future()

        def tell(outcome: EditOutcome) -> None:
            if not done.done():
                done.set_result(outcome)

        edit.done.append(tell)
        edit.final = True
        self.edit(edit)
        return await done

    def layout(self, message_id: int) -> bool | None:
        """Whether a result message the bot posted holds several images (None: not known, e.g.
        posted before a restart)."""
        return self._layouts.get(message_id)

    def remember_layout(self, message_id: int, several: bool) -> None:
        self._layouts[message_id] = several
        self._layouts.move_to_end(message_id)
        while len(self._layouts) > _LAYOUTS_KEPT:
            self._layouts.popitem(last=False)

    async def on_response(self, method: str, response: aiohttp.ClientResponse) -> None:
        """Every answer from Discord (the client's aiohttp trace, before discord.py reads it):
        the buckets' numbers, and whether a post or an edit a worker waits for was answered."""
        path, status = response.url.path, response.status
        self.learn(method, path, status, response.headers)
        found = _CHANNEL_MESSAGES.search(path)
        if found is None or status == 429 or status >= 500:
            return  # discord.py retries these: not an answer yet
        if found[2] is not None:
            answered = self._answered.get(int(found[2]))
            if method == "PATCH" and answered is not None and not answered.done():
                answered.set_result(status)
            return
        if method != "POST" or not 200 <= status < 300 or not self._created:
            return
        try:
            data = await response.json()  # read once; discord.py reads the same body
            key = (int(found[1]), str(data.get("nonce")))
            message_id = int(data["id"])
        except (aiohttp.ClientError, ValueError, KeyError, TypeError, AttributeError):
            return
        created = self._created.get(key)
        if created is not None and not created.done():
            created.set_result(message_id)

    def expect_post(self, channel_id: int, nonce: str) -> asyncio.Future[int]:
        created: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._created[(channel_id, nonce)] = created
        return created

    def expect_edit(self, message_id: int) -> asyncio.Future[int]:
        answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answered[message_id] = answered
        return answered

    def learn(self, method: str, path: str, status: int, headers: Mapping[str, str]) -> None:
        """Every answer from Discord (the client's aiohttp trace): the buckets' numbers."""
        now = self._now()
        found = _CHANNEL_MESSAGES.search(path)
        if found is not None:
            kind = _kind(method, has_message=found[2] is not None)
            if kind is not None:
                self._learn_bucket(self.bucket(int(found[1]), kind), now, status, headers)
            return
        followup = _FOLLOWUP.search(path)
        if followup is not None and method == "POST" and status == 429:
            channel_id = self.routes.channel_of_token(followup[1])
            if channel_id is not None and headers.get("X-RateLimit-Scope") == "shared":
                self._followup_window(channel_id).limited(now, _retry_after(headers))

    def bucket(self, channel_id: int, kind: str) -> Bucket:
        bucket = self._buckets.get((channel_id, kind))
        if bucket is None:
            self._forget_stale_buckets()
            bucket = self._buckets[(channel_id, kind)] = Bucket()
        return bucket

    @property
    def lanes(self) -> int:
        """Channels with a worker now."""
        return len(self._lanes)

    async def close(self) -> None:
        """Shutdown: send what is waiting (results and final edits; intermediate edits are
        dropped), then stop. The caller bounds the wait; what is cut short is cancelled (a
        result then stays in the store and is posted at the next start)."""
        self._closing = True
        for lane in self._lanes.values():
            lane.wake()
        tasks = [*(lane.task for lane in self._lanes.values()), *self._token_tasks.values()]
        try:
            while tasks:
                await asyncio.gather(*tasks)
                tasks = [
                    *(lane.task for lane in self._lanes.values()),
                    *self._token_tasks.values(),
                ]
        except asyncio.CancelledError:
            everything = [
                *(lane.task for lane in self._lanes.values()),
                *self._token_tasks.values(),
            ]
            for task in everything:
                task.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
            raise

    # --- inside ---------------------------------------------------------------------------------

    def _lane(self, channel_id: int, guild_id: int | None) -> _Lane:
        lane = self._lanes.get(channel_id)
        if lane is None:
            lane = self._lanes[channel_id] = _Lane(self, channel_id, guild_id)
        return lane

    def _lane_stopped(self, lane: _Lane) -> None:
        if self._lanes.get(lane.channel_id) is lane:
            del self._lanes[lane.channel_id]

    def _followup_window(self, channel_id: int) -> SlidingWindow:
        window = self._followups.get(channel_id)
        if window is None:
            window = self._followups[channel_id] = SlidingWindow()
        return window

    def _forget_stale_buckets(self) -> None:
        if len(self._buckets) < 1024:
            return
        cutoff = self._now() - 600
        for key in [k for k, b in self._buckets.items() if b.touched_at < cutoff]:
            if key[0] not in self._lanes:
                del self._buckets[key]

    @staticmethod
    def _learn_bucket(bucket: Bucket, now: float, status: int, headers: Mapping[str, str]) -> None:
        if status == 429:
            if headers.get("X-RateLimit-Scope") != "global":
                bucket.limited(now, _retry_after(headers))
            return
        try:
            limit = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
            reset_after = float(headers["X-RateLimit-Reset-After"])
        except (KeyError, ValueError):
            return
        bucket.learn(now, limit=limit, remaining=remaining, reset_after=reset_after)

    # --- edits on the interaction's bucket --------------------------------------------------------

    def _edit_by_token(self, edit: Edit) -> None:
        waiting = self._token_edits.get(edit.message_id)
        self._token_edits[edit.message_id] = edit.merged_into(waiting) if waiting else edit
        if edit.message_id not in self._token_tasks:
            self._token_tasks[edit.message_id] = asyncio.create_task(
                self._token_worker(edit.message_id), name="imagine-outbox-token-edit"
            )

    async def _token_worker(self, message_id: int) -> None:
        """One edit in flight per status message; a newer one waits and replaces."""
        try:
            while (edit := self._token_edits.pop(message_id, None)) is not None:
                route = self.routes.get(message_id)
                if route is None:  # expired meanwhile: the channel's bucket
                    self._lane(edit.channel_id, edit.guild_id).add_edit(edit)
                    continue
                await self._send_by_token(route, edit)
        finally:
            self._token_tasks.pop(message_id, None)

    async def _send_by_token(self, route: Route, edit: Edit) -> None:
        try:
            await route.interaction.edit_original_response(**edit.fields)
        except discord.NotFound as err:
            if err.code == 10008:  # the message was deleted
                edit.finish(EditOutcome.GONE)
                return
            self._token_failed(edit, err)
        except (discord.HTTPException, OSError, TimeoutError) as err:
            self._token_failed(edit, err)
        else:
            edit.finish(EditOutcome.SENT)

    def _token_failed(self, edit: Edit, err: Exception) -> None:
        """Discord refused the token (expired early, unknown webhook): the bot's own route."""
        log.info("interaction token of status %s refused (%r); editing it as the bot instead",
                 edit.message_id, err)  # fmt: skip
        self.routes.forget(edit.message_id)
        self._lane(edit.channel_id, edit.guild_id).add_edit(edit)


def _kind(method: str, *, has_message: bool) -> str | None:
    if method == "POST" and not has_message:
        return CREATE
    if method == "PATCH" and has_message:
        return EDIT
    return None


def _retry_after(headers: Mapping[str, str]) -> float:
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        with contextlib.suppress(KeyError, ValueError):
            return max(0.0, float(headers[name]))
    return DISCORD_CHANNEL_BUCKET_SECONDS


# --- one channel's worker -------------------------------------------------------------------------


class _Lane:
    """The queue and worker of one channel."""

    def __init__(self, outbox: Outbox, channel_id: int, guild_id: int | None) -> None:
        self._outbox = outbox
        self.channel_id = channel_id
        self._channel = outbox._client.get_partial_messageable(channel_id, guild_id=guild_id)
        self.posts: deque[Post] = deque()
        self.edits: dict[int, Edit] = {}  # message id -> the newest edit, oldest first
        self._create = outbox.bucket(channel_id, CREATE)
        self._edit = outbox.bucket(channel_id, EDIT)
        self._followups = outbox._followup_window(channel_id)
        self._post_arrivals: deque[float] = deque()
        self._waited = False  # results are waiting for the create bucket (it was full)
        self._edit_arrivals: deque[float] = deque()
        self._followups_in_flight: set[asyncio.Task[None]] = set()
        # Every request task of this worker (some answered but still inside discord.py,
        # waiting out the bucket's window), so none outlives it.
        self._requests: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"imagine-outbox-{channel_id}")

    # --- from the outbox ----------------------------------------------------------------------

    @property
    def full(self) -> bool:
        return len(self.posts) >= self._outbox._max_waiting

    async def wait_for_room(self) -> None:
        self._room.clear()
        await self._room.wait()

    def wake(self) -> None:
        self._wake.set()

    def add_post(self, post: Post) -> None:
        self.posts.append(post)
        self._post_arrivals.append(post.queued_at)
        self.wake()

    def discard(self, post: Post) -> None:
        with contextlib.suppress(ValueError):
            self.posts.remove(post)
        self._room.set()

    def add_edit(self, edit: Edit) -> None:
        waiting = self.edits.pop(edit.message_id, None)
        self.edits[edit.message_id] = edit.merged_into(waiting) if waiting else edit
        self._edit_arrivals.append(edit.queued_at)
        self.wake()

    # --- the worker -----------------------------------------------------------------------------

    async def _run(self) -> None:
        outbox = self._outbox
        try:
            while True:
                self._wake.clear()
                now = outbox._now()
                self._drop_stale_edits(now)
                wake_at = math.inf
                if self.posts:
                    # Shutting down: as fast as the bucket allows, not spread.
                    busy = not outbox._closing and _busy(self._post_arrivals, self._create, now)
                    at = self._create.ready_at(now, busy=busy)
                    if at <= now:
                        # Together when they waited for the bucket, or else would.
                        together = busy or self._waited or len(self.posts) > self._create.left(now)
                        await self._send_posts(together=together)
                        self._waited = self._waited and bool(self.posts)
                        continue
                    self._waited = True
                    wake_at = min(wake_at, at)
                    if self._behind(now, at):
                        wake_at = min(wake_at, self._start_followups(now))
                if self.edits:
                    busy = not outbox._closing and _busy(self._edit_arrivals, self._edit, now)
                    at = self._edit.ready_at(now, busy=busy)
                    if at <= now:
                        await self._send_edit()
                        continue
                    wake_at = min(wake_at, at, self._next_edit_expiry())
                if self.posts or self.edits:
                    await self._sleep(wake_at - now)
                    continue
                if self._followups_in_flight:
                    await self._sleep(math.inf)
                    continue
                if outbox._closing:
                    return
                await self._sleep(outbox._idle_after)
                if not (self.posts or self.edits or self._followups_in_flight):
                    return  # idle: a new post or edit starts a new worker
        finally:
            outbox._lane_stopped(self)
            self._room.set()
            for post in self.posts:
                if not post.future.done():
                    post.future.cancel()
            for edit in self.edits.values():
                edit.finish(EditOutcome.DROPPED)
            # Cut short (shutdown): what is left is only discord.py waiting for a bucket, or a
            # post whose delivery the next start resumes (after looking in the history).
            children = [*self._followups_in_flight, *self._requests]
            for task in children:
                task.cancel()
            await asyncio.gather(*children, return_exceptions=True)

    def _request(self, work: Coroutine[Any, Any, _T], name: str) -> asyncio.Task[_T]:
        task = asyncio.create_task(work, name=name)
        self._requests.add(task)
        task.add_done_callback(self._request_done)
        return task

    def _request_done(self, task: asyncio.Task[Any]) -> None:
        self._requests.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a request ended with %r", task.exception())  # handled where awaited

    async def _first_answer(
        self, task: asyncio.Task[Any], answer: asyncio.Future[int]
    ) -> int | None:
        """The answer (as the trace saw it) or the task's end, whichever comes first; if the
        answer came first, the task finishes (discord.py's wait) in the background."""
        await asyncio.wait({task, answer}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done() and not task.done():
            return answer.result()
        return None

    async def _sleep(self, seconds: float) -> None:
        timeout = None if math.isinf(seconds) else max(0.0, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    # --- results --------------------------------------------------------------------------------

    def _take_batch(self, *, together: bool) -> list[Post]:
        """The oldest post, and (``together``) the waiting ones that can travel with it (same
        kind, within Discord's 10 attachments, 25 MiB per request and 2000 characters)."""
        head = self.posts[0]
        batch = [head]
        if together and not head.alone:
            size = head.size
            for post in list(self.posts)[1:]:
                if len(batch) >= DISCORD_MAX_ATTACHMENTS:
                    break
                if post.alone or post.outgoing.is_image != head.outgoing.is_image:
                    continue
                if head.outgoing.is_image and size + post.size > _BATCH_BYTES:
                    continue
                if not head.outgoing.is_image and not fits_text([*batch, post]):
                    continue
                batch.append(post)
                size += post.size
        for post in batch:
            self.posts.remove(post)
        self._room.set()
        return batch

    async def _send_posts(self, *, together: bool) -> None:
        batch = [p for p in self._take_batch(together=together) if not p.future.done()]
        if not batch:
            return
        self._create.took(self._outbox._now())
        nonce = batch_nonce(p.job.generation_id for p in batch)
        created = self._outbox.expect_post(self.channel_id, nonce)
        task = self._request(self._send_batch(batch, nonce), "imagine-outbox-post")
        try:
            answered = await self._first_answer(task, created)
        except asyncio.CancelledError:
            _cancel(batch)
            raise
        finally:
            self._outbox._created.pop((self.channel_id, nonce), None)
        if answered is not None:
            self._posted(batch, answered)
            return
        try:
            message = task.result()
        except discord.HTTPException as err:
            if len(batch) > 1 and _refused_together(err):
                # Something in the combined message was refused: each goes by itself.
                log.warning("a message of %d results was refused (%s); sending each alone",
                            len(batch), err.text or err.status)  # fmt: skip
                for post in reversed(batch):
                    post.alone = True
                    self.posts.appendleft(post)
                return
            _fail(batch, err)
        except (OSError, TimeoutError) as err:
            _fail(batch, err)
        else:
            self._posted(batch, message.id)

    async def _send_batch(self, batch: list[Post], nonce: str) -> discord.Message:
        if len(batch) == 1:
            post = batch[0]
            return await send_one(self._channel, post.job, post.outgoing, post.reply_to)
        combined = combined_message(batch, self._outbox._buttons)
        extras: dict[str, Any] = {}
        if combined.embeds:
            extras["embeds"] = combined.embeds
        if combined.files:
            extras["files"] = combined.files
        if combined.view is not None:
            extras["view"] = combined.view
        return await self._channel.send(
            content=combined.content, allowed_mentions=combined.mentions, nonce=nonce, **extras
        )

    def _posted(self, batch: list[Post], message_id: int) -> None:
        images = sum(1 for p in batch if p.outgoing.is_image)
        if images:
            self._outbox.remember_layout(message_id, len(batch) > 1)
            self._outbox._on_posted(images)
        for post in batch:
            if not post.future.done():
                post.future.set_result(message_id)

    # --- results as follow-ups of their interaction -----------------------------------------------

    def _behind(self, now: float, channel_ready_at: float) -> bool:
        """The channel's own bucket is not keeping up: its next message is more than two of
        its paced turns away (its window was spent), or more results wait than one message
        carries. Then follow-ups help; otherwise the next message takes them all."""
        gap = self._create.per / self._create.limit
        return channel_ready_at - now > 2 * gap or len(self.posts) > DISCORD_MAX_ATTACHMENTS

    def _start_followups(self, now: float) -> float:
        """While the channel's bucket is full: send the results of requests whose interaction
        token is valid as follow-ups (one request's results each). Returns when to look again."""
        routes = self._outbox.routes
        while len(self._followups_in_flight) < OUTBOX_FOLLOWUPS_IN_FLIGHT:
            free_at = self._followups.free_at(now)
            if free_at > now:
                return free_at if any(p.followup for p in self.posts) else math.inf
            chosen = next(
                (
                    (p, route)
                    for p in self.posts
                    if p.followup and (route := routes.get(p.job.status_message_id)) is not None
                ),
                None,
            )
            if chosen is None:
                return math.inf
            head, route = chosen
            group = [
                p for p in self.posts
                if p.followup and p.job.status_message_id == head.job.status_message_id
                and p.outgoing.is_image == head.outgoing.is_image
            ][:DISCORD_MAX_ATTACHMENTS]  # fmt: skip
            for post in group:
                self.posts.remove(post)
            self._room.set()
            self._followups.took(now)
            task = asyncio.create_task(
                self._send_followup(group, route), name="imagine-outbox-followup"
            )
            self._followups_in_flight.add(task)
            task.add_done_callback(self._followup_done)
        return math.inf

    def _followup_done(self, task: asyncio.Task[None]) -> None:
        self._followups_in_flight.discard(task)
        self.wake()

    async def _send_followup(self, group: list[Post], route: Route) -> None:
        group = [p for p in group if not p.future.done()]
        if not group:
            return
        try:
            message = await _followup(route.interaction, group, self._outbox._buttons)
        except asyncio.CancelledError:
            _cancel(group)
            raise
        except discord.HTTPException as err:
            if err.status >= 500:
                _fail(group, err)  # Discord may have made it: the history check decides
                return
            # Refused before anything was posted: the bot's own route, without the token.
            log.info("follow-up refused (%s); posting as the bot", err.text or err.status)
            self._outbox.routes.forget(group[0].job.status_message_id or 0)
            for post in reversed(group):
                post.followup = False
                self.posts.appendleft(post)
            self.wake()
        except (OSError, TimeoutError) as err:
            _fail(group, err)
        else:
            self._posted(group, message.id)

    # --- edits ----------------------------------------------------------------------------------

    def _next_edit(self) -> Edit:
        """The oldest final edit (a request's last word), else the oldest edit."""
        message_id = next((m for m, e in self.edits.items() if e.final), None)
        if message_id is None:
            message_id = next(iter(self.edits))
        return self.edits.pop(message_id)

    def _drop_stale_edits(self, now: float) -> None:
        wait = 0.0 if self._outbox._closing else self._outbox._edit_max_wait
        stale = [m for m, e in self.edits.items() if not e.final and now - e.queued_at >= wait]
        for message_id in stale:
            self.edits.pop(message_id).finish(EditOutcome.DROPPED)
            self._outbox._on_edit_dropped()

    def _next_edit_expiry(self) -> float:
        return min(
            (e.queued_at + self._outbox._edit_max_wait for e in self.edits.values() if not e.final),
            default=math.inf,
        )

    async def _send_edit(self) -> None:
        edit = self._next_edit()
        self._edit.took(self._outbox._now())
        answer = self._outbox.expect_edit(edit.message_id)
        task = self._request(self._edit_request(edit), "imagine-outbox-edit")
        try:
            status = await self._first_answer(task, answer)
        finally:
            if self._outbox._answered.get(edit.message_id) is answer:
                del self._outbox._answered[edit.message_id]
        if status is not None:
            if 200 <= status < 300:
                edit.finish(EditOutcome.SENT)
            elif status == 404:
                edit.finish(EditOutcome.GONE)
            else:
                edit.finish(EditOutcome.FAILED)  # the task logs why when it ends

    async def _edit_request(self, edit: Edit) -> None:
        try:
            await self._channel.get_partial_message(edit.message_id).edit(**edit.fields)
        except discord.NotFound:
            edit.finish(EditOutcome.GONE)
        except discord.HTTPException as err:
            log.info("message %s not edited: %s", edit.message_id, err.text or err.status)
            edit.finish(EditOutcome.FAILED)
        except (OSError, TimeoutError) as err:
            log.info("message %s not edited: %r", edit.message_id, err)
            edit.finish(EditOutcome.FAILED)
        else:
            edit.finish(EditOutcome.SENT)


# --- sending -----------------------------------------------------------------------------------


async def send_one(
    target: discord.abc.Messageable,
    job: Job,
    outgoing: Outgoing,
    reply_to: discord.MessageReference | None,
) -> discord.Message:
    """One job's post, as the bot always sent it: mentioning only its requester, with a nonce
    (Discord drops a second message with the same nonce: a retried post is not doubled)."""
    # discord.py's typed overloads take each of these only when present.
    extras: dict[str, Any] = {}
    if outgoing.embed is not None:
        extras["embed"] = outgoing.embed
    if (file := outgoing.file()) is not None:
        extras["file"] = file
    if reply_to is not None:
        extras["reference"] = reply_to
    if outgoing.view is not None:
        extras["view"] = outgoing.view
    return await target.send(
        content=outgoing.content,
        allowed_mentions=render.mention_only(job.requester_id),
        nonce=batch_nonce([job.generation_id]),
        **extras,
    )


async def _followup(
    interaction: discord.Interaction, group: list[Post], buttons: Buttons
) -> discord.Message:
    """A request's results as a follow-up of its interaction: a new message, so its requester
    is notified (the mention), on the interaction's own bucket."""
    extras: dict[str, Any] = {}
    if len(group) == 1:
        outgoing = group[0].outgoing
        content, mentions = outgoing.content, render.mention_only(group[0].job.requester_id)
        if outgoing.embed is not None:
            extras["embed"] = outgoing.embed
        if (file := outgoing.file()) is not None:
            extras["file"] = file
        if outgoing.view is not None:
            extras["view"] = outgoing.view
    else:
        combined = combined_message(group, buttons)
        content, mentions = combined.content, combined.mentions
        if combined.embeds:
            extras["embeds"] = combined.embeds
        if combined.files:
            extras["files"] = combined.files
        if combined.view is not None:
            extras["view"] = combined.view
    return await interaction.followup.send(
        content=content, allowed_mentions=mentions, wait=True, **extras
    )


def _cancel(batch: list[Post]) -> None:
    for post in batch:
        post.future.cancel()  # its delivery resumes at the next start


def _fail(batch: list[Post], err: BaseException) -> None:
    for post in batch:
        if not post.future.done():
            post.future.set_exception(err)


def _refused_together(err: discord.HTTPException) -> bool:
    """A 4xx that is about the message (too large, a bad form), not the channel: sending its
    posts one by one may get them through."""
    return 400 <= err.status < 500 and err.status != 429 and not channel_refused(err)
