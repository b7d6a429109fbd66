"""Guilds, channels, users, roles, messages and commands, and their Discord JSON views."""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
from collections.abc import Callable
from typing import Any

from . import errors, forums
from . import permissions as perms
from .clock import FakeClock
from .ids import SnowflakeFactory, iso_timestamp, new_token
from .permissions import Overwrite
from .records import (
    CHANNEL_TYPES,
    THREAD_TYPES,
    AttachmentRecord,
    ChannelRecord,
    GuildRecord,
    InteractionRecord,
    MemberRecord,
    MessageRecord,
    RoleRecord,
    UserRecord,
)
from .rules import DEFAULT_UPLOAD_LIMIT

EventSink = Callable[[str, dict[str, Any]], None]
Target = RoleRecord | MemberRecord | UserRecord


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


class FakeState:
    """Everything the stand-in knows. Mutations that Discord would announce call ``emit``."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        token: str,
        application_id: int | None = None,
        bot_name: str = "imagine-bot",
    ) -> None:
        self.clock = clock
        self.ids = SnowflakeFactory(clock)
        self.token = token
        self.application_id = application_id or self.ids.next()
        self.bot_user = UserRecord(id=self.application_id, name=bot_name, bot=True)
        self.upload_limit = DEFAULT_UPLOAD_LIMIT
        self.base_url = ""  # "http://127.0.0.1:PORT", set when the server starts
        self.users: dict[int, UserRecord] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, GuildRecord] = {}
        self.channels: dict[int, ChannelRecord] = {}
        self.messages_by_id: dict[int, MessageRecord] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.deleted_messages: list[MessageRecord] = []
        self.attachments: dict[int, AttachmentRecord] = {}
        self.dm_channels: dict[int, int] = {}
        self.global_commands: dict[int, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self.command_puts = 0
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.emit: EventSink = lambda name, data: None
        self._changed = asyncio.Event()

    # -- change notification --

    def touch(self) -> None:
        """Wake everyone waiting for a message change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    # -- world building --

    def create_user(self, name: str, *, bot: bool = False) -> UserRecord:
        user = UserRecord(id=self.ids.next(), name=name, bot=bot, global_name=name)
        self.users[user.id] = user
        return user

    def create_guild(
        self, name: str, *, owner: UserRecord | None = None, shard: tuple[int, int] | None = None
    ) -> GuildRecord:
        owner = owner or self.create_user(f"{name}-owner")
        guild_id = self.ids.next_for_shard(*shard) if shard else self.ids.next()
        guild = GuildRecord(id=guild_id, name=name, owner_id=owner.id)
        guild.roles[guild.id] = RoleRecord(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=perms.DEFAULT_EVERYONE
        )
        bot_role = RoleRecord(
            id=self.ids.next(),
            guild_id=guild.id,
            name=self.bot_user.name,
            permissions=perms.DEFAULT_EVERYONE,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        self.guilds[guild.id] = guild
        now = self.clock.now()
        guild.members[owner.id] = MemberRecord(user=owner, guild_id=guild.id, joined_at=now)
        guild.members[self.bot_user.id] = MemberRecord(
            user=self.bot_user, guild_id=guild.id, roles=[bot_role.id], joined_at=now
        )
        return guild

    def create_channel(
        self,
        guild: GuildRecord,
        name: str,
        *,
        type: str | int = "text",
        parent: ChannelRecord | None = None,
        nsfw: bool = False,
        topic: str | None = None,
        flags: int = 0,
        available_tags: list[str | dict[str, Any]] | None = None,
        default_reaction_emoji: str | None = None,
    ) -> ChannelRecord:
        kind = CHANNEL_TYPES[type] if isinstance(type, str) else type
        channel = ChannelRecord(
            id=self.ids.next(),
            type=kind,
            name=name,
            guild_id=guild.id,
            parent_id=parent.id if parent else None,
            position=len(guild.channel_ids),
            nsfw=nsfw,
            owner_id=self.bot_user.id if kind in THREAD_TYPES else None,
            topic=topic,
            flags=flags,
            created_at=self.clock.now(),
        )
        if channel.is_thread and parent is None:
            raise ValueError("a thread needs a parent channel")
        if available_tags and not channel.is_forum:
            raise ValueError("only forum and media channels have tags")
        if channel.is_forum:
            raw = [{"name": t} if isinstance(t, str) else t for t in available_tags or []]
            channel.available_tags = forums.normalise_tags(raw, [], self.ids.next)
            if default_reaction_emoji:
                emoji = {"emoji_id": None, "emoji_name": default_reaction_emoji}
                channel.default_reaction_emoji = emoji
        self.register_channel(channel)
        return channel

    def register_channel(self, channel: ChannelRecord) -> None:
        self.channels[channel.id] = channel
        self.channel_messages.setdefault(channel.id, [])
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is not None:
            guild.channel_ids.append(channel.id)

    def threads_in(self, parent: ChannelRecord) -> list[ChannelRecord]:
        """Live threads whose parent is ``parent`` (for a forum: its posts), oldest first."""
        return [
            c
            for c in self.channels.values()
            if c.is_thread and c.parent_id == parent.id and not c.deleted
        ]

    def add_member(
        self, guild: GuildRecord, user: UserRecord, roles: list[RoleRecord] | None = None
    ) -> MemberRecord:
        role_ids = [r.id for r in roles or []]
        if guild.members_role_id is not None:
            role_ids.append(guild.members_role_id)
        member = MemberRecord(
            user=user, guild_id=guild.id, roles=role_ids, joined_at=self.clock.now()
        )
        guild.members[user.id] = member
        return member

    def create_role(
        self,
        guild: GuildRecord,
        name: str,
        *,
        permissions: int = 0,
        mentionable: bool = False,
    ) -> RoleRecord:
        role = RoleRecord(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=len(guild.roles),
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        return role

    def set_overwrite(
        self, channel: ChannelRecord, target: Target, *, allow: int = 0, deny: int = 0
    ) -> None:
        if isinstance(target, RoleRecord):
            overwrite = Overwrite(target.id, 0, allow, deny)
        else:
            overwrite = Overwrite(target.id, 1, allow, deny)
        channel.overwrites = [
            o
            for o in channel.overwrites
            if (o.type, o.target_id) != (overwrite.type, overwrite.target_id)
        ]
        channel.overwrites.append(overwrite)

    def set_bot_permissions(self, guild: GuildRecord, permissions: int) -> None:
        """Make the bot's guild-level permissions exactly ``permissions``.

        Discord-faithfully: the bot's managed role gets ``permissions``; bits the @everyone
        role grants beyond that move to a "Members" role that every human member holds.
        """
        guild.roles[guild.bot_role_id].permissions = permissions
        everyone = guild.everyone
        extra = everyone.permissions & ~permissions
        if not extra:
            return
        if guild.members_role_id is None:
            role = self.create_role(guild, "Members", permissions=0)
            guild.members_role_id = role.id
            for member in guild.members.values():
                if member.user.id != self.bot_user.id:
                    member.roles.append(role.id)
        guild.roles[guild.members_role_id].permissions |= extra
        everyone.permissions &= permissions

    def get_or_create_dm(self, user_id: int) -> ChannelRecord:
        channel_id = self.dm_channels.get(user_id)
        if channel_id is not None:
            return self.channels[channel_id]
        channel = ChannelRecord(id=self.ids.next(), type=1, name=None, recipient_id=user_id)
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        self.dm_channels[user_id] = channel.id
        return channel

    # -- look-ups ----------------------------------------------------------------------------

    def guild_of(self, channel: ChannelRecord) -> GuildRecord | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def get_channel(self, channel_id: int) -> ChannelRecord:
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise errors.unknown_channel()
        return channel

    def get_message(self, channel_id: int, message_id: int) -> MessageRecord:
        message = self.messages_by_id.get(message_id)
        if message is None or message.deleted or message.channel_id != channel_id:
            raise errors.unknown_message()
        return message

    def guild_permissions(self, guild: GuildRecord, user_id: int) -> int:
        member = guild.members.get(user_id)
        if member is None:
            return 0
        return perms.base_permissions(
            guild_id=guild.id,
            owner_id=guild.owner_id,
            member_id=user_id,
            role_permissions={r.id: r.permissions for r in guild.roles.values()},
            member_roles=member.roles,
        )

    def permissions_for(self, user_id: int, channel: ChannelRecord) -> int:
        """Permissions of ``user_id`` in ``channel``, computed the Discord way."""
        if channel.is_dm:
            return (
                perms.VIEW_CHANNEL
                | perms.SEND_MESSAGES
                | perms.EMBED_LINKS
                | perms.ATTACH_FILES
                | perms.READ_MESSAGE_HISTORY
                | perms.ADD_REACTIONS
                | perms.USE_APPLICATION_COMMANDS
            )
        guild = self.guild_of(channel)
        if guild is None or user_id not in guild.members:
            return 0
        base = self.guild_permissions(guild, user_id)
        source = channel
        if channel.is_thread and channel.parent_id in self.channels:
            source = self.channels[channel.parent_id]
        return perms.channel_permissions(
            base,
            guild_id=guild.id,
            member_id=user_id,
            member_roles=guild.members[user_id].roles,
            overwrites=source.overwrites,
            is_thread=channel.is_thread,
        )

    def bot_permissions_in(self, channel: ChannelRecord) -> int:
        return self.permissions_for(self.bot_user.id, channel)

    # -- attachments --

    def store_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel_id: int = 0,
        description: str | None = None,
    ) -> AttachmentRecord:
        if not content_type or content_type == "application/octet-stream":
            guessed = mimetypes.guess_type(filename)[0]
            content_type = guessed or content_type
        attachment_id = self.ids.next()
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{filename}"
        record = AttachmentRecord(
            id=attachment_id,
            filename=filename,
            data=data,
            content_type=content_type,
            url=url,
            description=description,
        )
        if content_type and content_type.startswith("image/"):
            size = _image_size(data)
            if size:
                record.width, record.height = size
        self.attachments[attachment_id] = record
        return record

    # -- messages --

    def add_message(self, message: MessageRecord) -> None:
        self.messages_by_id[message.id] = message
        self.channel_messages.setdefault(message.channel_id, []).append(message.id)
        self.touch()

    def channel_message_list(
        self, channel_id: int, *, include_ephemeral: bool = True
    ) -> list[MessageRecord]:
        out = []
        for mid in self.channel_messages.get(channel_id, []):
            message = self.messages_by_id[mid]
            if message.deleted or (message.ephemeral and not include_ephemeral):
                continue
            out.append(message)
        return out

    def delete_message(self, message: MessageRecord) -> None:
        message.deleted = True
        self.deleted_messages.append(message)
        self.touch()

    # -- JSON views --

    def user_payload(self, user_id: int) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            return {"id": str(user_id), "username": "unknown", "discriminator": "0", "avatar": None}
        return user.to_payload()

    def member_payload(
        self, guild: GuildRecord, member: MemberRecord, *, with_user: bool = True
    ) -> dict[str, Any]:
        return member.to_payload(iso_timestamp(member.joined_at), with_user=with_user)

    def channel_payload(self, channel: ChannelRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "flags": channel.flags,
        }
        if channel.is_dm:
            payload["recipients"] = [self.user_payload(channel.recipient_id or 0)]
            payload["last_message_id"] = None
            return payload
        payload.update(
            {
                "guild_id": str(channel.guild_id),
                "name": channel.name,
                "position": channel.position,
                "permission_overwrites": [o.to_payload() for o in channel.overwrites],
                "nsfw": channel.nsfw,
                "parent_id": str(channel.parent_id) if channel.parent_id else None,
                "topic": channel.topic,
                "last_message_id": None,
                "rate_limit_per_user": 0,
            }
        )
        if channel.type == 2:
            payload.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
        if channel.is_forum:
            payload.update(
                {
                    "available_tags": [dict(t) for t in channel.available_tags],
                    "default_reaction_emoji": channel.default_reaction_emoji,
                    "default_auto_archive_duration": channel.default_auto_archive_duration,
                    "default_thread_rate_limit_per_user": 0,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                }
            )
            # A forum's last_message_id is its newest post (thread).
            posts = self.threads_in(channel)
            payload["last_message_id"] = str(posts[-1].id) if posts else None
        if channel.is_thread:
            payload.update(self._thread_fields(channel))
        return payload

    def _thread_fields(self, thread: ChannelRecord) -> dict[str, Any]:
        created = iso_timestamp(thread.created_at or self.clock.now())
        archived = iso_timestamp(thread.archived_at) if thread.archived_at else created
        messages = self.channel_message_list(thread.id, include_ephemeral=False)
        # message_count leaves out a forum post's starter message (its id is the thread's).
        counted = [m for m in messages if m.id != thread.id]
        fields: dict[str, Any] = {
            "owner_id": str(thread.owner_id or self.bot_user.id),
            "flags": thread.flags,
            "last_message_id": str(messages[-1].id) if messages else None,
            "message_count": len(counted),
            "member_count": 1,
            "total_message_sent": len(counted),
            "thread_metadata": {
                "archived": thread.archived,
                "auto_archive_duration": thread.auto_archive_duration,
                "archive_timestamp": archived,
                "locked": thread.locked,
                "create_timestamp": created,
            },
        }
        parent = self.channels.get(thread.parent_id or 0)
        if parent is not None and parent.is_forum:
            fields["applied_tags"] = [str(t) for t in thread.applied_tags]
        return fields

    def role_payloads(self, guild: GuildRecord) -> list[dict[str, Any]]:
        return [r.to_payload() for r in guild.roles.values()]

    def guild_payload(
        self, guild: GuildRecord, *, full: bool = True, all_members: bool = True
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.locale,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": self.role_payloads(guild),
            "emojis": [],
            "stickers": [],
            "application_id": None,
            "max_members": 500000,
            "premium_progress_bar_enabled": False,
        }
        if full:
            live = [self.channels[c] for c in guild.channel_ids if not self.channels[c].deleted]
            payload.update(
                {
                    "unavailable": False,
                    "large": False,
                    "joined_at": iso_timestamp(guild.members[self.bot_user.id].joined_at),
                    "member_count": len(guild.members),
                    "channels": [self.channel_payload(c) for c in live if not c.is_thread],
                    "threads": [
                        self.channel_payload(c) for c in live if c.is_thread and not c.archived
                    ],
                    "members": [
                        self.member_payload(guild, m)
                        for m in guild.members.values()
                        if all_members or m.user.id == self.bot_user.id
                    ],
                    "voice_states": [],
                    "presences": [],
                    "stage_instances": [],
                    "guild_scheduled_events": [],
                    "soundboard_sounds": [],
                }
            )
        return payload

    def message_payload(self, message: MessageRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self.user_payload(message.author_id),
            "content": message.content,
            "timestamp": iso_timestamp(message.created_at),
            "edited_timestamp": iso_timestamp(message.edited_at) if message.edited_at else None,
            "tts": message.tts,
            "mention_everyone": message.pinged_everyone,
            "mentions": [self.user_payload(u) for u in message.pinged_users],
            "mention_roles": [str(r) for r in message.pinged_roles],
            "attachments": [a.to_payload() for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": message.pinned,
            "type": message.type,
            "flags": message.flags,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
            guild = self.guilds.get(message.guild_id)
            member = guild.members.get(message.author_id) if guild else None
            if guild and member and message.webhook_id is None:
                payload["member"] = self.member_payload(guild, member, with_user=False)
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
        if message.application_id is not None:
            payload["application_id"] = str(message.application_id)
        if message.message_reference is not None:
            payload["message_reference"] = message.message_reference
        if message.interaction_metadata is not None:
            payload["interaction_metadata"] = message.interaction_metadata
            interaction = self.interactions.get(message.interaction_id or 0)
            if interaction is not None and interaction.name:
                payload["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": interaction.name,
                    "user": self.user_payload(interaction.user_id),
                }
        if message.reactions:
            payload["reactions"] = [
                {
                    "emoji": {"id": None, "name": emoji},
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user.id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in message.reactions.items()
                if users
            ]
        return payload

    # -- commands --

    def registered_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        if guild_id is None:
            return list(self.global_commands.values())
        return list(self.guild_commands.get(guild_id, {}).values())

    def find_command(
        self, name: str, guild_id: int | None, command_type: int = 1
    ) -> dict[str, Any] | None:
        pools = []
        if guild_id is not None:
            pools.append(self.guild_commands.get(guild_id, {}))
        pools.append(self.global_commands)
        for pool in pools:
            for command in pool.values():
                if command["name"] == name and command.get("type", 1) == command_type:
                    return command
        return None

    def new_interaction_token(self) -> str:
        return new_token("aW50ZXJhY3Rpb24")
