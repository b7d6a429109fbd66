"""Per-route buckets with Discord's headers, plus 429s on demand."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field


@dataclass
class ForcedLimit:
    method: str
    pattern: re.Pattern[str]
    times: int
    retry_after: float
    global_: bool
    hits: int = 0


@dataclass
class _Bucket:
    limit: int
    window: float
    reset_at: float = 0.0
    used: int = 0


@dataclass
class Verdict:
    headers: dict[str, str]
    retry_after: float | None = None
    global_: bool = False
    scope: str = "user"


@dataclass
class RateLimiter:
    """``default`` applies to every route; ``route_limits`` overrides by route template.

    Buckets run on real monotonic time: discord.py sleeps in real time.
    """

    default: tuple[int, float] = (50, 1.0)
    route_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    enforce: bool = True
    forced: list[ForcedLimit] = field(default_factory=list)
    issued: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

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

    def check(self, method: str, path: str, route: str, major: str) -> Verdict:
        key = f"{method} {route}"
        limit, window = self.route_limits.get(key, self.default)
        bucket_hash = hashlib.sha1(key.encode()).hexdigest()[:16]
        now = time.monotonic()
        bucket = self._buckets.setdefault(f"{key}:{major}", _Bucket(limit, window))
        if now >= bucket.reset_at:
            bucket.used = 0
            bucket.reset_at = now + window
        for rule in self.forced:
            if rule.times > 0 and rule.method in (method, "*") and rule.pattern.search(path):
                rule.times -= 1
                rule.hits += 1
                self.issued += 1
                return Verdict(
                    headers=self._headers(bucket, bucket_hash, rule.retry_after, remaining=0),
                    retry_after=rule.retry_after,
                    global_=rule.global_,
                    scope="global" if rule.global_ else "user",
                )
        reset_after = max(bucket.reset_at - now, 0.0)
        if self.enforce and bucket.used >= bucket.limit:
            self.issued += 1
            return Verdict(
                headers=self._headers(bucket, bucket_hash, reset_after, remaining=0),
                retry_after=round(reset_after, 3),
            )
        bucket.used += 1
        return Verdict(
            headers=self._headers(bucket, bucket_hash, reset_after, bucket.limit - bucket.used)
        )

    @staticmethod
    def _headers(
        bucket: _Bucket, bucket_hash: str, reset_after: float, remaining: int
    ) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash,
        }
