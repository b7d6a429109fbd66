"""Discord permission bits and the per-channel computation (topics/permissions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

ALL = (1 << 53) - 1

#: What the @everyone role of a new guild gets in the stand-in.
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)

#: Text permissions Discord removes implicitly when SEND_MESSAGES is denied.
_NEEDS_SEND = MENTION_EVERYONE | SEND_TTS_MESSAGES | ATTACH_FILES | EMBED_LINKS


@dataclass(frozen=True)
class Overwrite:
    target_id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> dict[str, object]:
        return {
            "id": str(self.target_id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    member_id: int,
    role_permissions: Mapping[int, int],
    member_roles: Iterable[int],
) -> int:
    """Guild-level permissions: @everyone (role id == guild id) OR the member's roles."""
    if member_id == owner_id:
        return ALL
    perms = role_permissions.get(guild_id, 0)
    for role_id in member_roles:
        perms |= role_permissions.get(role_id, 0)
    if perms & ADMINISTRATOR:
        return ALL
    return perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    member_id: int,
    member_roles: Iterable[int],
    overwrites: Iterable[Overwrite],
    is_thread: bool = False,
) -> int:
    """Apply overwrites in Discord's order: @everyone, roles (summed), then the member."""
    if base & ADMINISTRATOR:
        return ALL
    by_target = {(o.type, o.target_id): o for o in overwrites}
    perms = base
    everyone = by_target.get((0, guild_id))
    if everyone:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member_roles:
        o = by_target.get((0, role_id))
        if o:
            allow |= o.allow
            deny |= o.deny
    perms = (perms & ~deny) | allow
    member = by_target.get((1, member_id))
    if member:
        perms = (perms & ~member.deny) | member.allow
    if not perms & VIEW_CHANNEL:
        return 0
    send_bit = SEND_MESSAGES_IN_THREADS if is_thread else SEND_MESSAGES
    if not perms & send_bit:
        perms &= ~_NEEDS_SEND
    return perms
