"""Which rate limits the stand-in enforces: the permissive default, or Discord's own numbers.

Discord does not publish per-route numbers; these are the ones bots observe and report
(see shared/discord-notes.md, section 4): message create and edit 5 per 5 s per channel,
interaction webhooks 5 per 2 s per token plus about 30 per minute per channel for
follow-ups (a "shared" resource limit), and 50 requests/s globally per bot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Route keys are "METHOD /route/template", e.g. "POST /channels/{channel_id}/messages".
CREATE_MESSAGE = "POST /channels/{channel_id}/messages"
EDIT_MESSAGE = "PATCH /channels/{channel_id}/messages/{message_id}"
FOLLOWUP = "POST /webhooks/{application_id}/{token}"
WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"
CALLBACK = "POST /interactions/{interaction_id}/{token}/callback"

#: Interaction endpoints are not bound to the bot's global limit (topics/rate-limits).
GLOBAL_EXEMPT_PREFIXES = ("/webhooks/", "/interactions/")


@dataclass(frozen=True)
class RouteLimit:
    """``limit`` requests per ``per`` seconds, per major parameter.

    Routes given the same ``bucket`` name draw on one bucket and report one
    ``X-RateLimit-Bucket`` hash, as Discord does for routes that share a limit.
    """

    limit: int
    per: float
    bucket: str | None = None


@dataclass(frozen=True)
class SharedLimit:
    """A per-resource limit (``X-RateLimit-Scope: shared``); the resource is a channel."""

    limit: int
    per: float
    name: str = "shared"


@dataclass
class LimitsConfig:
    default: RouteLimit = field(default_factory=lambda: RouteLimit(50, 1.0))
    routes: dict[str, RouteLimit] = field(default_factory=dict)
    shared: dict[str, SharedLimit] = field(default_factory=dict)
    global_limit: RouteLimit | None = None
    #: Routes Discord does not rate-limit at all (no bucket, no headers).
    exempt: frozenset[str] = frozenset({CALLBACK})
    #: Every window is multiplied by this, so a test can run Discord's counts in less time.
    time_scale: float = 1.0


def _webhook_routes(limit: RouteLimit) -> dict[str, RouteLimit]:
    # Follow-ups and @original edits share one bucket per interaction token.
    return {
        FOLLOWUP: limit,
        f"GET {WEBHOOK_MESSAGE}": limit,
        f"PATCH {WEBHOOK_MESSAGE}": limit,
        f"DELETE {WEBHOOK_MESSAGE}": limit,
    }


def discord_limits(time_scale: float = 1.0) -> LimitsConfig:
    """Discord's per-channel, per-interaction and global limits."""
    return LimitsConfig(
        routes={
            CREATE_MESSAGE: RouteLimit(5, 5.0, "channel-message-create"),
            EDIT_MESSAGE: RouteLimit(5, 5.0, "channel-message-edit"),
            **_webhook_routes(RouteLimit(5, 2.0, "interaction-webhook")),
        },
        shared={FOLLOWUP: SharedLimit(30, 60.0, "channel-webhook-messages")},
        global_limit=RouteLimit(50, 1.0, "global"),
        time_scale=time_scale,
    )


def route_key(method: str, route: str) -> str:
    return f"{method.upper()} {route}"
