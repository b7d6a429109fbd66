"""Creating and editing message records from request payloads (shared by all routes)."""

from __future__ import annotations

from typing import Any

from . import errors
from . import permissions as perms
from .body import UploadedFile
from .records import EPHEMERAL, LOADING, ChannelRecord, InteractionRecord, MessageRecord
from .rules import compute_pings, require_some_content, validate_message
from .state import FakeState

SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2

DEFAULT_PARSE_CHANNEL = ("users", "roles", "everyone")
DEFAULT_PARSE_WEBHOOK = ("users",)


def _as_payload(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise errors.invalid_form_body(
            {"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used"}]}
        )
    return payload


def _attachments(
    state: FakeState,
    channel_id: int,
    payload: dict[str, Any],
    files: list[UploadedFile],
    existing: list[Any],
) -> list[Any]:
    by_index = {f.index: f for f in files}
    described = payload.get("attachments")
    if described is None:
        new = [
            state.store_attachment(f.filename, f.data, f.content_type, channel_id=channel_id)
            for f in files
        ]
        return [*existing, *new]
    kept_ids = {a.id: a for a in existing}
    out: list[Any] = []
    used: set[int] = set()
    for entry in described:
        raw_id = entry.get("id")
        try:
            ident = int(raw_id)
        except (TypeError, ValueError):
            continue
        if ident in kept_ids:
            out.append(kept_ids[ident])
        elif ident in by_index:
            upload = by_index[ident]
            used.add(ident)
            out.append(
                state.store_attachment(
                    entry.get("filename") or upload.filename,
                    upload.data,
                    upload.content_type,
                    channel_id=channel_id,
                    description=entry.get("description"),
                )
            )
    for upload in files:
        if upload.index not in used:
            out.append(
                state.store_attachment(
                    upload.filename, upload.data, upload.content_type, channel_id=channel_id
                )
            )
    return out


def _pings(
    state: FakeState,
    channel: ChannelRecord,
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    default_parse: tuple[str, ...],
    author_perms: int,
    replied_user: int | None,
) -> tuple[list[int], list[int], bool]:
    guild = state.guild_of(channel)
    if guild is not None:
        known = set(guild.members)
        mentionable = {r.id for r in guild.roles.values() if r.mentionable}
    else:
        known = {channel.recipient_id or 0, state.bot_user.id}
        mentionable = set()
    pings = compute_pings(
        content,
        allowed_mentions,
        default_parse=default_parse,
        mentionable_roles=mentionable,
        can_mention_everyone=bool(author_perms & perms.MENTION_EVERYONE) and guild is not None,
        known_users=known | set(state.users),
        replied_user=replied_user,
    )
    return pings.users, pings.roles, pings.everyone


def create_message(
    state: FakeState,
    channel: ChannelRecord,
    payload: Any,
    files: list[UploadedFile],
    *,
    webhook: bool,
    interaction: InteractionRecord | None = None,
    message_type: int = 0,
    extra_flags: int = 0,
    allow_empty: bool = False,
) -> MessageRecord:
    """Validate ``payload`` like Discord and build (but do not store) the message."""
    data = _as_payload(payload)
    validate_message(
        data,
        [(f.filename, f.data) for f in files],
        upload_limit=state.upload_limit,
        is_components_v2=bool(int(data.get("flags") or 0) & COMPONENTS_V2),
    )
    if not allow_empty:
        require_some_content(data, len(files))
    now = state.clock.now()
    flags = (int(data.get("flags") or 0) & (_SETTABLE_FLAGS | EPHEMERAL)) | extra_flags
    if not webhook:
        flags &= ~EPHEMERAL
    reference = data.get("message_reference")
    replied_user = None
    if reference:
        ref_id = int(reference.get("message_id", 0))
        ref = state.messages_by_id.get(ref_id)
        if (
            ref is None
            or ref.deleted
            or ref.channel_id != int(reference.get("channel_id") or channel.id)
        ):
            if reference.get("fail_if_not_exists", True):
                raise errors.invalid_form_body(
                    {
                        "message_reference": errors.field_error(
                            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                        )
                    }
                )
            reference = None
        else:
            reference = {
                "type": int(reference.get("type", 0)),
                "message_id": str(ref.id),
                "channel_id": str(ref.channel_id),
                **({"guild_id": str(ref.guild_id)} if ref.guild_id else {}),
            }
            replied_user = ref.author_id
            if message_type == 0:
                message_type = 19
    content = str(data.get("content") or "")
    allowed = data.get("allowed_mentions")
    users, roles, everyone = _pings(
        state,
        channel,
        content,
        allowed,
        default_parse=DEFAULT_PARSE_WEBHOOK if webhook else DEFAULT_PARSE_CHANNEL,
        author_perms=state.bot_permissions_in(channel),
        replied_user=replied_user,
    )
    message = MessageRecord(
        id=state.ids.next(),
        channel_id=channel.id,
        guild_id=channel.guild_id,
        author_id=state.bot_user.id,
        content=content,
        embeds=list(data.get("embeds") or []),
        components=list(data.get("components") or []),
        allowed_mentions=allowed,
        pinged_users=users,
        pinged_roles=roles,
        pinged_everyone=everyone,
        flags=flags,
        message_reference=reference,
        nonce=data.get("nonce"),
        type=message_type,
        tts=bool(data.get("tts", False)),
        created_at=now,
    )
    message.attachments = _attachments(state, channel.id, data, files, [])
    if webhook:
        message.webhook_id = state.application_id
        message.application_id = state.application_id
    if interaction is not None:
        message.interaction_id = interaction.id
        message.interaction_metadata = interaction_metadata(state, interaction)
        if flags & EPHEMERAL:
            message.visible_to = interaction.user_id
    message.history.append({"time": now, "payload": data})
    return message


