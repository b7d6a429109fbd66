"""The server gallery's rules, as pure functions: who may share, withdraw and hide; which gallery an
image may go to; which votes count and when votes share an image; the periods of /gallery top; and
when the weekly post is due. No Discord, no store: the callers bring the facts.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.core.errors import UserFacingError
from bot.core.limits import (
    DISCORD_MAX_APPLIED_TAGS,
    DISCORD_MAX_FORUM_TAGS,
    DISCORD_TAG_NAME_MAX_CHARS,
    GALLERY_TITLE_MAX_CHARS,
    MAX_CREATED_TAGS,
    SEARCH_MAX_TERMS,
    SEARCH_TERM_MAX_CHARS,
)
from bot.core.types import GalleryPrefs, GuildSettings

DAY = 24 * 60 * 60.0
WEEK = 7 * DAY


class NotShareable(UserFacingError):
    """This image cannot go to any gallery of this server; the text says why."""


# --- who may do what -----------------------------------------------------------------------------


def may_share(actor_id: int, creator_id: int, *, moderator: bool) -> bool:
    """The person who asked for the image, or a moderator (Manage Messages)."""
    return actor_id == creator_id or moderator


def may_withdraw(actor_id: int, creator_id: int) -> bool:
    """Only the creator takes their image back; moderators hide instead."""
    return actor_id == creator_id


def may_hide(*, moderator: bool) -> bool:
    return moderator


def vote_counts(voter_id: int, creator_id: int) -> bool:
    """A member's vote counts for anyone's image but their own."""
    return voter_id != creator_id


# --- where an image may go -----------------------------------------------------------------------


def is_nsfw_image(settings: GuildSettings, *, channel_nsfw: bool) -> bool:
    """Made in an age-restricted channel, or on a server whose results are spoilered."""
    return channel_nsfw or settings.spoiler_results


def gallery_for(
    settings: GuildSettings, *, nsfw_image: bool, nsfw_gallery_is_age_restricted: bool = True
) -> int:
    """The gallery channel this image may be posted to, or NotShareable with the reason. An NSFW
    image goes to the age-restricted gallery only, whatever anyone asks; never to the other."""
    if nsfw_image:
        channel = settings.gallery_nsfw_channel_id
        if channel is None:
            raise NotShareable(
                "This image comes from an age-restricted channel (or this server spoilers its "
                "results), so it may only go to an age-restricted gallery, and this server has "
                "none. An admin can set one with `/imagine-admin gallery nsfw_channel:`."
            )
        if not nsfw_gallery_is_age_restricted:
            raise NotShareable(
                "This image may only go to an age-restricted gallery, and this server's NSFW "
                "gallery is no longer age-restricted. Ask an admin to fix it."
            )
        return channel
    if settings.gallery_channel_id is None:
        raise NotShareable(
            "This server has no gallery yet. An admin can set one with "
            "`/imagine-admin gallery channel:` (a forum or media channel)."
        )
    return settings.gallery_channel_id


def auto_share_due(votes: int, settings: GuildSettings, prefs: GalleryPrefs) -> bool:
    """Votes share an image only when the server turned auto-share on, the image reached its
    count, and its creator allowed it: nobody's image is published without their consent."""
    threshold = settings.auto_share_votes
    return bool(threshold) and votes >= threshold and prefs.auto_share


# --- what a post says ----------------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


def default_title(prompt: str) -> str:
    """A post title from the prompt: one line, within a forum post's name limit."""
    flat = one_line(prompt) or "Untitled"
    if len(flat) <= GALLERY_TITLE_MAX_CHARS:
        return flat
    return flat[: GALLERY_TITLE_MAX_CHARS - 1].rstrip() + "…"


def clean_title(typed: str, prompt: str) -> str:
    """The title someone typed, tidied; empty means the default."""
    flat = one_line(typed)
    return flat[:GALLERY_TITLE_MAX_CHARS] if flat else default_title(prompt)


