"""The gallery's rules (bot.core.gallery), the bookkeeping around votes and auto-share
(bot.core.sharing) and the weekly post's schedule (WeeklyTop, on a moved clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.core.errors import UserFacingError
from bot.core.gallery import (
    WEEK,
    NotShareable,
    Period,
    auto_share_due,
    check_theme,
    clean_title,
    default_title,
    gallery_for,
    is_nsfw_image,
    may_hide,
    may_share,
    may_withdraw,
    model_tag_name,
    monday_of,
    period_start,
    pick_tags,
    search_terms,
    tags_to_create,
    vote_counts,
    week_words,
    weekly_due,
    weekly_window,
)
from bot.core.sharing import Sharing, WeeklyTop, check_shareable
from bot.core.types import GalleryPrefs, GuildSettings, Job, JobStatus, NewShare
from bot.store.sqlite import SqliteStore

ALICE, BOB, MOD = 1, 2, 3
GALLERY, NSFW_GALLERY = 100, 200


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- who may do what ---------------------------------------------------------------------------


def test_the_creator_or_a_moderator_may_share():
    assert may_share(ALICE, ALICE, moderator=False)
    assert may_share(MOD, ALICE, moderator=True)
    assert not may_share(BOB, ALICE, moderator=False)


def test_only_the_creator_withdraws_and_only_moderators_hide():
    assert may_withdraw(ALICE, ALICE)
    assert not may_withdraw(MOD, ALICE)  # moderators hide instead
    assert not may_withdraw(BOB, ALICE)
    assert may_hide(moderator=True) and not may_hide(moderator=False)


def test_the_creators_own_vote_does_not_count():
    assert vote_counts(BOB, ALICE)
    assert not vote_counts(ALICE, ALICE)


# --- where an image may go ---------------------------------------------------------------------


def test_a_safe_image_goes_to_the_gallery():
    settings = GuildSettings(gallery_channel_id=GALLERY, gallery_nsfw_channel_id=NSFW_GALLERY)
    assert gallery_for(settings, nsfw_image=False) == GALLERY


def test_no_gallery_says_how_to_set_one():
    with pytest.raises(NotShareable, match="/imagine-admin gallery"):
        gallery_for(GuildSettings(), nsfw_image=False)


def test_an_nsfw_image_goes_only_to_the_age_restricted_gallery():
    both = GuildSettings(gallery_channel_id=GALLERY, gallery_nsfw_channel_id=NSFW_GALLERY)
    assert gallery_for(both, nsfw_image=True) == NSFW_GALLERY
    only_normal = GuildSettings(gallery_channel_id=GALLERY)
    with pytest.raises(NotShareable, match="age-restricted"):
        gallery_for(only_normal, nsfw_image=True)  # never falls back to the normal one
    with pytest.raises(NotShareable, match="no longer age-restricted"):
        gallery_for(both, nsfw_image=True, nsfw_gallery_is_age_restricted=False)


def test_an_image_is_nsfw_from_an_age_restricted_channel_or_a_spoilered_server():
    assert is_nsfw_image(GuildSettings(), channel_nsfw=True)
    assert is_nsfw_image(GuildSettings(spoiler_results=True), channel_nsfw=False)
    assert not is_nsfw_image(GuildSettings(), channel_nsfw=False)


# --- consent ----------------------------------------------------------------------------------


def test_auto_share_needs_the_server_count_and_the_creators_consent():
    on = GuildSettings(auto_share_votes=3)
    consent = GalleryPrefs(auto_share=True)
    assert auto_share_due(3, on, consent)
    assert auto_share_due(5, on, consent)
    assert not auto_share_due(2, on, consent)
    assert not auto_share_due(10, on, GalleryPrefs())  # no consent: never
    assert not auto_share_due(10, GuildSettings(), consent)  # the server has it off


# --- titles, tags, themes and search -------------------------------------------------------------


def test_titles_come_from_the_prompt_within_a_posts_name_limit():
    assert default_title("a  red\ncube") == "a red cube"
    long = default_title("word " * 60)
    assert len(long) == 100 and long.endswith("…")
    assert clean_title("   ", "a red cube") == "a red cube"
    assert clean_title(" My  cube ", "a red cube") == "My cube"
    assert default_title("") == "Untitled"


def test_model_tags_fit_discords_20_characters():
    assert model_tag_name("black-forest-labs-flux-2-klein-4b", "FLUX.2 [klein] 4B") == (
        "FLUX.2 [klein] 4B"
    )
    tail = model_tag_name("black-forest-labs-flux-2-klein-4b", None)
    assert len(tail) <= 20 and tail.endswith("klein-4b")
    assert model_tag_name("flux-1-dev", "A display name far too long for a tag") == "flux-1-dev"


def test_tags_are_picked_by_name_at_most_five():
    available = {"FLUX.1 [dev]": 1, "Space": 2, **{f"t{n}": 10 + n for n in range(10)}}
    assert pick_tags(available, ["flux.1 [DEV]", "space", "missing"]) == [1, 2]
    assert len(pick_tags(available, [f"t{n}" for n in range(10)])) == 5


def test_a_few_missing_tags_are_created_within_twenty():
    assert tags_to_create(["Space"], ["space", "FLUX", "flux", "Qwen"]) == ["FLUX", "Qwen"]
    assert tags_to_create([f"t{n}" for n in range(19)], ["a", "b"]) == ["a"]
    assert tags_to_create([f"t{n}" for n in range(20)], ["a"]) == []
    assert len(tags_to_create([], [f"new{n}" for n in range(10)])) == 5


def test_a_theme_must_fit_a_tag():
    assert check_theme("  deep   space ") == "deep space"
    with pytest.raises(UserFacingError, match="20"):
        check_theme("a theme with a very long name")
    with pytest.raises(UserFacingError):
        check_theme("   ")


def test_search_terms_are_plain_words():
    assert search_terms('Red AND "cube" OR* -x') == ["red", "and", "cube", "or", "x"]
    assert search_terms("fox fox FOX") == ["fox"]
    assert search_terms("!!! ???") == []
    assert len(search_terms(" ".join(f"w{n}" for n in range(20)))) == 8


# --- periods and the weekly schedule -------------------------------------------------------------


def test_periods_are_rolling_windows():
    now = at("2026-03-11T12:00:00")
    assert period_start(Period.DAY, now) == now - 86400
    assert period_start(Period.WEEK, now) == now - 7 * 86400
    assert period_start(Period.MONTH, now) == now - 30 * 86400
    assert period_start(Period.ALL, now) is None


@pytest.mark.parametrize(
    "moment, monday",
    [
        ("2026-03-09T00:00:00", "2026-03-09T00:00:00"),  # Monday at midnight
        ("2026-03-11T15:30:00", "2026-03-09T00:00:00"),  # a Wednesday
        ("2026-03-15T23:59:59", "2026-03-09T00:00:00"),  # the Sunday after
        ("2026-03-16T00:00:01", "2026-03-16T00:00:00"),  # the next Monday
        ("2026-01-01T08:00:00", "2025-12-29T00:00:00"),  # across a year
    ],
)
def test_monday_is_midnight_utc(moment, monday):
    assert monday_of(at(moment)) == at(monday)


def test_the_weekly_post_is_due_once_per_monday():
    this_monday = at("2026-03-09T00:00:00")
    assert weekly_due(at("2026-03-11T10:00:00"), None) is None  # never turned on
    assert weekly_due(at("2026-03-11T10:00:00"), this_monday) is None  # turned on this week
    assert weekly_due(at("2026-03-16T00:00:30"), this_monday) == at("2026-03-16T00:00:00")
    assert weekly_due(at("2026-03-16T00:01:00"), at("2026-03-16T00:00:00")) is None  # done
    # Back after weeks away: only the latest Monday.
    assert weekly_due(at("2026-04-01T09:00:00"), this_monday) == at("2026-03-30T00:00:00")


def test_a_mondays_post_covers_the_week_before():
    monday = at("2026-03-16T00:00:00")
    assert weekly_window(monday) == (monday - WEEK, monday)
    assert week_words(monday) == "Mar 9 – Mar 15, 2026"


# --- Sharing: votes, consent, shareable ------------------------------------------------------


@pytest.fixture
async def sqlite(tmp_path):
    store = await SqliteStore.open(tmp_path / "gallery.sqlite3")
    yield store
    await store.close()


def new_share(gid="g1", **overrides):
    values = dict(
        generation_id=gid, guild_id=10, gallery_channel_id=GALLERY, post_id=hash(gid) % 10**9,
        creator_id=ALICE, creator_name="Alice", shared_by_id=ALICE, title="t", prompt="p",
        model="m", nsfw=False,
    )  # fmt: skip
    values.update(overrides)
    return NewShare(**values)


async def test_a_vote_counts_unless_it_is_the_creators(sqlite):
    sharing = Sharing(sqlite)
    outcome = await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=BOB)
    assert outcome.vote.voted and outcome.vote.votes == 1 and not outcome.auto_share
    with pytest.raises(UserFacingError, match="your own image"):
        await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=ALICE)
    with pytest.raises(UserFacingError, match="server"):
        await sharing.vote("g1", guild_id=None, creator_id=ALICE, voter_id=BOB)
    assert await sharing.votes("g1") == 1


async def test_a_hidden_post_takes_no_votes(sqlite):
    await sqlite.gallery.add(new_share())
    await sqlite.gallery.set_hidden("g1", True)
    with pytest.raises(UserFacingError, match="hid"):
        await Sharing(sqlite).vote("g1", guild_id=10, creator_id=ALICE, voter_id=BOB)


async def test_auto_share_only_with_the_creators_consent(sqlite):
    sharing = Sharing(sqlite)
    await sqlite.servers.update(10, lambda s: replace(s, auto_share_votes=2))
    voters = [BOB, MOD, 4, 5]
    first = await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=voters[0])
    second = await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=voters[1])
    assert not first.auto_share and not second.auto_share  # enough votes, but no consent
    await sharing.update_prefs(10, ALICE, auto_share=True)
    third = await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=voters[2])
    assert third.auto_share
    await sqlite.gallery.add(new_share())
    fourth = await sharing.vote("g1", guild_id=10, creator_id=ALICE, voter_id=voters[3])
    assert not fourth.auto_share  # already shared
    back = await sharing.vote("g2", guild_id=10, creator_id=ALICE, voter_id=BOB)
    assert not back.auto_share  # one vote, below the count


async def test_search_needs_a_word(sqlite):
    with pytest.raises(UserFacingError, match="word"):
        await Sharing(sqlite).search(10, "?!", nsfw=False)


def test_only_a_finished_server_image_can_be_shared():
    finished = Job(
        generation_id="g1", guild_id=10, channel_id=1, requester_id=ALICE,
        status_message_id=None, prompt="p", model="m", params={}, batch_index=0, batch_size=1,
        status=JobStatus.DELIVERED, outcome="succeeded", result_url=None, error=None, attempts=0,
        result_message_id=99, created_at=0.0, updated_at=0.0, finished_at=0.0,
        upload_limit=None, request_id="g1", started_at=None,
    )  # fmt: skip
    assert check_shareable(finished) == 10
    with pytest.raises(UserFacingError, match="DMs"):
        check_shareable(replace(finished, guild_id=None))
    with pytest.raises(UserFacingError, match="no finished image"):
        check_shareable(replace(finished, outcome="failed"))


# --- WeeklyTop: a pass on a moved clock ------------------------------------------------------


class Poster:
    def __init__(self, fail: int = 0) -> None:
        self.posts: list[tuple[int, int, list[str], float, int | None]] = []
        self.fail = fail
        self.next_id = 1000

    async def post_weekly(self, guild_id, gallery_channel_id, shares, monday, previous_post_id):
        if self.fail:
            self.fail -= 1
            raise RuntimeError("Discord is down")
        self.next_id += 1
        self.posts.append(
            (guild_id, gallery_channel_id, [s.generation_id for s in shares], monday,
             previous_post_id)
        )  # fmt: skip
        return self.next_id


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def weekly_world(tmp_path, *, fail=0):
    clock = Clock(at("2026-03-11T12:00:00"))  # a Wednesday
    store = await SqliteStore.open(tmp_path / "weekly.sqlite3", clock=clock)
    await store.servers.update(
        10, lambda s: replace(s, gallery_channel_id=GALLERY, weekly_top=True)
    )
    poster = Poster(fail=fail)
    sharing = Sharing(store, clock=clock)
    weekly = WeeklyTop(store, poster, clock=clock, check_interval=60)
    return store, clock, poster, sharing, weekly


async def test_weekly_posts_next_monday_the_weeks_best_and_then_waits_a_week(tmp_path):
    store, clock, poster, sharing, weekly = await weekly_world(tmp_path)
    try:
        await sharing.weekly_turned_on(10)
        await store.gallery.add(new_share("week", post_id=1))
        await store.gallery.add(new_share("spicy", post_id=2, nsfw=True))
        await store.gallery.toggle_vote("week", BOB, guild_id=10)
        assert await weekly.check() == 0  # turned on mid-week: nothing at once
        clock.now = at("2026-03-16T00:00:05")  # Monday
        assert await weekly.check() == 1
        [(guild, channel, shared, monday, previous)] = poster.posts
        assert (guild, channel, shared, previous) == (10, GALLERY, ["week"], None)
        assert monday == at("2026-03-16T00:00:00")
        assert await weekly.check() == 0  # once per Monday
        clock.now = at("2026-03-17T09:00:00")
        await store.gallery.add(new_share("next", post_id=3))
        clock.now = at("2026-03-23T00:01:00")
        assert await weekly.check() == 1
        assert poster.posts[-1][2] == ["next"] and poster.posts[-1][4] == 1001  # unpin last
    finally:
        await store.close()


async def test_a_week_with_nothing_shared_makes_no_post(tmp_path):
    store, clock, poster, sharing, weekly = await weekly_world(tmp_path)
    try:
        await sharing.weekly_turned_on(10)
        clock.now = at("2026-03-16T00:00:05")
        assert await weekly.check() == 0 and poster.posts == []
        [record] = await store.gallery.weekly()
        assert record.monday == at("2026-03-16T00:00:00")  # passed over, not retried
    finally:
        await store.close()


async def test_weekly_turned_off_makes_no_post(tmp_path):
    store, clock, poster, sharing, weekly = await weekly_world(tmp_path)
    try:
        await sharing.weekly_turned_on(10)
        await store.gallery.add(new_share("week", post_id=1))
        await store.servers.update(10, lambda s: replace(s, weekly_top=False))
        clock.now = at("2026-03-16T00:00:05")
        assert await weekly.check() == 0 and poster.posts == []
    finally:
        await store.close()


async def test_a_failed_weekly_post_is_tried_again_then_passed_over(tmp_path):
    store, clock, poster, sharing, weekly = await weekly_world(tmp_path, fail=2)
    try:
        await sharing.weekly_turned_on(10)
        await store.gallery.add(new_share("week", post_id=1))
        clock.now = at("2026-03-16T00:00:05")
        assert await weekly.check() == 0  # failed: logged, tried again
        assert await weekly.check() == 0
        assert await weekly.check() == 1  # third time
        assert len(poster.posts) == 1

        never = Poster(fail=100)
        stubborn = WeeklyTop(store, never, clock=clock, check_interval=60)
        clock.now = at("2026-03-18T10:00:00")
        await store.gallery.add(new_share("later", post_id=2))
        clock.now = at("2026-03-23T00:00:05")
        for _ in range(5):
            await stubborn.check()
        assert (await store.gallery.weekly())[0].monday == at("2026-03-23T00:00:00")
        assert await stubborn.check() == 0 and never.fail == 95  # given up for that week
    finally:
        await store.close()


async def test_weekly_task_starts_and_stops(tmp_path):
    store, *_, weekly = await weekly_world(tmp_path)
    try:
        weekly.start()
        weekly.start()  # once
        await weekly.stop()
        await weekly.stop()
    finally:
        await store.close()


# --- thumbnails and the grid ---------------------------------------------------------------------


def test_thumbnails_are_small_jpegs_and_the_grid_has_rows_of_five():
    import io

    from PIL import Image

    from bot.core.gallery_images import grid, thumbnail
    from bot.core.images import NotAnImage
    from tests.fakes.images import make_png

    small = thumbnail(make_png((200, 30, 30), size=(1024, 512)))
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "JPEG" and image.size == (160, 80)
    with pytest.raises(NotAnImage):
        thumbnail(b"not an image")
    with Image.open(io.BytesIO(grid([small] * 7))) as sheet:
        assert sheet.format == "PNG" and sheet.size == (5 * 160 + 4 * 4, 2 * 160 + 4)
    with pytest.raises(ValueError):
        grid([])
