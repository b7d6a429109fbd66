"""The test-side API for forum and media channels, mixed into FakeDiscord."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import forums
from .gateway import Gateway
from .records import PINNED, ChannelRecord, MessageRecord, UserRecord
from .state import FakeState


class ForumFacade:
    state: FakeState
    gateway: Gateway

    def posts(self, forum: ChannelRecord) -> list[ChannelRecord]:
        """The live posts (threads) of a forum or media channel, oldest first."""
        return self.state.threads_in(forum)

    def starter_message(self, thread: ChannelRecord) -> MessageRecord | None:
        """A forum post's first message (its id is the thread's id), unless deleted."""
        message = self.state.messages_by_id.get(thread.id)
        return None if message is None or message.deleted else message

    def applied_tag_names(self, thread: ChannelRecord) -> list[str]:
        parent = self.state.channels[thread.parent_id or 0]
        names = {int(t["id"]): t["name"] for t in parent.available_tags}
        return [names.get(t, str(t)) for t in thread.applied_tags]

    def add_tag(
        self,
        forum: ChannelRecord,
        name: str,
        *,
        moderated: bool = False,
        emoji: str | None = None,
    ) -> dict[str, Any]:
        """A moderator adds a tag in the Discord client (CHANNEL_UPDATE follows)."""
        raw = [*forum.available_tags, {"name": name, "moderated": moderated, "emoji_name": emoji}]
        forum.available_tags = forums.normalise_tags(raw, forum.available_tags, self.state.ids.next)
        self.gateway.dispatch("CHANNEL_UPDATE", self.state.channel_payload(forum))
        return forum.available_tags[-1]

    def create_post(
        self,
        user: UserRecord,
        forum: ChannelRecord,
        name: str,
        content: str = "",
        *,
        tags: Sequence[str] = (),
        files: Sequence[tuple[str, bytes]] = (),
    ) -> ChannelRecord:
        """A member posts in a forum from the Discord client (THREAD_CREATE, MESSAGE_CREATE)."""
        state = self.state
        if not forum.is_forum:
            raise ValueError(f"#{forum.name} is not a forum or media channel")
        now = state.clock.now()
        thread = ChannelRecord(
            id=state.ids.next(),
            type=11,
            name=forums.thread_name(name),
            guild_id=forum.guild_id,
            parent_id=forum.id,
            owner_id=user.id,
            created_at=now,
            applied_tags=[int(forum.tag(t)["id"]) for t in tags],
        )
        state.register_channel(thread)
        message = MessageRecord(
            id=thread.id,
            channel_id=thread.id,
            guild_id=forum.guild_id,
            author_id=user.id,
            content=content,
            created_at=now,
        )
        message.attachments = [
            state.store_attachment(filename, data, channel_id=thread.id) for filename, data in files
        ]
        state.add_message(message)
        self.gateway.dispatch(
            "THREAD_CREATE", {**state.channel_payload(thread), "newly_created": True}
        )
        self.gateway.dispatch("MESSAGE_CREATE", state.message_payload(message))
        return thread

    def update_thread(
        self,
        thread: ChannelRecord,
        *,
        archived: bool | None = None,
        locked: bool | None = None,
        pinned: bool | None = None,
        name: str | None = None,
    ) -> None:
        """A moderator changes a thread in the Discord client (THREAD_UPDATE follows)."""
        if archived is not None and archived != thread.archived:
            thread.archived = archived
            thread.archived_at = self.state.clock.now()
        if locked is not None:
            thread.locked = locked
        if pinned is not None:
            thread.flags = thread.flags | PINNED if pinned else thread.flags & ~PINNED
        if name is not None:
            thread.name = forums.thread_name(name)
        self.gateway.dispatch("THREAD_UPDATE", self.state.channel_payload(thread))
        self.state.touch()
