"""The web gallery's rules: what a grid request asks for, turning it on and off, and the copies
(made off the loop, never for NSFW, cleaned up when the share went meanwhile)."""

from __future__ import annotations

import pytest

from bot.core.gallery import Period
from bot.core.images import ImageWorker
from bot.core.types import NewShare, WebSort
from bot.core.web_gallery import (
    TOKEN_PATTERN,
    GridQuery,
    WebChoice,
    WebGallery,
    grid_query,
    new_token,
    token_digest,
)
from bot.store.files import FileImageCopies
from bot.store.sqlite import SqliteStore
from tests.fakes.images import make_png

GUILD = 1_300_000_000_000_000_001


def test_a_token_is_long_random_and_url_safe():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(TOKEN_PATTERN.fullmatch(t) for t in tokens)
    assert token_digest("x") != "x" and len(token_digest("x")) == 64


def test_grid_query_defaults_bounds_and_search_words():
    assert grid_query({}) == GridQuery()
    query = grid_query({"sort": "top", "period": "week", "q": "  red   CUBE! ", "page": "3"})
    assert query == GridQuery(WebSort.TOP, Period.WEEK, "red CUBE!", ("red", "cube"), 3)
    assert grid_query({"sort": "nonsense", "period": "year"}) == GridQuery()
    for bad in ("0", "101", "x", "", "٣", "1.5", "+1"):
        assert grid_query({"page": bad}) is None, bad
    assert len(grid_query({"q": "w " * 500}).text) <= 200
    assert query.params(page=1) == {"sort": "top", "period": "week", "q": "red CUBE!"}
    assert GridQuery().params() == {}


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteStore.open(tmp_path / "db.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def images():
    worker = ImageWorker()
    yield worker
    worker.close()


def service(store, images, tmp_path, **options):
    values = dict(public_base_url="https://imagine.example.com/", served=True)
    values.update(options)
    return WebGallery(store, FileImageCopies(tmp_path / "files"), images, **values)


async def test_on_gives_a_link_on_again_the_same_new_link_another_off_none(store, images, tmp_path):
    web = service(store, images, tmp_path)
    lines = await web.switch(GUILD, WebChoice.ON, server_name="Guild")
    token = await store.web_gallery.link(GUILD)
    assert lines[0] == f"**Web gallery**: off → on: https://imagine.example.com/gallery/{token}"
    assert "Anyone with this link" in lines[1]
    again = await web.switch(GUILD, WebChoice.ON, server_name="Guild")
    assert token in again[0] and "already on" in again[0]
    await web.switch(GUILD, WebChoice.NEW_LINK, server_name="Guild")
    newer = await store.web_gallery.link(GUILD)
    assert newer != token
    assert await web.server_for(token) is None
    assert await web.server_for(newer) == (GUILD, "Guild")
    assert await web.switch(GUILD, WebChoice.OFF, server_name="Guild") == [
        "**Web gallery**: on → off. Its link no longer works."
    ]
    assert await web.server_for(newer) is None
    assert await web.switch(GUILD, WebChoice.OFF, server_name="Guild") == [
        "The web gallery is already off."
    ]
    assert await web.server_for("../../etc/passwd") is None


async def test_without_public_base_url_or_web_server_it_says_what_to_set(store, images, tmp_path):
    web = service(store, images, tmp_path, public_base_url=None)
    [text] = await web.switch(GUILD, WebChoice.ON, server_name="Guild")
    assert "PUBLIC_BASE_URL" in text and "README" in text
    assert await store.web_gallery.link(GUILD) is None  # nothing turned on
    web = service(store, images, tmp_path, served=False)
    [text] = await web.switch(GUILD, WebChoice.NEW_LINK, server_name="Guild")
    assert "HTTP_PORT=0" in text
    assert await store.web_gallery.link(GUILD) is None


def new_share(gid, *, nsfw=False):
    return NewShare(
        generation_id=gid, guild_id=GUILD, gallery_channel_id=1, post_id=abs(hash(gid)),
        creator_id=2, creator_name="Alice", shared_by_id=2, title="t", prompt="p", model="m",
        nsfw=nsfw,
    )  # fmt: skip


async def test_copies_are_made_for_a_share_never_for_an_nsfw_one(store, images, tmp_path):
    web = service(store, images, tmp_path)
    for gid, nsfw in (("safe", False), ("spicy", True)):
        await store.gallery.add(new_share(gid, nsfw=nsfw))
        assert await web.keep(await store.gallery.get(gid), make_png()) is (not nsfw)
    names = sorted(p.name for p in (tmp_path / "files").rglob("*") if p.is_file())
    assert names == ["safe.full.png", "safe.thumb.webp"]


async def test_a_share_withdrawn_while_its_copies_were_made_leaves_no_files(
    store, images, tmp_path
):
    web = service(store, images, tmp_path)
    await store.gallery.add(new_share("gone"))
    share = await store.gallery.get("gone")
    await store.gallery.remove("gone")
    assert not await web.keep(share, make_png())
    assert not [p for p in (tmp_path / "files").rglob("*") if p.is_file()]


async def test_bytes_that_are_no_image_get_no_copies(store, images, tmp_path):
    web = service(store, images, tmp_path)
    await store.gallery.add(new_share("junk"))
    assert not await web.keep(await store.gallery.get("junk"), b"not an image")
    assert await store.web_gallery.shown(GUILD, ["junk"]) == {}
