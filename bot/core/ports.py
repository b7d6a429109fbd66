"""What the core needs from the outside, as protocols: the store, delivery and reporting.

The store (``bot.store``) and the Discord side (``bot.discord_app``) implement these; the
composition root hands the implementations in. The core never imports either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Literal, Protocol

from bot.core.types import (
    GalleryPrefs,
    GuildSettings,
    ImagineRequest,
    InterruptedEnqueue,
    Job,
    LinePlace,
    LineSnapshot,
    NewJob,
    NewShare,
    Order,
    Share,
    Usage,
    Vote,
    Waiting,
    WebShare,
    WebSort,
    WeeklyPost,
)

# --- the store ----------------------------------------------------------------------------------


class StoreUnavailable(Exception):
    """The store's database cannot be reached right now (down, restarting, the network): a
    Store raises it instead of its driver's error, so every layer can tell the person why."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or "the database cannot be reached")
        self.detail = detail  # the driver's words, for the log (never a password)


class JobRepository(Protocol):
    """Every generation Oxen accepted, tracked until its outcome reaches Discord."""

    async def add(self, jobs: Iterable[NewJob]) -> None: ...

    async def get(self, generation_id: str) -> Job | None: ...

    async def open(self) -> list[Job]:
        """Jobs whose outcome has not reached Discord yet, oldest first."""
        ...

    async def of_request(self, request_id: str) -> list[Job]:
        """Every generation of one request, in batch order."""
        ...

    async def queued_in_guild(self, guild_id: int | None) -> list[Job]:
        """This server's jobs that Oxen has not started yet, oldest first."""
        ...

    async def queue_position(self, request_id: str) -> int | None:
        """1 + the server's not-yet-started generations asked before this request; None once
        the request has started."""
        ...

    async def pending_for_user(self, guild_id: int | None, requester_id: int) -> list[Job]: ...

    async def set_started(self, started_at: Mapping[str, float]) -> None: ...

    async def open_in_request(self, request_id: str) -> int:
        """How many of the request's generations are still unfinished."""
        ...

    async def in_flight(self) -> int:
        """Generations Oxen is (as far as we know) still working on, for the whole bot."""
        ...

    async def attach_status_message(self, request_id: str, message_id: int) -> None:
        """The request's status message, whether it is at Oxen, in line or being sent."""
        ...

    async def record_outcome(
        self, generation_id: str, outcome: str, *, result_url: str | None, error: str | None
    ) -> None:
        """Oxen's terminal state and the intent to deliver it (recorded before posting)."""
        ...

    async def mark_delivered(self, generation_id: str, message_id: int | None) -> None: ...

    async def mark_undeliverable(self, generation_id: str, reason: str) -> None: ...

    async def record_attempt(self, generation_id: str) -> int:
        """Count a failed attempt to finish this job; returns the new count."""
        ...

    async def usage(self, guild_id: int | None, requester_id: int, since: float) -> Usage:
        """The requester's images at Oxen, waiting in line, and asked for since ``since``
        (waiting ones included), and the server's images since then."""
        ...

    async def prune(self, finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` finished jobs whose outcome reached Discord before
        ``finished_before``; returns how many went."""
        ...

    # Leases: which process works on a job now (checks it at Oxen, or delivers it). Several
    # processes may share the store; a lease decides which one does, and one that dies loses
    # its leases when they expire. Delivered and undeliverable jobs hold none.

    async def claim(self, generation_id: str, owner: str, lease_seconds: float) -> Job | None:
        """Lease an open job to ``owner`` for ``lease_seconds``, as a compare-and-set: only if
        nobody holds it, ``owner`` already does, or the holder's lease expired. Returns the job
        as it is now, or None (unknown, finished, or another process works on it)."""
        ...

    async def renew(self, owner: str, lease_seconds: float) -> set[str]:
        """Extend every lease ``owner`` holds to ``lease_seconds`` from now; returns the ids
        of the jobs it still holds (a job missing is one another process took over)."""
        ...

    async def release(self, generation_id: str, owner: str) -> None:
        """Give the job's lease up, if ``owner`` holds it."""
        ...

    async def release_all(self, owner_prefix: str) -> int:
        """Give up every lease held by an owner whose id starts with ``owner_prefix`` (an
        earlier run of this process, which died), so its work is taken at once; returns how
        many."""
        ...


class IntentRepository(Protocol):
    """Prompts on their way to Oxen: a row left behind by a crash means the outcome is unknown."""

    async def begin(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        requester_id: int,
        prompt: str,
        count: int = 1,
        owner: str | None = None,
        lease_seconds: float = 0.0,
    ) -> int:
        """Record a prompt of ``count`` images about to be sent (they count as in flight from
        now), leased to ``owner`` while it sends; None: nobody's, interrupted at once."""
        ...

    async def end(self, intent_id: int, jobs: Iterable[NewJob] = ()) -> None:
        """Outcome known: store the accepted jobs (if any) and drop the intent, atomically."""
        ...

    async def interrupted(self) -> list[InterruptedEnqueue]:
        """Intents nobody is sending: no owner, or its lease expired (it died)."""
        ...

    async def claim_interrupted(self, owner: str, lease_seconds: float) -> list[InterruptedEnqueue]:
        """Lease every interrupted intent to ``owner`` (to explain them), atomically: two
        processes never get the same one."""
        ...

    async def renew(self, owner: str, lease_seconds: float) -> None:
        """Extend the lease of every intent ``owner`` holds."""
        ...

    async def release_all(self, owner_prefix: str) -> int:
        """Every intent of an owner whose id starts with ``owner_prefix`` is interrupted now."""
        ...

    async def for_request(self, request_id: str) -> InterruptedEnqueue | None: ...

    async def forget(self, intent_id: int) -> None: ...


class LineRepository(Protocol):
    """The bot's own waiting line, first come first served, kept across restarts."""

    async def add(self, order: Order, owner_limit: int = 0) -> Waiting: ...

    async def in_order(self, limit: int = -1) -> list[Waiting]:
        """Oldest first (the order requests joined, not the order they will go)."""
        ...

    async def snapshot(self, *, heads_only: bool = False) -> LineSnapshot:
        """The line with each owner's images at Oxen and when each server and owner last had a
        request sent; ``heads_only``: each owner's oldest waiting request only."""
        ...

    async def get(self, line_id: int) -> Waiting | None: ...

    async def for_user(self, guild_id: int | None, requester_id: int) -> list[Waiting]: ...

    async def position(self, line_id: int) -> int: ...

    async def count(self) -> int: ...

    async def take(
        self, waiting: Waiting, owner: str | None = None, lease_seconds: float = 0.0
    ) -> int | None:
        """Move a request from the line to an enqueue intent (leased to ``owner``, as
        IntentRepository.begin), atomically; None if it already left the line."""
        ...

    async def put_back(self, waiting: Waiting, intent_id: int) -> None:
        """Oxen did not take it: back to its old place, and the intent dropped, atomically."""
        ...

    async def remove(self, line_id: int) -> bool: ...


class ServerSettingsRepository(Protocol):
    async def get(self, guild_id: int) -> GuildSettings: ...

    async def update(
        self, guild_id: int, change: Callable[[GuildSettings], GuildSettings]
    ) -> tuple[GuildSettings, GuildSettings]:
        """Read, change and save one server's settings atomically; returns (before, after)."""
        ...


class MetaRepository(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


class GalleryRepository(Protocol):
    """The server gallery: shared images, votes, members' choices, search, top lists, remix
    lineage and the weekly post. Lists leave out hidden posts, and NSFW ones unless asked."""

    async def add(self, share: NewShare, thumbnail: bytes | None = None) -> bool:
        """Record a gallery post (searchable only if its prompt is shown); False, and nothing
        written, if the image already has one."""
        ...

    async def get(self, generation_id: str) -> Share | None: ...

    async def by_post(self, post_id: int) -> Share | None: ...

    async def remove(self, generation_id: str) -> Share | None:
        """Withdrawn: out of every list and the search; returns what it was."""
        ...

    async def set_hidden(self, generation_id: str, hidden: bool) -> Share | None: ...

    async def toggle_vote(self, generation_id: str, voter_id: int, *, guild_id: int) -> Vote:
        """Add the member's vote, or take it back if it was there, atomically."""
        ...

    async def votes(self, generation_id: str) -> int: ...

    async def prefs(self, guild_id: int, user_id: int) -> GalleryPrefs: ...

    async def update_prefs(
        self, guild_id: int, user_id: int, change: Callable[[GalleryPrefs], GalleryPrefs]
    ) -> tuple[GalleryPrefs, GalleryPrefs]:
        """Read, change and save a member's choices atomically; returns (before, after)."""
        ...

    async def top(
        self,
        guild_id: int,
        *,
        since: float | None,
        until: float | None = None,
        nsfw: bool,
        limit: int,
    ) -> list[Share]:
        """Most votes first (earlier shares first on a tie), shared in [since, until)."""
        ...

    async def search(
        self, guild_id: int, terms: Sequence[str], *, nsfw: bool, limit: int
    ) -> list[Share]:
        """Shares whose title or shown prompt has every term (the last one as a prefix)."""
        ...

    async def by_creator(
        self, guild_id: int, creator_id: int, *, nsfw: bool, limit: int
    ) -> list[Share]:
        """Newest first."""
        ...

    async def thumbnails(self, generation_ids: Sequence[str]) -> dict[str, bytes]: ...

    async def lineage(self, generation_id: str, depth: int) -> list[Job]:
        """The images this one remixes, its parent first, as far as the store still has them."""
        ...

    async def remix_count(self, generation_id: str) -> int:
        """How often others remixed this image."""
        ...

    async def remixes_of(self, guild_id: int, creator_id: int) -> int:
        """How often others remixed this member's images on this server."""
        ...

    async def weekly(self) -> list[WeeklyPost]:
        """Every server's latest top-of-the-week record."""
        ...

    async def record_weekly(self, guild_id: int, monday: float, post_id: int | None) -> None: ...


class WebGalleryRepository(Protocol):
    """The web gallery: each server's secret link, and the shares it shows (listed, not NSFW,
    with the bot's own copies of the image), a page at a time."""

    async def link(self, guild_id: int) -> str | None:
        """The server's link token, or None while its web gallery is off."""
        ...

    async def set_link(
        self, guild_id: int, token: str | None, *, digest: str | None, title: str
    ) -> None:
        """Replace the server's link (the old one stops working at once), or remove it (None).
        ``digest``: the token's SHA-256, which ``guild_for`` looks up."""
        ...

    async def guild_for(self, digest: str) -> tuple[int, str] | None:
        """The server (and its name as last seen) whose link token has this digest."""
        ...

    async def listing(
        self,
        guild_id: int,
        *,
        sort: WebSort,
        since: float | None,
        terms: Sequence[str],
        limit: int,
        offset: int,
    ) -> list[Share]:
        """Shares the web gallery shows, shared since ``since``, whose title or shown prompt
        has every term (the last one as a prefix; no terms: all), in ``sort`` order."""
        ...

    async def shown(self, guild_id: int, generation_ids: Sequence[str]) -> dict[str, WebShare]:
        """Those of these images the web gallery shows (any others are left out)."""
        ...

    async def mark_copied(self, generation_id: str, full_extension: str | None) -> bool:
        """The share's own copies are stored (or, None, gone); False if it has no share."""
        ...


class ImageCopies(Protocol):
    """The bot's own copies of shared images (files, never a Discord link): a small WebP
    thumbnail and the full image, named by generation id, written atomically."""

    async def save(
        self, generation_id: str, *, thumbnail: bytes, full: bytes, full_extension: str
    ) -> None: ...

    async def delete(self, generation_id: str) -> None:
        """Both files gone (nothing to delete is fine)."""
        ...

    async def find(
        self, generation_id: str, which: Literal["thumb", "full"], full_extension: str = ""
    ) -> Path | None:
        """The stored file, if it is there."""
        ...


class GatewayRepository(Protocol):
    """What bot processes sharing the store coordinate about Discord's gateway."""

    async def identify_turn(self, bucket: int, spacing: float) -> None:
        """Return when this process may IDENTIFY in rate-limit ``bucket`` (shard id %
        max_concurrency), and record that it does: at most one IDENTIFY per bucket per
        ``spacing`` seconds across every process on this database. Never holds a lock while
        it waits."""
        ...


class Store(Protocol):
    @property
    def jobs(self) -> JobRepository: ...

    @property
    def intents(self) -> IntentRepository: ...

    @property
    def line(self) -> LineRepository: ...

    @property
    def servers(self) -> ServerSettingsRepository: ...

    @property
    def meta(self) -> MetaRepository: ...

    @property
    def gallery(self) -> GalleryRepository: ...

    @property
    def web_gallery(self) -> WebGalleryRepository: ...

    @property
    def gateway(self) -> GatewayRepository: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything awaited inside commits together or not at all."""
        ...

    def locked(self, *keys: str) -> AbstractAsyncContextManager[None]:
        """A transaction that holds a lock on each of ``keys`` until it ends, for every
        process on this database: a read-check-write inside it (count a person's images, then
        record the new ones) cannot interleave with another's on the same key. Keep it short:
        no network call inside."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot answer a query."""
        ...

    async def close(self) -> None: ...


# --- delivery and reporting (implemented by the Discord side) -----------------------------------


class DeliveryFailed(Exception):
    """Neither the channel nor the requester's DMs accepted the message."""


class Deliverer(Protocol):
    async def deliver(self, job: Job) -> int | None:
        """Post the job's outcome; return the message id. Raises DeliveryFailed when nowhere
        takes it; other errors are transient (the watcher retries)."""
        ...

    async def prepare(self, job: Job) -> Callable[[], Awaitable[int | None]]:
        """``deliver`` in two steps: compose the post (download, re-encode) now; the call
        returned sends it when its channel's turn comes (and raises as ``deliver`` does)."""
        ...

    async def find_existing(self, job: Job) -> int | None:
        """The id of a post made for the job before a crash, if any."""
        ...

    async def explain_interrupted(self, enqueue: InterruptedEnqueue) -> None: ...

    async def explain_not_started(self, waiting: Waiting, reason: str) -> None: ...


class RequestReporter(Protocol):
    """Hears about a request's progress and end (the status message, the audit channel)."""

    async def refresh(self, pending: Iterable[Job]) -> None:
        """Open requests may have moved (queue position, started, some images posted)."""
        ...

    async def finish(self, job: Job) -> None:
        """Every generation of the job's request has been posted or explained."""
        ...

    async def cancelled(self, request: Job | Waiting, by_user_id: int, count: int) -> None:
        """Someone pressed Cancel (on a request at Oxen or still in the waiting line)."""
        ...

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        """A request from the waiting line was refused by Oxen: it will never start."""
        ...

    async def interrupted(self, enqueue: InterruptedEnqueue) -> None:
        """The bot restarted while sending this request to Oxen: its outcome is unknown."""
        ...

    async def line_moved(self, places: Sequence[LinePlace]) -> None:
        """Where every request waiting in the bot's line stands now."""
        ...

    async def refused(self, request: ImagineRequest, rule: str) -> None:
        """A server rule refused the request before anything was queued (must not delay the
        refusal: post in the background)."""
        ...


class WeeklyPoster(Protocol):
    """Posts a server's top of the week in its gallery (the Discord side)."""

    async def post_weekly(
        self,
        guild_id: int,
        gallery_channel_id: int,
        shares: Sequence[Share],
        monday: float,
        previous_post_id: int | None,
    ) -> int | None:
        """Post and pin the week's best (unpinning last week's); returns the post's id, or None
        when it could not be posted (logged)."""
        ...
