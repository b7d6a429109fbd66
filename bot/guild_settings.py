"""Per-server settings that admins change at run time with /imagine-admin (kept in the store)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class GuildSettings:
    max_in_flight: int = 2  # per user, images being made at once
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuildSettings:
        """Unknown keys (from a newer bot) are ignored; missing ones take their defaults."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def describe(self) -> dict[str, str]:
        """Each setting as an admin reads it, for /imagine-admin show and before/after."""
        return {
            "Images at once per user": str(self.max_in_flight),
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
        }


@dataclass(frozen=True)
class Usage:
    """What a user (and their server) has used, counted from the job store (survives restarts)."""

    in_flight: int = 0
    images_today: int = 0
    last_request_at: float | None = None
    server_images_today: int = 0
