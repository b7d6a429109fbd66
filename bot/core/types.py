"""The types every layer shares: jobs, requests and where they came from, server settings.

Frozen dataclasses, no I/O. The store returns them, the core works on them, the Discord side
renders them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

# --- where a request came from -------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Who asked, where the result goes, and what the place allows."""

    guild_id: int | None  # None: a DM with the bot
    channel_id: int
    requester_id: int
    upload_limit: int | None = None  # the channel's attachment size limit, when known
    role_ids: tuple[int, ...] = ()  # the requester's roles here (exempt roles skip limits)
    channel_nsfw: bool = False  # the channel is age-restricted


@dataclass(frozen=True)
class ImagineRequest:
    """What someone asked for: a prompt and its options, from an origin."""

    prompt: str
    origin: Origin
    model: str | None = None  # None: the server default (the edit default when editing)
    count: int = 1
    aspect_ratio: str | None = None
    seed: int | None = None  # None: a random seed where the model takes one
    steps: int | None = None
    negative_prompt: str | None = None
    input_image: str | None = None  # a public URL of the image to edit
    input_is_upload: bool = False  # the image to edit is someone's own upload, not a bot result
    parent_id: str | None = None  # the image this one remixes (Reroll, Vary, Edit): its lineage

    @property
    def guild_id(self) -> int | None:
        return self.origin.guild_id

    @property
    def channel_id(self) -> int:
        return self.origin.channel_id

    @property
    def requester_id(self) -> int:
        return self.origin.requester_id

    @classmethod
    def again(cls, job: Job, origin: Origin, *, prompt: str | None = None) -> ImagineRequest:
        """The same options as an earlier image (one image, a new seed), for someone else maybe:
        Reroll and Vary. The image an earlier edit started from may have been someone's upload:
        treated as one, so the server's upload rule cannot be sidestepped by a reroll."""
        params = job.params
        input_image = _first(params.get("input_image"))
        return cls(
            prompt=prompt if prompt is not None else job.prompt,
            origin=origin,
            model=job.model,
            aspect_ratio=_str(params.get("aspect_ratio")),
            steps=_int(params.get("num_inference_steps", params.get("steps"))),
            negative_prompt=_str(params.get("negative_prompt")),
            input_image=input_image,
            input_is_upload=input_image is not None,
            parent_id=job.generation_id,
        )


# --- a checked request, and the bot's waiting line -----------------------------------------------


@dataclass(frozen=True)
class Order:
    """A checked request, ready for Oxen: sent at once, or kept in the waiting line until the
    bot's cap on generations in flight (MAX_GENERATIONS_IN_FLIGHT) leaves room."""

    guild_id: int | None
    channel_id: int
    requester_id: int
    prompt: str
    model: str
    params: dict[str, Any]
    count: int = 1
    upload_limit: int | None = None
    parent_id: str | None = None  # the image this one remixes, if any


LINE_PREFIX = "line-"  # request ids of requests that waited in line: line-<waiting id>


@dataclass(frozen=True)
class Waiting:
    """A request in the bot's own waiting line (kept across restarts). It waits for its owner's
    own images to finish (the per-person limit), for room under the bot's cap, or both."""

    id: int
    order: Order
    status_message_id: int | None
    created_at: float
    owner_limit: int = 0  # the owner's images-at-once limit when asked; 0: none (exempt)

    @property
    def request_id(self) -> str:
        return f"{LINE_PREFIX}{self.id}"

    @property
    def guild_id(self) -> int | None:
        return self.order.guild_id

    @property
    def channel_id(self) -> int:
        return self.order.channel_id

    @property
    def requester_id(self) -> int:
        return self.order.requester_id

    @property
    def prompt(self) -> str:
        return self.order.prompt


@dataclass(frozen=True)
class LinePlace:
    """Where a waiting request stands, as its status message tells it."""

    waiting: Waiting
    own_place: int  # 1-based, among its owner's waiting requests (their own order)
    own_total: int
    owner_in_flight: int  # the owner's images at Oxen now
    waits_for_own: bool  # True: for one of its owner's images to finish; False: for room
    # under the bot's cap, taking its turn across servers and people
    line_place: int | None = None  # its turn among those waiting for room, once counted


Owner = tuple[int | None, int]  # (guild id, requester id): a person, per server (DMs apart)


@dataclass(frozen=True)
class LineSnapshot:
    """The waiting line and what its order depends on, read in one go from the store."""

    waiting: list[Waiting]  # oldest first
    in_flight: dict[Owner, int]  # each owner's images at Oxen now
    guild_last_sent: dict[int | None, float]  # when each server last had a request sent to Oxen
    owner_last_sent: dict[Owner, float]  # when each owner did


def waiting_id(request_id: str) -> int | None:
    """The waiting line id behind a ``line-<id>`` request id, else None."""
    number = request_id.removeprefix(LINE_PREFIX)
    return int(number) if request_id.startswith(LINE_PREFIX) and number.isdigit() else None