def edit_message(
    state: FakeState,
    message: MessageRecord,
    payload: Any,
    files: list[UploadedFile],
    *,
    webhook: bool,
) -> None:
    """Apply a PATCH to ``message`` (only the keys present change), Discord-style."""
    data = _as_payload(payload)
    channel = state.channels[message.channel_id]
    merged_attachments = data.get("attachments")
    check = dict(data)
    if merged_attachments is None and files:
        check["attachments"] = [{"id": a.id} for a in message.attachments] + [
            {"id": f.index} for f in files
        ]
    validate_message(
        check,
        [(f.filename, f.data) for f in files],
        upload_limit=state.upload_limit,
        is_components_v2=bool(message.flags & COMPONENTS_V2),
    )
    if "content" in data:
        message.content = str(data["content"] or "")
    if "embeds" in data:
        message.embeds = list(data["embeds"] or [])
    if "components" in data:
        message.components = list(data["components"] or [])
    if "flags" in data and data["flags"] is not None:
        keep = message.flags & (EPHEMERAL | COMPONENTS_V2)
        message.flags = keep | (int(data["flags"]) & _SETTABLE_FLAGS)
    if "attachments" in data or files:
        message.attachments = _attachments(state, channel.id, data, files, message.attachments)
    if "allowed_mentions" in data:
        message.allowed_mentions = data["allowed_mentions"]
    was_loading = message.loading
    message.flags &= ~LOADING
    if "content" in data or "allowed_mentions" in data:
        replied = None
        if message.message_reference:
            ref = state.messages_by_id.get(int(message.message_reference["message_id"]))
            replied = ref.author_id if ref else None
        users, roles, everyone = _pings(
            state,
            channel,
            message.content,
            message.allowed_mentions,
            default_parse=DEFAULT_PARSE_WEBHOOK if webhook else DEFAULT_PARSE_CHANNEL,
            author_perms=state.bot_permissions_in(channel),
            replied_user=replied,
        )
        if was_loading:
            # Completing a deferred response notifies like a new message.
            message.pinged_users, message.pinged_roles, message.pinged_everyone = (
                users,
                roles,
                everyone,
            )
        else:
            # Edits never re-notify; record only who is still mentioned.
            message.pinged_users = [u for u in users if u in message.pinged_users]
            message.pinged_roles = [r for r in roles if r in message.pinged_roles]
            message.pinged_everyone = everyone and message.pinged_everyone
    now = state.clock.now()
    if not was_loading:
        message.edits += 1
        message.edited_at = now
    message.history.append({"time": now, "payload": data})


def interaction_metadata(state: FakeState, interaction: InteractionRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": str(interaction.id),
        "type": interaction.type,
        "user": state.user_payload(interaction.user_id),
        "authorizing_integration_owners": interaction.payload.get(
            "authorizing_integration_owners", {}
        ),
    }
    if interaction.name:
        meta["name"] = interaction.name
    if interaction.original is not None:
        meta["original_response_message_id"] = str(interaction.original.id)
    if interaction.message_id is not None and interaction.type == 3:
        meta["interacted_message_id"] = str(interaction.message_id)
    return meta
