"""Forum and media channels: tag and thread rules, as pure functions (resources/channel)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import errors
from .errors import DiscordError, field_error

MAX_AVAILABLE_TAGS = 20
MAX_APPLIED_TAGS = 5
MAX_TAG_NAME = 20
MAX_THREAD_NAME = 100
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)

# JSON error codes (topics/opcodes-and-status-codes).
MAX_PINNED_THREADS = 30047
TAG_REQUIRED = 40067
THREAD_LOCKED = 160005


def _form(path: list[str], code: str, message: str) -> DiscordError:
    tree: dict[str, Any] = field_error(code, message)
    for key in reversed(path):
        tree = {key: tree}
    return errors.invalid_form_body(tree)


def _bad_length(path: list[str], low: int, high: int) -> DiscordError:
    return _form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def too_long(path: list[str], limit: int) -> DiscordError:
    return _form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def required(path: list[str]) -> DiscordError:
    return _form(path, "BASE_TYPE_REQUIRED", "This field is required")


def thread_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_THREAD_NAME:
        raise _bad_length(["name"], 1, MAX_THREAD_NAME)
    return value


def archive_duration(value: Any) -> int:
    if value not in ARCHIVE_DURATIONS:
        raise _form(
            ["auto_archive_duration"],
            "BASE_TYPE_CHOICES",
            f"Value must be one of {set(ARCHIVE_DURATIONS)}.",
        )
    return int(value)


def _snowflake(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalise_tags(
    raw: Any, existing: list[dict[str, Any]], new_id: Callable[[], int]
) -> list[dict[str, Any]]:
    """The new ``available_tags`` of a forum from a PATCH (the list replaces the old one).

    A tag keeps its id when it names an existing tag; any other id is ignored and a new one
    assigned (Discord ignores unknown ids: discord/discord-api-docs#5613).
    """
    if not isinstance(raw, list):
        raise _form(["available_tags"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
    if len(raw) > MAX_AVAILABLE_TAGS:
        raise too_long(["available_tags"], MAX_AVAILABLE_TAGS)
    known = {int(t["id"]): t for t in existing}
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        where = ["available_tags", str(index)]
        if not isinstance(entry, dict):
            raise _form(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        name = entry.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_TAG_NAME:
            raise _bad_length([*where, "name"], 1, MAX_TAG_NAME)
        emoji_id, emoji_name = entry.get("emoji_id"), entry.get("emoji_name")
        if emoji_id is not None and emoji_name is not None:
            raise _form(
                [*where, "emoji_id"],
                "FORUM_TAG_EMOJI_INVALID",
                "At most one of emoji_id and emoji_name may be set.",
            )
        ident = _snowflake(entry.get("id"))
        tag_id = ident if ident in known else new_id()
        out.append(
            {
                "id": str(tag_id),
                "name": name,
                "moderated": bool(entry.get("moderated", False)),
                "emoji_id": str(emoji_id) if emoji_id is not None else None,
                "emoji_name": emoji_name or None,
            }
        )
    return out


def applied_tags(
    raw: Any,
    available: list[dict[str, Any]],
    *,
    can_moderate: bool,
    previous: Iterable[int] = (),
) -> list[int]:
    """Validate ``applied_tags`` for a post: at most 5, each one of the forum's tags.

    Adding or removing a moderated tag needs MANAGE_THREADS (resources/channel, tag object).
    """
    if not isinstance(raw, list):
        raise _form(["applied_tags"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
    if len(raw) > MAX_APPLIED_TAGS:
        raise too_long(["applied_tags"], MAX_APPLIED_TAGS)
    by_id = {int(t["id"]): t for t in available}
    out: list[int] = []
    for index, value in enumerate(raw):
        ident = _snowflake(value)
        if ident is None or ident not in by_id:
            raise _form(
                ["applied_tags", str(index)],
                "FORUM_TAG_UNKNOWN",
                "This tag does not exist in the parent channel.",
            )
        out.append(ident)
    changed = set(out) ^ set(previous)
    if not can_moderate and any(by_id[t]["moderated"] for t in changed if t in by_id):
        raise errors.missing_permissions()
    return out


def tag_required() -> DiscordError:
    message = "A tag is required to create a forum post in this channel"
    return DiscordError(400, TAG_REQUIRED, message)


def too_many_pins() -> DiscordError:
    message = "Maximum number of pinned threads in a forum channel has been reached"
    return DiscordError(400, MAX_PINNED_THREADS, message)


def thread_locked() -> DiscordError:
    return DiscordError(400, THREAD_LOCKED, "Thread is locked")


def pin_outside_forum() -> DiscordError:
    return _form(
        ["flags"], "CHANNEL_FLAGS_INVALID", "PINNED can only be set on threads in forum channels."
    )


def tags_outside_forum() -> DiscordError:
    return _form(
        ["applied_tags"], "CHANNEL_PARENT_INVALID", "Tags can only be applied to forum posts."
    )
