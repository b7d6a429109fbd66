"""What the bot sends to a channel, as the outbox (bot.discord_app.outbox) queues it: a result
post for one job, and an edit of one message. Plain data; sending is the outbox's."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import discord

from bot.core.types import Job

# Discord error codes that mean "this channel will not take the post", retrying cannot help:
# unknown channel, missing access, missing permissions, archived thread, locked thread.
_CHANNEL_REFUSED = frozenset({10003, 50001, 50013, 50083, 160005})


def channel_refused(err: discord.HTTPException) -> bool:
    return isinstance(err, discord.Forbidden | discord.NotFound) or err.code in _CHANNEL_REFUSED


@dataclass(frozen=True)
class Outgoing:
    """What to post for one job: text, an embed, and at most one image."""

    content: str
    embed: discord.Embed | None = None
    image: bytes | None = None
    filename: str | None = None
    view: discord.ui.View | None = None
    spoiler: bool = False  # the server spoilers its results: the image stays out of the embed

    @property
    def is_image(self) -> bool:
        return self.image is not None and self.filename is not None

    def file(self) -> discord.File | None:
        if self.image is None or self.filename is None:
            return None
        return discord.File(io.BytesIO(self.image), filename=self.filename)


@dataclass(eq=False)
class Post:
    """One job's outcome waiting for its channel's turn. ``reply_to``: the status message to
    reply to when it goes out alone. The future gets the id of the message it went out in."""

    job: Job
    outgoing: Outgoing
    reply_to: discord.MessageReference | None
    future: asyncio.Future[int]
    queued_at: float = 0.0
    alone: bool = False  # a combined message with it was refused: it goes by itself
    followup: bool = True  # may go as a follow-up of its request's interaction

    @property
    def size(self) -> int:
        return len(self.outgoing.image or b"")


class EditOutcome(StrEnum):
    SENT = "sent"
    GONE = "gone"  # the message was deleted (10008)
    FAILED = "failed"  # Discord refused it (logged)
    DROPPED = "dropped"  # an intermediate edit that a saturated channel had no room for


@dataclass(eq=False)
class Edit:
    """An edit of one message: ``fields`` are ``Message.edit``'s keyword arguments. A newer
    edit of the same message replaces it (fields merged). ``final`` edits are never dropped
    and go first; the others may be, while the channel is saturated."""

    channel_id: int
    guild_id: int | None
    message_id: int
    fields: dict[str, Any]
    final: bool = False
    queued_at: float = 0.0
    done: list[Callable[[EditOutcome], None]] = field(default_factory=list)

    def merged_into(self, older: Edit) -> Edit:
        """This edit, taking over what ``older`` (same message, not sent yet) still had to do."""
        self.fields = {**older.fields, **self.fields}
        self.final = self.final or older.final
        self.done = [*older.done, *self.done]
        return self

    def finish(self, outcome: EditOutcome) -> None:
        for callback in self.done:
            callback(outcome)
        self.done = []