def model_tag_name(model_id: str, display_name: str | None = None) -> str:
    """A forum tag's name for a model (tags have at most 20 characters): its display name when
    that fits, else the end of its id, which says the most (``...flux-2-klein-4b``)."""
    for name in (display_name, model_id):
        if name and len(name) <= DISCORD_TAG_NAME_MAX_CHARS:
            return name
    tail = model_id[-DISCORD_TAG_NAME_MAX_CHARS:]
    return tail.lstrip("-_./ ") or tail


def tag_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()


def pick_tags(available: dict[str, int], wanted: list[str]) -> list[int]:
    """The ids of the wanted tags the forum has (by name, any case), at most Discord's 5."""
    by_key = {tag_key(name): tag_id for name, tag_id in available.items()}
    picked: list[int] = []
    for name in wanted:
        tag_id = by_key.get(tag_key(name))
        if tag_id is not None and tag_id not in picked:
            picked.append(tag_id)
    return picked[:DISCORD_MAX_APPLIED_TAGS]


def tags_to_create(existing: list[str], wanted: list[str]) -> list[str]:
    """The wanted tag names the forum lacks, a few at most, within Discord's 20 per forum."""
    have = {tag_key(name) for name in existing}
    room = max(0, DISCORD_MAX_FORUM_TAGS - len(existing))
    missing: list[str] = []
    for name in wanted:
        key = tag_key(name)
        if key and key not in have:
            have.add(key)
            missing.append(name[:DISCORD_TAG_NAME_MAX_CHARS])
    return missing[: min(room, MAX_CREATED_TAGS)]


def check_theme(theme: str) -> str:
    """A theme is applied as a forum tag: a short name."""
    name = one_line(theme)
    if not name:
        raise UserFacingError("Give the theme a name, e.g. `space` or `october`.")
    if len(name) > DISCORD_TAG_NAME_MAX_CHARS:
        raise UserFacingError(
            f"A theme becomes a forum tag, and tags have at most {DISCORD_TAG_NAME_MAX_CHARS} "
            f"characters; `{name[:50]}` has {len(name)}."
        )
    return name


# --- search --------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """The words of a search, lower-cased, without operators or punctuation (so no search can
    be malformed): every one must match, the last as a prefix."""
    words = [w.casefold()[:SEARCH_TERM_MAX_CHARS] for w in _WORD.findall(query)]
    return list(dict.fromkeys(words))[:SEARCH_MAX_TERMS]


# --- periods and the weekly post -----------------------------------------------------------------


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ALL = "all"

    @property
    def words(self) -> str:
        return {
            Period.DAY: "of the last 24 hours",
            Period.WEEK: "of the last 7 days",
            Period.MONTH: "of the last 30 days",
            Period.ALL: "of all time",
        }[self]


_PERIOD_SECONDS = {Period.DAY: DAY, Period.WEEK: WEEK, Period.MONTH: 30 * DAY}


def period_start(period: Period, now: float) -> float | None:
    """Shares since when count for ``/gallery top``: a rolling window; None for all time."""
    seconds = _PERIOD_SECONDS.get(period)
    return None if seconds is None else now - seconds


def monday_of(now: float) -> float:
    """Monday 00:00 UTC of the week ``now`` is in."""
    day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=day.weekday())).timestamp()


def weekly_due(now: float, last_monday: float | None) -> float | None:
    """The Monday whose top-of-the-week post is due now, or None. A post is due once per week,
    at the first check on or after Monday 00:00 UTC; ``last_monday`` is the Monday of the last
    post (or of the week the post was turned on in, so turning it on mid-week posts next
    Monday, not at once). After days away (the bot was down) only the latest week is posted."""
    monday = monday_of(now)
    if last_monday is None or last_monday >= monday:
        return None
    return monday


def weekly_window(monday: float) -> tuple[float, float]:
    """The shares a Monday's post covers: the seven days before it."""
    return monday - WEEK, monday


def week_words(monday: float) -> str:
    start, end = weekly_window(monday)
    first = datetime.fromtimestamp(start, tz=UTC)
    last = datetime.fromtimestamp(end - 1, tz=UTC)
    return f"{first:%b} {first.day} – {last:%b} {last.day}, {last.year}"
