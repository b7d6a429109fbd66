"""More of the gallery's store, against both stores (see test_gallery_store.py for the rest):
how search cuts and folds words (the Postgres store does by hand what SQLite's FTS5 does) and
orders what it finds, and what two bot processes see when they act on one image at once."""

import asyncio
import zlib
from dataclasses import replace

from bot.core.types import NewShare


def share(gid, *, title, prompt, **overrides):
    values = dict(
        generation_id=gid, guild_id=1, gallery_channel_id=50, post_id=zlib.crc32(gid.encode()),
        creator_id=7, creator_name="Alice", shared_by_id=7, title=title, prompt=prompt,
        model="m", nsfw=False,
    )  # fmt: skip
    values.update(overrides)
    return NewShare(**values)


async def add(store, clock, *shares):
    for new in shares:
        assert await store.gallery.add(new)
        clock.now += 10.0


async def search(store, *terms, limit=10):
    return [s.generation_id for s in await store.gallery.search(1, terms, nsfw=False, limit=limit)]


async def test_search_folds_case_and_accents_and_ignores_punctuation(store, clock):
    await add(
        store, clock,
        share("cafe", title="Café CRÈME", prompt="l'été à Paris, naïve"),
        share("snake", title="snake_case and kebab-case", prompt="x"),
        share("kanji", title="日本語のテキスト", prompt="東京"),
    )  # fmt: skip
    for terms in (["cafe"], ["café"], ["creme"], ["ete", "paris"], ["naive"], ["CAFÉ", "crè"]):
        assert await search(store, *terms) == ["cafe"], terms
    assert await search(store, "snake_case") == ["snake"]  # underscores separate words
    assert await search(store, "kebab", "case") == ["snake"]
    assert await search(store, "case_and") == ["snake"]  # a phrase: these words in this order
    assert await search(store, "and_case") == []
    assert await search(store, "日本語のテキスト") == ["kanji"]
    assert await search(store, "東") == ["kanji"]
    assert await search(store, "_", "cafe") == ["cafe"]  # a term with no word is left out
    assert await search(store, "_") == []


async def test_a_phrase_does_not_run_from_the_title_into_the_prompt(store, clock):
    await add(store, clock, share("g", title="big red", prompt="cube of glass"))
    assert await search(store, "red_cube") == []
    assert await search(store, "cube_of") == ["g"]
    assert await search(store, "big_red") == ["g"]


async def test_search_puts_the_closest_match_first_then_the_newest(store, clock):
    far = "mountains, rivers, forests, a fox far away"
    await add(
        store, clock,
        share("passing", title="Landscape", prompt=far),
        share("fox", title="Fox", prompt="a fox"),
        share("also", title="Landscape", prompt=far),
    )  # fmt: skip
    assert await search(store, "fox") == ["fox", "also", "passing"]
    assert await search(store, "fox", limit=1) == ["fox"]


async def test_two_processes_withdrawing_at_once_get_the_share_once(backend):
    first, second = await backend.open(), await backend.open()
    await first.gallery.add(share("g1", title="t", prompt="p"))
    got = await asyncio.gather(first.gallery.remove("g1"), second.gallery.remove("g1"))
    assert sorted(g is None for g in got) == [False, True]


async def test_one_member_pressing_in_two_processes_at_once_ends_where_it_started(backend):
    first, second = await backend.open(), await backend.open()
    for presses in (2, 3, 4):
        gid = f"g{presses}"
        stores = [first, second] * presses
        votes = await asyncio.gather(
            *(s.gallery.toggle_vote(gid, 8, guild_id=1) for s in stores[:presses])
        )
        assert sorted(v.voted for v in votes) == sorted(i % 2 == 0 for i in range(presses))
        assert await first.gallery.votes(gid) == presses % 2


async def test_two_processes_changing_a_members_choices_both_land(backend):
    first, second = await backend.open(), await backend.open()
    flips = await asyncio.gather(
        *(
            s.gallery.update_prefs(1, 7, lambda p: replace(p, auto_share=not p.auto_share))
            for _ in range(5)
            for s in (first, second)
        )
    )
    assert [after.auto_share for _before, after in flips].count(True) == 5  # each saw the last
    assert (await first.gallery.prefs(1, 7)).auto_share is False  # ten flips
