"""Fair use: may this person ask for `count` more images, and must they wait their turn? Pure;
the caller brings the facts.

Quotas and budgets are about cost: past them a request is refused. The images-at-once limit is
about order: past it a request waits its turn in the bot's line (up to a per-person cap on
images waiting), and starts when one of the person's own images finishes."""

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
    """Raise UserFacingError naming the limit reached and when it resets (waiting images count:
    the line cannot be used to get around a quota)."""
    tomorrow = (datetime.fromtimestamp(day_start(now), tz=UTC) + timedelta(days=1)).timestamp()
    if settings.daily_budget and usage.server_images_today + count > settings.daily_budget:
        left = max(0, settings.daily_budget - usage.server_images_today)
        raise UserFacingError(
            f"This server's daily limit of {settings.daily_budget} images is reached "
            f"({left} left today). It resets {_at(tomorrow)}."
        )
    if exempt:
        return
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


def owner_limit(settings: GuildSettings, *, exempt: bool) -> int:
    """The person's images-at-once limit here; 0 (none) for exempt roles."""
    return 0 if exempt else settings.max_in_flight


def waits_for_own(usage: Usage, count: int, limit: int) -> bool:
    """Whether the request must wait for the person's own images: they have requests waiting
    already (theirs go in the order they asked), or this one would take them past their limit
    (0: none). A request larger than the limit runs alone when they have nothing at Oxen."""
    if limit <= 0:
        return False  # exempt: no per-person limit to wait for
    if usage.waiting:
        return True
    return usage.in_flight > 0 and usage.in_flight + count > limit


def check_waiting(settings: GuildSettings, usage: Usage, count: int, *, exempt: bool) -> None:
    """Raise UserFacingError if the request may not wait: the person's waiting cap. With
    nothing of theirs waiting, one request larger than the cap may still wait, as one larger
    than the at-once limit runs alone; a cap of 0 lets nothing wait."""
    if exempt or usage.waiting + count <= settings.max_waiting:
        return
    if usage.waiting == 0 and settings.max_waiting > 0:
        return
    if settings.max_waiting == 0:
        why = (
            f"you have {_images(usage.in_flight)} being made here. Ask again when one finishes."
            if usage.in_flight
            else "the bot is making as many images as it can right now. Please try again in a "
            "minute."
        )
        raise UserFacingError(f"This server lets no request wait its turn, and {why}")
    raise UserFacingError(
        f"You already have {_images(usage.waiting)} waiting their turn here, and "
        f"{_images(settings.max_waiting)} is the most that may wait. They will all run as yours "
        f"finish (see /jobs); ask for this one once some of them have started."
    )
