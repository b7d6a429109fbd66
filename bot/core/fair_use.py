"""Fair use: may this person ask for `count` more images now? Pure; the caller brings the facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.errors import UserFacingError
from bot.core.text import images as _images
from bot.core.types import GuildSettings, Usage


def day_start(now: float) -> float:
    """Quotas reset at midnight UTC: one moment for everyone, whatever their time zone."""
    today = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


def _at(epoch: float) -> str:
    return f"<t:{int(epoch)}:R>"  # Discord shows it in the reader's own time


def check(settings: GuildSettings, usage: Usage, count: int, *, exempt: bool, now: float) -> None:
    """Raise UserFacingError naming the limit reached and when it resets."""
    tomorrow = (datetime.fromtimestamp(day_start(now), tz=UTC) + timedelta(days=1)).timestamp()
    if settings.daily_budget and usage.server_images_today + count > settings.daily_budget:
        left = max(0, settings.daily_budget - usage.server_images_today)
        raise UserFacingError(
            f"This server's daily limit of {settings.daily_budget} images is reached "
            f"({left} left today). It resets {_at(tomorrow)}."
        )
    if exempt:
        return
    if usage.in_flight + count > settings.max_in_flight:
        raise UserFacingError(
            f"You can have at most {_images(settings.max_in_flight)} being made at once here, and "
            f"you have {usage.in_flight}. Try again when one is finished (see /jobs)."
        )
    if settings.cooldown_seconds and usage.last_request_at is not None:
        ready_at = usage.last_request_at + settings.cooldown_seconds
        if now < ready_at:
            raise UserFacingError(
                f"This server has a {settings.cooldown_seconds} s cooldown between requests. "
                f"You can ask again {_at(ready_at)}."
            )
    if settings.daily_quota and usage.images_today + count > settings.daily_quota:
        left = max(0, settings.daily_quota - usage.images_today)
        raise UserFacingError(
            f"You've reached your daily limit of {settings.daily_quota} images here "
            f"({left} left today). It resets {_at(tomorrow)}."
        )
