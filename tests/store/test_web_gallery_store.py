"""The web gallery's tables, against both stores: links (replaced, removed, found by digest), what a
page lists (shares with copies, not hidden, not NSFW, of this server), its orders, periods,
search and offsets, and the vote count the most-voted order reads."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg

from bot.core.types import WebSort
from bot.store.postgres.migrations import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from tests.store.test_gallery_store import ALICE, BOB, CAROL, DAVE, GUILD, share

OTHER = GUILD + 7


async def shared(store, gid, *, copied=True, **overrides):
    assert await store.gallery.add(share(gid, post_id=abs(hash(gid)) % 10**12 + 1, **overrides))
    if copied:
        assert await store.web_gallery.mark_copied(gid, "png")


async def listing(store, *, guild=GUILD, sort=WebSort.NEW, since=None, terms=(), limit=50,
                  offset=0):  # fmt: skip
    found = await store.web_gallery.listing(
        guild, sort=sort, since=since, terms=list(terms), limit=limit, offset=offset
    )
    return [s.generation_id for s in found]


async def test_a_link_is_set_replaced_found_by_its_digest_and_removed(store):
    links = store.web_gallery
    assert await links.link(GUILD) is None
    await links.set_link(GUILD, "token-one", digest="digest-one", title="Guild")
    assert await links.link(GUILD) == "token-one"
    assert await links.guild_for("digest-one") == (GUILD, "Guild")
    await links.set_link(GUILD, "token-two", digest="digest-two", title="Renamed")
    assert await links.guild_for("digest-one") is None  # the old link is dead at once
    assert await links.guild_for("digest-two") == (GUILD, "Renamed")
    await links.set_link(OTHER, "token-x", digest="digest-x", title="Other")
    await links.set_link(GUILD, None, digest=None, title="Renamed")
    assert await links.link(GUILD) is None and await links.guild_for("digest-two") is None
    assert await links.guild_for("digest-x") == (OTHER, "Other")


async def test_a_digest_is_never_shared_by_two_servers(store):
    await store.web_gallery.set_link(GUILD, "t", digest="same", title="A")
    try:
        await store.web_gallery.set_link(OTHER, "u", digest="same", title="B")
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
        pass
    else:
        raise AssertionError("a second server got the same digest")


async def test_only_shares_with_copies_listed_not_hidden_not_nsfw_of_this_server(store, clock):
    await shared(store, "shown")
    clock.now += 1
    await shared(store, "no-copy", copied=False)
    await shared(store, "hidden")
    await store.gallery.set_hidden("hidden", True)
    await shared(store, "nsfw", nsfw=True)
    await shared(store, "elsewhere", guild_id=OTHER)
    assert await listing(store) == ["shown"]
    found = await store.web_gallery.shown(
        GUILD, ["shown", "no-copy", "hidden", "nsfw", "elsewhere", "missing"]
    )
    assert list(found) == ["shown"]
    assert found["shown"].full_extension == "png"
    assert found["shown"].share.creator_name == "Alice ✨"
    assert await store.web_gallery.shown(OTHER, ["shown"]) == {}
    await store.gallery.set_hidden("hidden", False)
    assert sorted(await listing(store)) == ["hidden", "shown"]


async def test_mark_copied_says_whether_the_share_is_still_there(store):
    await shared(store, "g1", copied=False)
    assert await store.web_gallery.mark_copied("g1", "webp")
    assert (await store.web_gallery.shown(GUILD, ["g1"]))["g1"].full_extension == "webp"
    await store.gallery.remove("g1")
    assert not await store.web_gallery.mark_copied("g1", "png")  # withdrawn meanwhile


async def test_newest_first_most_voted_first_and_periods(store, clock):
    start = clock.now
    for n, gid in enumerate(("a", "b", "c", "d")):
        clock.now = start + n * 3600
        await shared(store, gid)
    for voter in (BOB, CAROL, DAVE):
        await store.gallery.toggle_vote("b", voter, guild_id=GUILD)
    for voter in (BOB, CAROL):
        await store.gallery.toggle_vote("c", voter, guild_id=GUILD)
    await store.gallery.toggle_vote("a", BOB, guild_id=GUILD)
    assert await listing(store) == ["d", "c", "b", "a"]
    assert await listing(store, sort=WebSort.TOP) == ["b", "c", "a", "d"]
    assert await listing(store, sort=WebSort.TOP, since=start + 2 * 3600) == ["c", "d"]
    assert await listing(store, since=start + 3600) == ["d", "c", "b"]
    top = await store.web_gallery.listing(
        GUILD, sort=WebSort.TOP, since=None, terms=[], limit=1, offset=0
    )
    assert top[0].votes == 3


async def test_offsets_page_through_without_gaps_or_repeats(store, clock):
    ids = []
    for n in range(23):
        clock.now += 1 if n % 3 else 0  # some share the same second: the id breaks the tie
        gid = f"g{n:02}"
        ids.append(gid)
        await shared(store, gid)
    for sort in (WebSort.NEW, WebSort.TOP):
        seen = []
        for page in range(3):
            seen += await listing(store, sort=sort, limit=10, offset=page * 10)
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)), sort
    assert await listing(store, limit=10, offset=30) == []


async def test_search_every_term_the_last_a_prefix_never_a_private_prompt(store, clock):
    await shared(store, "kite", title="Kite", prompt="an orange kite over the sea")
    clock.now += 1
    await shared(store, "soup", title="Orange soup", prompt=None)
    clock.now += 1
    await shared(store, "boat", title="Boat", prompt="an orange boat")
    await shared(store, "secret", title="Orange secret", prompt="orange", copied=False)
    assert await listing(store, terms=["orange"]) == ["boat", "kite"]
    assert await listing(store, terms=["orange", "ki"]) == ["kite"]
    assert await listing(store, terms=["soup"]) == []  # a private prompt: not searchable at all
    await store.gallery.toggle_vote("kite", BOB, guild_id=GUILD)
    assert await listing(store, terms=["orange"], sort=WebSort.TOP) == ["kite", "boat"]
    assert await listing(store, terms=["orange"], limit=1, offset=1) == ["kite"]
    assert await listing(store, terms=["orange"], guild=OTHER) == []


async def test_the_vote_count_follows_every_vote_and_starts_from_votes_before_the_share(store):
    await store.gallery.toggle_vote("g1", BOB, guild_id=GUILD)  # voted on the result first
    await store.gallery.toggle_vote("g1", CAROL, guild_id=GUILD)
    await shared(store, "g1")
    assert (await store.web_gallery.shown(GUILD, ["g1"]))["g1"].share.votes == 2
    await store.gallery.toggle_vote("g1", BOB, guild_id=GUILD)  # taken back
    await asyncio.gather(
        *(store.gallery.toggle_vote("g1", ALICE + n, guild_id=GUILD) for n in range(10, 15))
    )
    count = (await store.web_gallery.shown(GUILD, ["g1"]))["g1"].share.votes
    assert count == await store.gallery.votes("g1") == 6


async def test_old_shares_get_their_vote_count_and_no_copies_when_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript("".join(SQLITE_MIGRATIONS[:8]) + "PRAGMA user_version = 8;")
        db.execute(
            "INSERT INTO shares (generation_id, guild_id, gallery_channel_id, post_id, "
            "creator_id, creator_name, shared_by_id, title, prompt, model, nsfw, shared_at) "
            f"VALUES ('old', {GUILD}, 1, 2, {ALICE}, 'Alice', {ALICE}, 't', 'p', 'm', 0, 5)"
        )
        for voter in (BOB, CAROL):
            db.execute(
                f"INSERT INTO votes (generation_id, voter_id, guild_id, voted_at) "
                f"VALUES ('old', {voter}, {GUILD}, 6)"
            )
    store = await SqliteStore.open(path)
    try:
        assert await listing(store) == []  # shared before: no copies, so not on the page
        await store.web_gallery.mark_copied("old", "png")
        assert (await store.web_gallery.shown(GUILD, ["old"]))["old"].share.votes == 2
    finally:
        await store.close()


async def test_old_postgres_shares_get_their_vote_count_when_migrated(postgres_url):
    from bot.store.postgres import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "applied_at double precision NOT NULL)"
        )
        for step in (0, 1):
            await conn.execute(POSTGRES_MIGRATIONS[step])
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, 0)", step + 1)
        await conn.execute(
            "INSERT INTO shares (generation_id, guild_id, gallery_channel_id, post_id, "
            "creator_id, creator_name, shared_by_id, title, prompt, model, nsfw, shared_at) "
            "VALUES ('old', $1, 1, 2, $2, 'Alice', $2, 't', 'p', 'm', false, 5)",
            GUILD,
            ALICE,
        )
        await conn.execute(
            "INSERT INTO votes (generation_id, voter_id, guild_id, voted_at) VALUES "
            "('old', $1, $2, 6)",
            BOB,
            GUILD,
        )
    finally:
        await conn.close()
    store = await PostgresStore.open(postgres_url)
    try:
        assert await store.web_gallery.mark_copied("old", "png")
        assert (await store.web_gallery.shown(GUILD, ["old"]))["old"].share.votes == 1
    finally:
        await store.close()