@dataclass(frozen=True)
class InterruptedEnqueue:
    """A prompt that was being sent to Oxen when the bot stopped: its outcome is unknown."""

    id: int
    guild_id: int | None
    channel_id: int
    requester_id: int
    prompt: str
    request_id: str | None = None  # set when it came from the waiting line
    status_message_id: int | None = None


# --- jobs: one generation at Oxen, tracked until its outcome reaches Discord ---------------------


class JobStatus(StrEnum):
    PENDING = "pending"  # Oxen has not reached a terminal state (as far as we know)
    DELIVERING = "delivering"  # outcome known, posting to Discord in progress (intent recorded)
    DELIVERED = "delivered"  # the outcome (image, error or cancellation) is in Discord
    UNDELIVERABLE = "undeliverable"  # every way to tell the requester failed; logged with ids

    @property
    def is_open(self) -> bool:
        return self in (JobStatus.PENDING, JobStatus.DELIVERING)


@dataclass(frozen=True)
class NewJob:
    generation_id: str
    channel_id: int
    requester_id: int
    prompt: str
    model: str
    guild_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    batch_index: int = 0
    batch_size: int = 1
    status_message_id: int | None = None
    upload_limit: int | None = None  # the channel's attachment_size_limit at request time
    request_id: str | None = None  # groups one request's generations; the first generation id
    parent_id: str | None = None  # the image this one remixes (Reroll, Vary, Edit), if any


@dataclass(frozen=True)
class Job:
    generation_id: str
    guild_id: int | None
    channel_id: int
    requester_id: int
    status_message_id: int | None
    prompt: str
    model: str
    params: dict[str, Any]
    batch_index: int
    batch_size: int
    status: JobStatus
    outcome: str | None  # Oxen's terminal status once known
    result_url: str | None
    error: str | None
    attempts: int
    result_message_id: int | None
    created_at: float
    updated_at: float
    finished_at: float | None
    upload_limit: int | None
    request_id: str  # the first generation id of the request this job belongs to
    started_at: float | None  # when Oxen started processing it (Unix seconds), once seen
    parent_id: str | None = None  # the image this one remixes (Reroll, Vary, Edit), if any
    # The process working on it now (checking it at Oxen or delivering it), until when: a lease
    # in the store, so that one process at a time does; None when nobody is.
    lease_owner: str | None = None
    lease_expires_at: float | None = None  # Unix seconds, the store's clock

    @property
    def is_processing(self) -> bool:
        return self.started_at is not None

    def leased_by_another(self, owner: str, now: float) -> bool:
        """Another process holds a lease on it that has not expired."""
        return (
            self.lease_owner is not None
            and self.lease_owner != owner
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )


# --- per-server settings and usage ---------------------------------------------------------------


