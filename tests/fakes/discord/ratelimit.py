"""Per-route, shared and global buckets that answer with Discord's headers, plus 429s on demand.

Buckets are fixed windows on real monotonic time (discord.py sleeps in real time): the
first request after a reset opens a window of ``per`` seconds allowing ``limit`` requests.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .limits import GLOBAL_EXEMPT_PREFIXES, LimitsConfig, RouteLimit, SharedLimit, route_key

USER, SHARED, GLOBAL = "user", "shared", "global"
LIMITED = "You are being rate limited."
RESOURCE_LIMITED = "The resource is being rate limited."


@dataclass
class ForcedLimit:
    method: str
    pattern: re.Pattern[str]
    times: int
    retry_after: float
    global_: bool
    hits: int = 0


@dataclass(frozen=True)
class RateLimitHit:
    """One 429 the stand-in answered (``forced`` = injected with ``rate_limit``)."""

    method: str
    route: str
    path: str
    scope: str
    bucket: str
    retry_after: float
    forced: bool
    time: float

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


@dataclass
class Verdict:
    headers: dict[str, str]
    retry_after: float | None = None
    global_: bool = False
    scope: str = USER
    message: str = LIMITED


@dataclass
class _Window:
    limit: int
    per: float
    reset_at: float = 0.0
    used: int = 0

    def roll(self, now: float, limit: int, per: float) -> None:
        if now >= self.reset_at:
            self.limit, self.per = limit, per
            self.used = 0
            self.reset_at = now + per

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def reset_after(self, now: float) -> float:
        # Rounded up to the millisecond so a client that waits this long finds it reset.
        return math.ceil(max(self.reset_at - now, 0.0) * 1000) / 1000


def bucket_hash(name: str) -> str:
    """Opaque and stable per bucket, the same for every channel (top-level resources excluded)."""
    return hashlib.sha1(name.encode()).hexdigest()[:16]


class RateLimiter:
    """Decides, per request, whether it goes through and which headers it carries.

    ``config`` holds the limits (permissive by default; see ``limits.discord_limits``);
    ``route_limits`` are per-route overrides (``FakeDiscord.set_route_limit``).
    """

    def __init__(
        self,
        config: LimitsConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or LimitsConfig()
        self.route_limits: dict[str, RouteLimit | tuple[int, float]] = {}
        self.enforce = True
        self.forced: list[ForcedLimit] = []
        self.hits: list[RateLimitHit] = []
        self._windows: dict[str, _Window] = {}
        self._now = monotonic

    # -- configuration --

    def configure(self, config: LimitsConfig) -> None:
        self.config = config
        self._windows.clear()

    def force(
        self,
        method: str,
        path_regex: str,
        *,
        times: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
    ) -> ForcedLimit:
        rule = ForcedLimit(method.upper(), re.compile(path_regex), times, retry_after, global_)
        self.forced.append(rule)
        return rule

    # -- counters --

    @property
    def issued(self) -> int:
        return len(self.hits)

    def by_route(self) -> dict[str, int]:
        return dict(Counter(h.key for h in self.hits))

    def by_scope(self) -> dict[str, int]:
        return dict(Counter(h.scope for h in self.hits))

    # -- the decision --

    def _route_limit(self, key: str) -> RouteLimit:
        override = self.route_limits.get(key)
        if isinstance(override, tuple):
            return RouteLimit(*override)
        if override is not None:
            return override
        return self.config.routes.get(key, self.config.default)

    def _window(self, name: str, limit: int, per: float, now: float) -> _Window:
        window = self._windows.setdefault(name, _Window(limit, per))
        window.roll(now, limit, per * self.config.time_scale)
        return window

    def check(
        self, method: str, path: str, route: str, major: str, *, resource: str | None = None
    ) -> Verdict:
        """``major`` keys the route bucket; ``resource`` (a channel id) keys shared limits."""
        now = self._now()
        key = route_key(method, route)
        forced = self._forced(method, path)
        if forced is None and key in self.config.exempt:
            return Verdict(headers={})
        limit = self._route_limit(key)
        name = limit.bucket or key
        digest = bucket_hash(name)
        window = self._window(f"{name}:{major}", limit.limit, limit.per, now)
        if forced is not None:
            forced.times -= 1
            forced.hits += 1
            if forced.global_:
                retry = forced.retry_after
                return self._limited(method, route, path, GLOBAL, "global", retry, {}, True)
            retry = forced.retry_after
            headers = self._headers(window, digest, retry, remaining=0)
            return self._limited(method, route, path, USER, digest, retry, headers, True)
        if not self.enforce:
            window.used += 1
            return Verdict(headers=self._headers(window, digest, window.reset_after(now)))
        glob = self.config.global_limit
        if glob is not None and not path.startswith(GLOBAL_EXEMPT_PREFIXES):
            # Every request counts against the global limit, whatever its route says.
            gwin = self._window("global", glob.limit, glob.per, now)
            if gwin.used >= gwin.limit:
                return self._limited(
                    method, route, path, GLOBAL, "global", gwin.reset_after(now), {}
                )
            gwin.used += 1
        if window.used >= window.limit:
            retry = window.reset_after(now)
            headers = self._headers(window, digest, retry)
            return self._limited(method, route, path, USER, digest, retry, headers)
        shared = self._shared_window(key, resource, now)
        if shared is not None and shared.used >= shared.limit:
            # Discord sends the route's own headers (Remaining may be > 0) with scope shared.
            retry = shared.reset_after(now)
            headers = self._headers(window, digest, window.reset_after(now))
            return self._limited(method, route, path, SHARED, digest, retry, headers)
        window.used += 1
        if shared is not None:
            shared.used += 1
        return Verdict(headers=self._headers(window, digest, window.reset_after(now)))

    def _forced(self, method: str, path: str) -> ForcedLimit | None:
        for rule in self.forced:
            if rule.times > 0 and rule.method in (method, "*") and rule.pattern.search(path):
                return rule
        return None

    def _shared_window(self, key: str, resource: str | None, now: float) -> _Window | None:
        rule: SharedLimit | None = self.config.shared.get(key)
        if rule is None or not resource:
            return None
        return self._window(f"shared:{rule.name}:{resource}", rule.limit, rule.per, now)

    def _limited(
        self,
        method: str,
        route: str,
        path: str,
        scope: str,
        bucket: str,
        retry_after: float,
        headers: dict[str, str],
        forced: bool = False,
    ) -> Verdict:
        retry_after = round(retry_after, 3)
        self.hits.append(
            RateLimitHit(method, route, path, scope, bucket, retry_after, forced, time.time())
        )
        return Verdict(
            headers=headers,
            retry_after=retry_after,
            global_=scope == GLOBAL,
            scope=scope,
            message=RESOURCE_LIMITED if scope == SHARED else LIMITED,
        )

    @staticmethod
    def _headers(
        window: _Window, digest: str, reset_after: float, remaining: int | None = None
    ) -> dict[str, str]:
        left = window.remaining if remaining is None else remaining
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(left, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": digest,
        }


def limited_headers(verdict: Verdict) -> dict[str, str]:
    """The headers of a 429: the bucket's, plus Retry-After, scope and (global) the flag."""
    assert verdict.retry_after is not None
    headers = {
        **verdict.headers,
        "Retry-After": str(max(1, math.ceil(verdict.retry_after))),
        "X-RateLimit-Scope": verdict.scope,
        # discord.py treats a 429 without Via as a Cloudflare ban.
        "Via": "1.1 google",
    }
    if verdict.global_:
        headers["X-RateLimit-Global"] = "true"
    return headers


def limited_body(verdict: Verdict) -> dict[str, Any]:
    return {
        "message": verdict.message,
        "retry_after": verdict.retry_after,
        "global": verdict.global_,
    }
