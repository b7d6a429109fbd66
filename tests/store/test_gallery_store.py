"""The gallery tables, against both stores: shares, search, votes, choices, lists, lineage and the
weekly record."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.core.types import GalleryPrefs, NewJob, NewShare

GUILD = 1_234_567_890_123_456_789  # Discord ids need 64 bits
ALICE, BOB, CAROL, DAVE = GUILD + 1, GUILD + 2, GUILD + 3, GUILD + 4


def share(gid="g1", **overrides) -> NewShare:
    values = dict(
        generation_id=gid,
        guild_id=GUILD,
        gallery_channel_id=GUILD + 10,
        post_id=hash(gid) % 10**15 + GUILD,
        creator_id=ALICE,
        creator_name="Alice ✨",
        shared_by_id=ALICE,
        title="A red cube",
        prompt="a red cube on a blue table",
        model="flux-1-dev",
        nsfw=False,
    )
    values.update(overrides)
    return NewShare(**values)


def job(gid, requester=ALICE, parent=None, **overrides) -> NewJob:
    values = dict(
        generation_id=gid,
        guild_id=GUILD,
        channel_id=GUILD + 20,
        requester_id=requester,
        prompt="a red cube",
        model="m",
        params={"prompt": "a red cube", "seed": 7},
        parent_id=parent,
    )
    values.update(overrides)
    return NewJob(**values)


async def test_a_share_comes_back_as_it_went_in(store, clock):
    assert await store.gallery.add(share(), thumbnail=b"\xff\xd8thumb")
    got = await store.gallery.get("g1")
    assert got.guild_id == GUILD and got.creator_id == ALICE and got.creator_name == "Alice ✨"
    assert (got.title, got.prompt, got.model) == (
        "A red cube",
        "a red cube on a blue table",
        "flux-1-dev",
    )
    assert not got.nsfw and not got.hidden and not got.auto and got.votes == 0
    assert got.shared_at == clock.now
    assert got.post_url == f"https://discord.com/channels/{GUILD}/{got.post_id}"
    assert await store.gallery.by_post(got.post_id) == got
    assert await store.gallery.thumbnails(["g1", "missing"]) == {"g1": b"\xff\xd8thumb"}
    assert await store.gallery.get("missing") is None


async def test_an_image_is_shared_once(store):
    assert await store.gallery.add(share())
    assert not await store.gallery.add(share(post_id=42, title="again"))
    assert (await store.gallery.get("g1")).title == "A red cube"


async def test_withdrawn_leaves_every_list_and_the_search(store):
    await store.gallery.add(share())
    removed = await store.gallery.remove("g1")
    assert removed is not None and removed.generation_id == "g1"
    assert await store.gallery.get("g1") is None
    assert await store.gallery.top(GUILD, since=None, nsfw=True, limit=10) == []
    assert await store.gallery.by_creator(GUILD, ALICE, nsfw=True, limit=10) == []
    assert await store.gallery.search(GUILD, ["cube"], nsfw=True, limit=10) == []
    assert await store.gallery.remove("g1") is None
    assert await store.gallery.add(share(post_id=77))  # shared again: a new post


async def test_hidden_leaves_the_lists_until_shown_again(store):
    await store.gallery.add(share())
    hidden = await store.gallery.set_hidden("g1", True)
    assert hidden.hidden
    assert await store.gallery.top(GUILD, since=None, nsfw=True, limit=10) == []
    assert await store.gallery.search(GUILD, ["cube"], nsfw=True, limit=10) == []
    assert await store.gallery.by_creator(GUILD, ALICE, nsfw=True, limit=10) == []
    assert (await store.gallery.get("g1")).hidden  # still known, to say it is hidden
    await store.gallery.set_hidden("g1", False)
    assert [
        s.generation_id for s in await store.gallery.top(GUILD, since=None, nsfw=False, limit=10)
    ] == ["g1"]


async def test_nsfw_shares_are_listed_only_when_asked(store):
    await store.gallery.add(share("safe", post_id=1))
    await store.gallery.add(share("spicy", post_id=2, nsfw=True))
    for listing in (
        lambda nsfw: store.gallery.top(GUILD, since=None, nsfw=nsfw, limit=10),
        lambda nsfw: store.gallery.search(GUILD, ["cube"], nsfw=nsfw, limit=10),
        lambda nsfw: store.gallery.by_creator(GUILD, ALICE, nsfw=nsfw, limit=10),
    ):
        assert {s.generation_id for s in await listing(False)} == {"safe"}
        assert {s.generation_id for s in await listing(True)} == {"safe", "spicy"}


async def test_other_servers_shares_are_not_listed(store):
    await store.gallery.add(share("here", post_id=1))
    await store.gallery.add(share("there", post_id=2, guild_id=GUILD + 99))
    assert [
        s.generation_id for s in await store.gallery.top(GUILD, since=None, nsfw=True, limit=10)
    ] == ["here"]
    assert [
        s.generation_id for s in await store.gallery.search(GUILD, ["red"], nsfw=True, limit=10)
    ] == ["here"]


# --- search -----------------------------------------------------------------------------------


async def test_search_finds_every_term_in_the_title_or_the_prompt_the_last_as_a_prefix(store):
    await store.gallery.add(share("cube", post_id=1, title="Big Box", prompt="a red cube"))
    await store.gallery.add(share("fox", post_id=2, title="Night fox", prompt="a fox in snow"))
    await store.gallery.add(share("lake", post_id=3, title="Quiet", prompt="a still lake"))

    async def found(*terms):
        return {
            s.generation_id
            for s in await store.gallery.search(GUILD, list(terms), nsfw=False, limit=10)
        }

    assert await found("red") == {"cube"}
    assert await found("box") == {"cube"}  # the title
    assert await found("big", "cube") == {"cube"}  # title and prompt together
    assert await found("fox", "sn") == {"fox"}  # the last term is a prefix
    assert await found("fox", "lake") == set()  # every term must match
    assert await found("qui") == {"lake"}
    assert await found("nothing") == set()
    assert await found("and") == set()  # an FTS keyword is just a word
    assert await found("near") == set()


async def test_a_hidden_prompt_is_not_searchable_at_all(store):
    await store.gallery.add(share("private", post_id=1, title="a secret cube", prompt=None))
    await store.gallery.add(share("open", post_id=2, title="open", prompt="a secret garden"))
    hits = await store.gallery.search(GUILD, ["secret"], nsfw=True, limit=10)
    assert [s.generation_id for s in hits] == ["open"]
    assert await store.gallery.search(GUILD, ["cube"], nsfw=True, limit=10) == []
    # Still listed everywhere else.
    assert {
        s.generation_id for s in await store.gallery.top(GUILD, since=None, nsfw=True, limit=10)
    } == {"private", "open"}
    assert (await store.gallery.get("private")).prompt is None


async def test_search_respects_the_limit(store):
    for n in range(5):
        await store.gallery.add(share(f"g{n}", post_id=n + 1))
    assert len(await store.gallery.search(GUILD, ["cube"], nsfw=False, limit=3)) == 3


# --- votes ------------------------------------------------------------------------------------


async def test_a_vote_toggles(store):
    first = await store.gallery.toggle_vote("g1", BOB, guild_id=GUILD)
    assert first.voted and first.votes == 1
    second = await store.gallery.toggle_vote("g1", CAROL, guild_id=GUILD)
    assert second.voted and second.votes == 2
    back = await store.gallery.toggle_vote("g1", BOB, guild_id=GUILD)
    assert not back.voted and back.votes == 1
    assert await store.gallery.votes("g1") == 1
    assert await store.gallery.votes("other") == 0


async def test_members_voting_at_the_same_moment_all_count(store):
    voters = [GUILD + 100 + n for n in range(20)]
    results = await asyncio.gather(
        *(store.gallery.toggle_vote("g1", v, guild_id=GUILD) for v in voters)
    )
    assert all(r.voted and 1 <= r.votes <= 20 for r in results)
    assert await store.gallery.votes("g1") == 20  # none lost (the labels read this)


async def test_one_member_pressing_twice_at_once_ends_where_it_started(store):
    results = await asyncio.gather(
        *(store.gallery.toggle_vote("g1", BOB, guild_id=GUILD) for _ in range(2))
    )
    assert sorted(r.voted for r in results) == [False, True]
    assert await store.gallery.votes("g1") == 0


async def test_two_processes_voting_at_once_both_count(backend):
    first, second = await backend.open(), await backend.open()
    await asyncio.gather(
        first.gallery.toggle_vote("g1", BOB, guild_id=GUILD),
        second.gallery.toggle_vote("g1", CAROL, guild_id=GUILD),
    )
    assert await first.gallery.votes("g1") == 2


async def test_votes_and_shares_survive_a_restart(backend):
    store = await backend.open()
    await store.gallery.add(share())
    await store.gallery.toggle_vote("g1", BOB, guild_id=GUILD)
    await store.gallery.toggle_vote("g1", CAROL, guild_id=GUILD)
    await store.close()
    again = await backend.open()
    assert (await again.gallery.get("g1")).votes == 2
    assert not (await again.gallery.toggle_vote("g1", BOB, guild_id=GUILD)).voted  # remembered


# --- members' choices -------------------------------------------------------------------------


async def test_prefs_default_to_no_consent_and_change_atomically(store):
    assert await store.gallery.prefs(GUILD, ALICE) == GalleryPrefs(
        auto_share=False, show_prompt=True
    )
    before, after = await store.gallery.update_prefs(
        GUILD, ALICE, lambda p: replace(p, auto_share=True)
    )
    assert not before.auto_share and after.auto_share
    assert await store.gallery.prefs(GUILD, ALICE) == after
    assert await store.gallery.prefs(GUILD + 1, ALICE) == GalleryPrefs()  # per server
    assert await store.gallery.prefs(GUILD, BOB) == GalleryPrefs()
    await store.gallery.update_prefs(GUILD, ALICE, lambda p: replace(p, show_prompt=False))
    assert await store.gallery.prefs(GUILD, ALICE) == GalleryPrefs(True, False)


# --- top and the creator's list -----------------------------------------------------------------


async def test_top_is_most_votes_first_within_the_period(store, clock):
    start = clock.now
    await store.gallery.add(share("old", post_id=1))
    clock.now = start + 100
    await store.gallery.add(share("mid", post_id=2))
    clock.now = start + 200
    await store.gallery.add(share("new", post_id=3))
    for voter in (BOB, CAROL):
        await store.gallery.toggle_vote("mid", voter, guild_id=GUILD)
    await store.gallery.toggle_vote("new", BOB, guild_id=GUILD)

    every = await store.gallery.top(GUILD, since=None, nsfw=False, limit=10)
    assert [(s.generation_id, s.votes) for s in every] == [("mid", 2), ("new", 1), ("old", 0)]
    recent = await store.gallery.top(GUILD, since=start + 50, nsfw=False, limit=10)
    assert [s.generation_id for s in recent] == ["mid", "new"]
    window = await store.gallery.top(
        GUILD, since=start + 50, until=start + 200, nsfw=False, limit=10
    )
    assert [s.generation_id for s in window] == ["mid"]
    assert len(await store.gallery.top(GUILD, since=None, nsfw=False, limit=2)) == 2


async def test_a_tie_goes_to_the_earlier_share(store, clock):
    await store.gallery.add(share("first", post_id=1))
    clock.now += 1
    await store.gallery.add(share("second", post_id=2))
    listed = await store.gallery.top(GUILD, since=None, nsfw=False, limit=10)
    assert [s.generation_id for s in listed] == ["first", "second"]


async def test_by_creator_is_newest_first_and_only_theirs(store, clock):
    await store.gallery.add(share("a1", post_id=1))
    clock.now += 1
    await store.gallery.add(share("b1", post_id=2, creator_id=BOB, creator_name="Bob"))
    clock.now += 1
    await store.gallery.add(share("a2", post_id=3))
    mine = await store.gallery.by_creator(GUILD, ALICE, nsfw=False, limit=10)
    assert [s.generation_id for s in mine] == ["a2", "a1"]


# --- lineage --------------------------------------------------------------------------------------


async def test_lineage_follows_parents_as_far_as_asked(store):
    await store.jobs.add([job("root")])
    await store.jobs.add([job("child", requester=BOB, parent="root")])
    await store.jobs.add([job("grandchild", requester=CAROL, parent="child")])
    assert (await store.jobs.get("grandchild")).parent_id == "child"
    chain = await store.gallery.lineage("grandchild", 5)
    assert [j.generation_id for j in chain] == ["child", "root"]
    assert [j.requester_id for j in chain] == [BOB, ALICE]
    assert [j.generation_id for j in await store.gallery.lineage("grandchild", 1)] == ["child"]
    assert await store.gallery.lineage("root", 5) == []


async def test_a_pruned_parent_ends_the_chain(store):
    await store.jobs.add([job("child", parent="gone")])
    assert await store.gallery.lineage("child", 5) == []


async def test_remixes_by_others_are_counted(store):
    await store.jobs.add([job("a1"), job("a2")])
    await store.jobs.add([job("bob-remix", requester=BOB, parent="a1")])
    await store.jobs.add([job("carol-remix", requester=CAROL, parent="a1")])
    await store.jobs.add([job("dave-remix", requester=DAVE, parent="a2")])
    await store.jobs.add([job("own-reroll", requester=ALICE, parent="a1")])
    await store.jobs.add([job("elsewhere", requester=BOB, parent="x", guild_id=GUILD + 5)])
    assert await store.gallery.remix_count("a1") == 2  # her own reroll does not count
    assert await store.gallery.remixes_of(GUILD, ALICE) == 3
    assert await store.gallery.remixes_of(GUILD, BOB) == 0


async def test_a_waiting_request_keeps_its_parent(store):
    from bot.core.types import Order

    order = Order(GUILD, GUILD + 20, BOB, "again", "m", {"prompt": "again"}, parent_id="root")
    waiting = await store.line.add(order)
    assert (await store.line.get(waiting.id)).order.parent_id == "root"


# --- the weekly record --------------------------------------------------------------------------


async def test_weekly_record_is_one_per_server(store):
    assert await store.gallery.weekly() == []
    await store.gallery.record_weekly(GUILD, 1_700_000_000.0, None)
    await store.gallery.record_weekly(GUILD, 1_700_604_800.0, 55)
    await store.gallery.record_weekly(GUILD + 1, 1_700_604_800.0, None)
    records = {w.guild_id: w for w in await store.gallery.weekly()}
    assert (records[GUILD].monday, records[GUILD].post_id) == (1_700_604_800.0, 55)
    assert records[GUILD + 1].post_id is None
