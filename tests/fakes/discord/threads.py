"""REST routes for threads and forum posts: start, modify and delete channels and threads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors, forums
from . import permissions as perms
from .body import UploadedFile
from .ids import iso_timestamp
from .messages import SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, create_message
from .records import PINNED, REQUIRE_TAG, ChannelRecord
from .rules import MAX_ATTACHMENTS

if TYPE_CHECKING:
    from .server import RestApi

PUBLIC_THREAD, PRIVATE_THREAD = 11, 12
#: The only flags a forum post's starter message may set (resources/channel).
POST_MESSAGE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS
#: Flags a bot may set on a forum or media channel (HIDE_MEDIA_DOWNLOAD_OPTIONS: media only).
FORUM_FLAGS = REQUIRE_TAG | (1 << 15)
#: Thread fields only MANAGE_THREADS may change; the creator may change the others.
MODERATOR_FIELDS = ("locked", "flags", "invitable", "rate_limit_per_user")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


class ThreadRoutes:
    """Registered by :class:`RestApi`; shares its state, body parsing and permission checks."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self.state = api.state

    def register(self, router: web.UrlDispatcher, channel_path: str) -> None:
        router.add_patch(channel_path, self.modify_channel)
        router.add_delete(channel_path, self.delete_channel)
        router.add_post(channel_path + "/threads", self.start_thread)

    # -- helpers --

    def _payload(self, request: web.Request) -> dict[str, Any]:
        payload = self.api._body(request).payload
        return payload if isinstance(payload, dict) else {}

    def _member(self, thread: ChannelRecord) -> dict[str, Any]:
        # The bot's thread member, as Discord includes it for the thread's creator.
        return {
            "id": str(thread.id),
            "user_id": str(self.state.bot_user.id),
            "join_timestamp": iso_timestamp(thread.created_at),
            "flags": 1,
        }

    def _announce_thread(self, thread: ChannelRecord) -> dict[str, Any]:
        payload = self.state.channel_payload(thread)
        payload["member"] = self._member(thread)
        self.state.emit("THREAD_CREATE", {**payload, "newly_created": True})
        return payload

    def _new_thread(
        self, parent: ChannelRecord, kind: int, name: str, duration: int
    ) -> ChannelRecord:
        return ChannelRecord(
            id=self.state.ids.next(),
            type=kind,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.state.bot_user.id,
            auto_archive_duration=duration,
            created_at=self.state.clock.now(),
        )

    # -- POST /channels/{id}/threads --

    async def start_thread(self, request: web.Request) -> web.Response:
        parent = self.api._channel(request)
        have = self.api._require_view(parent)
        payload = self._payload(request)
        if parent.is_forum:
            return self._forum_post(parent, have, payload, self.api._body(request).files)
        if parent.type in (0, 5):
            return self._thread_without_message(parent, have, payload)
        raise errors.wrong_channel_type()

    def _forum_post(
        self,
        forum: ChannelRecord,
        have: int,
        payload: dict[str, Any],
        files: list[UploadedFile],
    ) -> web.Response:
        state = self.state
        # A forum post needs SEND_MESSAGES in the forum (CREATE_PUBLIC_THREADS is ignored).
        if not have & perms.SEND_MESSAGES:
            raise errors.missing_permissions()
        name = forums.thread_name(payload.get("name"))
        duration = forums.archive_duration(
            payload.get("auto_archive_duration", forum.default_auto_archive_duration)
        )
        message = payload.get("message")
        if message is None:
            raise forums.required(["message"])
        if not isinstance(message, dict):
            convert = errors.field_error("DICT_TYPE_CONVERT", "Only dictionaries may be used.")
            raise errors.invalid_form_body({"message": convert})
        if files and not have & perms.ATTACH_FILES:
            raise errors.missing_permissions()
        if message.get("embeds") and not have & perms.EMBED_LINKS:
            raise errors.missing_permissions()
        if len(files) > MAX_ATTACHMENTS:
            raise errors.too_many_attachments()
        tags = forums.applied_tags(
            payload.get("applied_tags") or [],
            forum.available_tags,
            can_moderate=bool(have & perms.MANAGE_THREADS),
        )
        if forum.flags & REQUIRE_TAG and not tags:
            raise forums.tag_required()
        thread = self._new_thread(forum, PUBLIC_THREAD, name, duration)
        thread.applied_tags = tags
        starter = {k: v for k, v in message.items() if k != "message_reference"}
        starter["flags"] = int(message.get("flags") or 0) & POST_MESSAGE_FLAGS
        # Validates like any message create (50006 when empty, 50035, 40005...).
        record = create_message(state, thread, starter, files, webhook=False)
        state.register_channel(thread)
        record.id = thread.id  # a post's starter message has the thread's id
        state.add_message(record)
        body = self._announce_thread(thread)
        self.api._emit_message("MESSAGE_CREATE", record)
        body["message"] = state.message_payload(record)
        return _json(body, 201)

    def _thread_without_message(
        self, parent: ChannelRecord, have: int, payload: dict[str, Any]
    ) -> web.Response:
        kind = int(payload.get("type", PRIVATE_THREAD))  # Discord's documented default
        needed = {
            PUBLIC_THREAD: perms.CREATE_PUBLIC_THREADS,
            PRIVATE_THREAD: perms.CREATE_PRIVATE_THREADS,
        }
        if kind not in needed:
            raise forums.required(["type"])
        if not have & needed[kind]:
            raise errors.missing_permissions()
        name = forums.thread_name(payload.get("name"))
        duration = forums.archive_duration(payload.get("auto_archive_duration", 1440))
        thread = self._new_thread(parent, kind, name, duration)
        self.state.register_channel(thread)
        return _json(self._announce_thread(thread), 201)

    # -- PATCH /channels/{id} --

    async def modify_channel(self, request: web.Request) -> web.Response:
        channel = self.api._channel(request)
        have = self.api._require_view(channel)
        payload = self._payload(request)
        if channel.is_thread:
            self._modify_thread(channel, have, payload)
            event = "THREAD_UPDATE"
        elif channel.is_dm:
            raise errors.wrong_channel_type()
        else:
            if not have & perms.MANAGE_CHANNELS:
                raise errors.missing_permissions()
            self._modify_guild_channel(channel, payload)
            event = "CHANNEL_UPDATE"
        self.state.emit(event, self.state.channel_payload(channel))
        self.state.touch()
        return _json(self.state.channel_payload(channel))

    def _modify_guild_channel(self, channel: ChannelRecord, payload: dict[str, Any]) -> None:
        # Validate everything first: a refused PATCH changes nothing.
        name = forums.thread_name(payload["name"]) if "name" in payload else channel.name
        topic = payload.get("topic", channel.topic)
        limit = 4096 if channel.is_forum else 1024
        if topic is not None and len(str(topic)) > limit:
            raise forums.too_long(["topic"], limit)
        tags = channel.available_tags
        if channel.is_forum and "available_tags" in payload:
            tags = forums.normalise_tags(
                payload["available_tags"], channel.available_tags, self.state.ids.next
            )
        channel.name, channel.topic, channel.available_tags = name, topic, tags
        if "nsfw" in payload:
            channel.nsfw = bool(payload["nsfw"])
        if channel.is_forum:
            if "flags" in payload:
                channel.flags = int(payload["flags"] or 0) & FORUM_FLAGS
            if "default_reaction_emoji" in payload:
                channel.default_reaction_emoji = payload["default_reaction_emoji"]
            if "default_auto_archive_duration" in payload:
                duration = payload["default_auto_archive_duration"]
                channel.default_auto_archive_duration = forums.archive_duration(duration)

    def _check_thread_permissions(
        self, thread: ChannelRecord, have: int, payload: dict[str, Any]
    ) -> None:
        """Docs: MANAGE_THREADS, except that unarchiving an unlocked thread needs only
        SEND_MESSAGES; discord.py: the creator may also change name/archived/duration."""
        if have & perms.MANAGE_THREADS:
            return
        unarchive = payload.get("archived") is False and thread.archived
        if unarchive and thread.locked:
            raise errors.missing_permissions()  # only MANAGE_THREADS unarchives a locked thread
        changes = {
            "locked": "locked" in payload and bool(payload["locked"]) != thread.locked,
            "flags": "flags" in payload and int(payload["flags"] or 0) != thread.flags,
            "invitable": "invitable" in payload,
            "rate_limit_per_user": "rate_limit_per_user" in payload,
        }
        if any(changes[k] for k in MODERATOR_FIELDS):
            raise errors.missing_permissions()
        others = set(payload) - {"archived", *MODERATOR_FIELDS}
        if thread.owner_id != self.state.bot_user.id and (others or payload.get("archived")):
            raise errors.missing_permissions()
        if not have & perms.SEND_MESSAGES:
            raise errors.missing_permissions()

    def _modify_thread(self, thread: ChannelRecord, have: int, payload: dict[str, Any]) -> None:
        state = self.state
        parent = state.channels.get(thread.parent_id or 0)
        in_forum = parent is not None and parent.is_forum
        if thread.archived and payload.get("archived") is not False:
            raise errors.thread_archived()  # must be unarchived, or be unarchived by this PATCH
        self._check_thread_permissions(thread, have, payload)
        name = forums.thread_name(payload["name"]) if "name" in payload else thread.name
        duration = thread.auto_archive_duration
        if "auto_archive_duration" in payload:
            duration = forums.archive_duration(payload["auto_archive_duration"])
        tags = thread.applied_tags
        if "applied_tags" in payload:
            if parent is None or not parent.is_forum:
                raise forums.tags_outside_forum()
            tags = forums.applied_tags(
                payload["applied_tags"] or [],
                parent.available_tags,
                can_moderate=bool(have & perms.MANAGE_THREADS),
                previous=thread.applied_tags,
            )
        flags = thread.flags
        if "flags" in payload:
            flags = int(payload["flags"] or 0) & PINNED  # PINNED is the only thread flag
            if flags & PINNED and not in_forum:
                raise forums.pin_outside_forum()
            pinning = flags & PINNED and not thread.pinned and parent is not None
            others = state.threads_in(parent) if parent is not None else []
            if pinning and any(t.pinned for t in others if t.id != thread.id):
                raise forums.too_many_pins()  # one pinned post per forum
        thread.name, thread.auto_archive_duration = name, duration
        thread.applied_tags, thread.flags = tags, flags
        if "locked" in payload:
            thread.locked = bool(payload["locked"])
        if "archived" in payload and bool(payload["archived"]) != thread.archived:
            thread.archived = bool(payload["archived"])
            thread.archived_at = state.clock.now()

    # -- DELETE /channels/{id} --

    async def delete_channel(self, request: web.Request) -> web.Response:
        state = self.state
        channel = self.api._channel(request)
        have = self.api._require_view(channel)
        payload = state.channel_payload(channel)
        if channel.is_dm:
            return _json(payload)  # closing a DM: nothing to delete
        # Docs: MANAGE_THREADS for a thread (the creator too), MANAGE_CHANNELS otherwise.
        needed = perms.MANAGE_THREADS if channel.is_thread else perms.MANAGE_CHANNELS
        if not have & needed:
            raise errors.missing_permissions()
        channel.deleted = True
        for thread in state.threads_in(channel):
            thread.deleted = True
        if channel.is_thread:
            state.emit(
                "THREAD_DELETE",
                {
                    "id": str(channel.id),
                    "guild_id": str(channel.guild_id),
                    "parent_id": str(channel.parent_id),
                    "type": channel.type,
                },
            )
        else:
            state.emit("CHANNEL_DELETE", payload)
        state.touch()
        return _json(payload)


def refuse_locked(thread: ChannelRecord, have: int) -> None:
    """Messages into a thread: archived ones are refused, locked ones accept only managers."""
    if thread.archived:
        raise errors.thread_archived()
    if thread.locked and not have & perms.MANAGE_THREADS:
        raise forums.thread_locked()