@dataclass(frozen=True)
class GuildSettings:
    """What admins change at run time with /imagine-admin (kept in the store)."""

    max_in_flight: int = 4  # per user, images at Oxen at once; more wait their turn
    max_waiting: int = 8  # per user, images waiting their turn; beyond this, refused
    cooldown_seconds: int = 0  # per user, between requests
    daily_quota: int = 25  # per user, images per UTC day; 0 = unlimited
    daily_budget: int = 0  # per server, images per UTC day; 0 = unlimited
    exempt_role_ids: tuple[int, ...] = ()  # members with one of these skip the per-user limits
    banned_words: tuple[str, ...] = ()
    banned_patterns: tuple[str, ...] = ()
    allowed_channel_ids: tuple[int, ...] = ()  # empty: everywhere the command is permitted
    default_model: str | None = None  # None: the bot's OXEN_MODEL
    spoiler_results: bool = False  # every posted image hidden behind a spoiler
    upload_edits_nsfw_only: bool = False  # editing people's own uploads only in NSFW channels
    audit_channel_id: int | None = None  # where each request is logged; None: no audit log
    gallery_channel_id: int | None = None  # the server gallery (a forum or media channel)
    gallery_nsfw_channel_id: int | None = None  # the age-restricted gallery, for NSFW images
    auto_share_votes: int = 0  # votes that share an image (if its creator allows it); 0: off
    weekly_top: bool = False  # a pinned "top of the week" post in the gallery every Monday
    gallery_theme: str | None = None  # a tag name applied to gallery posts while it is set

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuildSettings:
        """Unknown keys (from a newer bot) are ignored; missing ones take their defaults."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in known:
                values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def describe(self) -> dict[str, str]:
        """Each setting as an admin reads it, for /imagine-admin show and before/after."""
        return {
            "Images at once per user": str(self.max_in_flight),
            "Images waiting per user": str(self.max_waiting),
            "Cooldown per user": f"{self.cooldown_seconds} s" if self.cooldown_seconds else "none",
            "Daily images per user": str(self.daily_quota or "unlimited"),
            "Daily images for the server": str(self.daily_budget or "unlimited"),
            "Exempt roles": ", ".join(f"<@&{r}>" for r in self.exempt_role_ids) or "none",
            "Banned words": str(len(self.banned_words)),
            "Banned patterns": str(len(self.banned_patterns)),
            "Channels": ", ".join(f"<#{c}>" for c in self.allowed_channel_ids) or "all",
            "Default model": f"`{self.default_model}`"
            if self.default_model
            else "the bot's default",
            "Spoiler on results": "on" if self.spoiler_results else "off",
            "Editing uploads": "NSFW channels only" if self.upload_edits_nsfw_only else "anywhere",
            "Audit channel": f"<#{self.audit_channel_id}>" if self.audit_channel_id else "off",
            "Gallery": f"<#{self.gallery_channel_id}>" if self.gallery_channel_id else "off",
            "NSFW gallery": f"<#{self.gallery_nsfw_channel_id}>"
            if self.gallery_nsfw_channel_id
            else "off",
            "Auto-share": f"at {self.auto_share_votes} votes, with the creator's consent"
            if self.auto_share_votes
            else "off",
            "Top of the week post": "on" if self.weekly_top else "off",
            "Gallery theme": f"`{self.gallery_theme}`" if self.gallery_theme else "none",
        }


@dataclass(frozen=True)
class Usage:
    """What a user (and their server) has used, counted from the job store (survives restarts)."""

    in_flight: int = 0  # images at Oxen now
    waiting: int = 0  # images waiting their turn in the bot's line
    images_today: int = 0  # including those waiting: the line can't get around a quota
    last_request_at: float | None = None
    server_images_today: int = 0


class RefusalRule(StrEnum):
    """Which kind of server rule refused a request: a small fixed set (a metric label), unlike
    the audit channel's words, which name the limit or the banned term."""

    CHANNEL = "channel"  # /imagine-admin channels
    BANNED_TERM = "banned_term"  # /imagine-admin banned
    UPLOAD_EDIT = "upload_edit"  # /imagine-admin upload-edits
    FAIR_USE = "fair_use"  # /imagine-admin limits


# --- the server gallery: shared images, votes, each member's choices ------------------------------


@dataclass(frozen=True)
class NewShare:
    """An image posted to the server's gallery (a forum post whose id is its thread's)."""

    generation_id: str
    guild_id: int
    gallery_channel_id: int  # the forum or media channel
    post_id: int  # the gallery post: its thread id, which is also its starter message's id
    creator_id: int  # who asked for the image (the credit goes to them)
    creator_name: str  # their display name when shared (names in lists never ping)
    shared_by_id: int  # the creator, a moderator, or the creator's consent (auto-share)
    title: str
    prompt: str | None  # None: the creator kept it private (then it is not searchable either)
    model: str
    nsfw: bool  # from an age-restricted channel or a spoilered server: the NSFW gallery only
    auto: bool = False  # shared by votes, with the creator's consent


@dataclass(frozen=True)
class Share:
    generation_id: str
    guild_id: int
    gallery_channel_id: int
    post_id: int
    creator_id: int
    creator_name: str
    shared_by_id: int
    title: str
    prompt: str | None
    model: str
    nsfw: bool
    auto: bool
    hidden: bool  # a moderator hid the post (archived and locked): in no list
    shared_at: float
    votes: int = 0  # members' votes, the creator's own never counted

    @property
    def post_url(self) -> str:
        return f"https://discord.com/channels/{self.guild_id}/{self.post_id}"


@dataclass(frozen=True)
class GalleryPrefs:
    """A member's own choices about the gallery (per server). Nothing is published without
    consent: auto-share is off until they turn it on."""

    auto_share: bool = False  # their images may be shared when they get enough votes
    show_prompt: bool = True  # auto-shared posts show the prompt


@dataclass(frozen=True)
class Vote:
    voted: bool  # the member's vote is in now (False: they took it back)
    votes: int  # the image's count now


@dataclass(frozen=True)
class WeeklyPost:
    """A server's latest top-of-the-week post: made on ``monday`` (00:00 UTC), for the seven
    days before it."""

    guild_id: int
    monday: float
    post_id: int | None  # None: no post that week (turned on mid-week, or nothing shared)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return _str(value)


# --- the web gallery ----------------------------------------------------------------------------


class WebSort(StrEnum):
    """The web gallery's orders."""

    NEW = "new"  # newest shares first
    TOP = "top"  # most votes first (newer first on a tie)


@dataclass(frozen=True)
class WebShare:
    """A share the web gallery shows: listed (not hidden, not NSFW) and with its own copies of
    the image stored (a small WebP thumbnail and the full image, ``full_extension``)."""

    share: Share
    full_extension: str
