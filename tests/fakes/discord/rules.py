"""Discord's message limits and mention rules, as pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import DiscordError, field_error

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ATTACHMENTS = 10
MAX_FILENAME = 1024
MAX_EMBED_TOTAL = 6000
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
MAX_CUSTOM_ID = 100
MAX_ACTION_ROWS = 5
NONCE_WINDOW = 5 * 60.0
INITIAL_RESPONSE_WINDOW = 3.0
TOKEN_LIFETIME = 15 * 60.0

_EMBED_LIMITS = {"title": 256, "description": 4096}


def _max_len(limit: int) -> dict[str, Any]:
    return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _embed_errors(embed: dict[str, Any]) -> dict[str, Any]:
    errs: dict[str, Any] = {}
    total = 0
    for key, limit in _EMBED_LIMITS.items():
        value = embed.get(key) or ""
        total += len(value)
        if len(value) > limit:
            errs[key] = _max_len(limit)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errs["fields"] = _max_len(25)
    field_errs: dict[str, Any] = {}
    for index, fld in enumerate(fields):
        one: dict[str, Any] = {}
        name, value = str(fld.get("name", "")), str(fld.get("value", ""))
        total += len(name) + len(value)
        if len(name) > 256:
            one["name"] = _max_len(256)
        if len(value) > 1024:
            one["value"] = _max_len(1024)
        if not name or not value:
            one.setdefault(
                "name" if not name else "value",
                field_error("BASE_TYPE_REQUIRED", "This field is required"),
            )
        if one:
            field_errs[str(index)] = one
    if field_errs and "fields" not in errs:
        errs["fields"] = field_errs
    footer = (embed.get("footer") or {}).get("text") or ""
    total += len(footer)
    if len(footer) > 2048:
        errs["footer"] = {"text": _max_len(2048)}
    author = (embed.get("author") or {}).get("name") or ""
    total += len(author)
    if len(author) > 256:
        errs["author"] = {"name": _max_len(256)}
    if total > MAX_EMBED_TOTAL and not errs:
        errs.update(
            field_error("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        )
    return errs


def embed_total(embeds: Sequence[dict[str, Any]]) -> int:
    total = 0
    for embed in embeds:
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
        for fld in embed.get("fields") or []:
            total += len(str(fld.get("name", ""))) + len(str(fld.get("value", "")))
    return total


def _component_errors(components: Sequence[dict[str, Any]]) -> dict[str, Any]:
    errs: dict[str, Any] = {}
    seen: set[str] = set()

    def walk(component: dict[str, Any], path: list[str]) -> None:
        if "custom_id" in component:
            custom_id = component["custom_id"]
            if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                _set(errs, [*path, "custom_id"], _max_len(MAX_CUSTOM_ID))
            elif custom_id in seen:
                _set(
                    errs,
                    [*path, "custom_id"],
                    field_error(
                        "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                    ),
                )
            else:
                seen.add(custom_id)
        for index, child in enumerate(component.get("components") or []):
            walk(child, [*path, "components", str(index)])
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            walk(accessory, [*path, "accessory"])

    for index, component in enumerate(components):
        walk(component, [str(index)])
    return errs


def _set(tree: dict[str, Any], path: list[str], leaf: dict[str, Any]) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = leaf


def validate_message(
    payload: dict[str, Any],
    files: Sequence[tuple[str, bytes]],
    *,
    upload_limit: int,
    is_components_v2: bool = False,
) -> None:
    """Raise the DiscordError Discord would return for this create/edit payload."""
    for _, data in files:
        if len(data) > upload_limit:
            raise errors.request_too_large()
    kept = [a for a in payload.get("attachments") or [] if isinstance(a, dict)]
    if max(len(files), len(kept)) > MAX_ATTACHMENTS:
        raise errors.too_many_attachments()
    errs: dict[str, Any] = {}
    content = payload.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        errs["content"] = _max_len(MAX_CONTENT)
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errs["embeds"] = _max_len(MAX_EMBEDS)
    else:
        embed_errs = {str(i): e for i, e in enumerate(map(_embed_errors, embeds)) if e}
        if embed_errs:
            errs["embeds"] = embed_errs
        elif embed_total(embeds) > MAX_EMBED_TOTAL:
            errs["embeds"] = field_error(
                "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
    components = payload.get("components") or []
    if not is_components_v2 and len(components) > MAX_ACTION_ROWS:
        errs["components"] = _max_len(MAX_ACTION_ROWS)
    comp_errs = _component_errors(components)
    if comp_errs:
        errs.setdefault("components", {}).update(comp_errs)
    for index, (name, _) in enumerate(files):
        if len(name) > MAX_FILENAME:
            errs.setdefault("files", {})[str(index)] = {"filename": _max_len(MAX_FILENAME)}
    for index, att in enumerate(kept):
        kept_name = att.get("filename")
        if isinstance(kept_name, str) and len(kept_name) > MAX_FILENAME:
            errs.setdefault("attachments", {})[str(index)] = {"filename": _max_len(MAX_FILENAME)}
    if errs:
        raise errors.invalid_form_body(errs)


def require_some_content(payload: dict[str, Any], n_attachments: int) -> None:
    if not (
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or n_attachments
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")


_USER_RE = re.compile(r"<@!?(\d+)>")
_ROLE_RE = re.compile(r"<@&(\d+)>")
_EVERYONE_RE = re.compile(r"@(everyone|here)")


@dataclass(frozen=True)
class Pings:
    users: list[int]
    roles: list[int]
    everyone: bool


def compute_pings(
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    default_parse: Iterable[str],
    mentionable_roles: set[int],
    can_mention_everyone: bool,
    known_users: set[int],
    replied_user: int | None = None,
) -> Pings:
    """Who would be notified, following the Allowed Mentions rules."""
    users_in = [int(u) for u in _USER_RE.findall(content or "")]
    roles_in = [int(r) for r in _ROLE_RE.findall(content or "")]
    everyone_in = bool(_EVERYONE_RE.search(content or ""))
    if allowed_mentions is None:
        parse = set(default_parse)
        allow_users: set[int] = set()
        allow_roles: set[int] = set()
        ping_reply = True
    else:
        parse = set(allowed_mentions.get("parse") or [])
        allow_users = {int(u) for u in allowed_mentions.get("users") or []}
        allow_roles = {int(r) for r in allowed_mentions.get("roles") or []}
        ping_reply = bool(allowed_mentions.get("replied_user", False))
    users: list[int] = []
    for uid in users_in:
        if uid in known_users and ("users" in parse or uid in allow_users) and uid not in users:
            users.append(uid)
    if replied_user is not None and ping_reply and replied_user not in users:
        users.append(replied_user)
    roles: list[int] = []
    for rid in roles_in:
        allowed = "roles" in parse or rid in allow_roles
        if allowed and (rid in mentionable_roles or can_mention_everyone) and rid not in roles:
            roles.append(rid)
    everyone = everyone_in and "everyone" in parse and can_mention_everyone
    return Pings(users=users, roles=roles, everyone=everyone)
