"""Plain records of what the stand-in holds; tests read these directly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .permissions import Overwrite

EPHEMERAL = 1 << 6
LOADING = 1 << 7

CHANNEL_TYPES: dict[str, int] = {
    "text": 0,
    "dm": 1,
    "voice": 2,
    "category": 4,
    "news": 5,
    "announcement": 5,
    "news_thread": 10,
    "thread": 11,
    "public_thread": 11,
    "private_thread": 12,
    "stage": 13,
    "forum": 15,
    "media": 16,
}
THREAD_TYPES = frozenset({10, 11, 12})
FORUM_TYPES = frozenset({15, 16})  # GUILD_FORUM, GUILD_MEDIA: channels that hold only threads

# Channel flags (resources/channel "Channel Flags").
PINNED = 1 << 1
REQUIRE_TAG = 1 << 4


@dataclass
class UserRecord:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True
    locale: str = "en-US"

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class RoleRecord:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class MemberRecord:
    user: UserRecord
    guild_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: float = 0.0
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    def to_payload(self, joined_at_iso: str, *, with_user: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": joined_at_iso,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        return payload


@dataclass
class GuildRecord:
    id: int
    name: str
    owner_id: int
    bot_role_id: int = 0
    members_role_id: int | None = None
    roles: dict[int, RoleRecord] = field(default_factory=dict)
    members: dict[int, MemberRecord] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    locale: str = "en-US"

    @property
    def everyone(self) -> RoleRecord:
        return self.roles[self.id]


@dataclass
class ChannelRecord:
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    nsfw: bool = False
    archived: bool = False
    locked: bool = False
    deleted: bool = False
    recipient_id: int | None = None
    owner_id: int | None = None
    topic: str | None = None
    flags: int = 0
    created_at: float = 0.0
    # Forum and media channels.
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    default_reaction_emoji: dict[str, Any] | None = None
    default_auto_archive_duration: int = 1440
    # Threads.
    applied_tags: list[int] = field(default_factory=list)
    auto_archive_duration: int = 1440
    archived_at: float | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_forum(self) -> bool:
        """A GUILD_FORUM or GUILD_MEDIA channel."""
        return self.type in FORUM_TYPES

    @property
    def pinned(self) -> bool:
        """A forum post pinned to the top of its forum (the PINNED channel flag)."""
        return bool(self.flags & PINNED)

    def tag(self, name: str) -> dict[str, Any]:
        """This forum's available tag called ``name``."""
        for tag in self.available_tags:
            if tag["name"] == name:
                return tag
        names = [t["name"] for t in self.available_tags]
        raise KeyError(f"#{self.name} has no tag {name!r}; has {names}")

    @property
    def is_dm(self) -> bool:
        return self.type == 1

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class AttachmentRecord:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str
    width: int | None = None
    height: int | None = None
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.width is not None and self.height is not None:
            payload["width"] = self.width
            payload["height"] = self.height
        return payload


@dataclass
class MessageRecord:
    """A message as the stand-in stores it (the JSON view is built by the server)."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[AttachmentRecord] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    pinged_users: list[int] = field(default_factory=list)
    pinged_roles: list[int] = field(default_factory=list)
    pinged_everyone: bool = False
    flags: int = 0
    message_reference: dict[str, Any] | None = None
    nonce: str | int | None = None
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    type: int = 0
    tts: bool = False
    pinned: bool = False
    edits: int = 0
    created_at: float = 0.0
    edited_at: float | None = None
    deleted: bool = False
    visible_to: int | None = None
    reactions: dict[str, set[int]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def filenames(self) -> list[str]:
        return [a.filename for a in self.attachments]


@dataclass
class InteractionRecord:
    """One interaction the stand-in sent to the bot, and everything the bot did with it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    payload: dict[str, Any]
    created_at: float
    name: str | None = None
    custom_id: str | None = None
    message_id: int | None = None
    dispatched_at: float | None = None
    responses: list[dict[str, Any]] = field(default_factory=list)
    original: MessageRecord | None = None
    followups: list[MessageRecord] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ack_latency: float | None = None
    autocomplete_choices: list[dict[str, Any]] | None = None
    _acknowledged: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def acknowledged(self) -> bool:
        return self._acknowledged.is_set()

    @property
    def response_type(self) -> int | None:
        return self.responses[0]["type"] if self.responses else None

    @property
    def error_codes(self) -> list[int]:
        return [e["code"] for e in self.errors]

    async def wait_acknowledged(self, timeout: float = 3.0) -> dict[str, Any]:
        """Wait for the first callback; returns it. Raises AssertionError on timeout."""
        try:
            await asyncio.wait_for(self._acknowledged.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"interaction {self.id} ({self.name or self.custom_id}) was not acknowledged "
                f"within {timeout}s; errors={self.errors}"
            ) from None
        return self.responses[0]


@dataclass
class RequestRecord:
    method: str
    path: str
    route: str
    query: dict[str, str]
    time: float
    status: int = 0
    json: Any = None
    files: list[tuple[str, int]] = field(default_factory=list)
    error_code: int | None = None
    error: dict[str, Any] | None = None

    @property
    def payload(self) -> Any:
        return self.json

    @property
    def code(self) -> int | None:
        return self.error_code

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "code": self.error_code,
            "message": (self.error or {}).get("message"),
            "errors": (self.error or {}).get("errors"),
            "json": self.json,
            "time": self.time,
        }

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access (``record.get("code")``) for tests that treat errors as dicts."""
        return self.as_dict().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]


@dataclass
class GatewayEvent:
    seq: int
    name: str
    data: dict[str, Any]
