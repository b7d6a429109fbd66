"""The web gallery's pages through aiohttp's test client, on the bot's web server (the gallery
mounted at /gallery/), with a real SQLite store and real files: what is shown and what never is,
the copies, the headers, the 404s, pagination and the rate limit."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import test_utils
from PIL import Image

from bot.core.images import ImageWorker
from bot.core.limits import WEB_GALLERY_PAGE_SIZE, WEB_THUMBNAIL_PIXELS
from bot.core.metrics import Metrics
from bot.core.types import NewJob, NewShare
from bot.core.web_gallery import WebChoice, WebGallery
from bot.store.files import FileImageCopies
from bot.store.sqlite import SqliteStore
from bot.web.gallery import GalleryPages
from bot.web.health import Health
from bot.web.rate_limit import RateLimiter, parse_networks
from bot.web.server import WebServer
from tests.fakes.images import make_png

GUILD = 1_300_000_000_000_000_001
OTHER_GUILD = GUILD + 99
ALICE = 1_300_000_000_000_000_777  # a Discord user id: never on any page
NOW = 1_750_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    client: test_utils.TestClient
    store: SqliteStore
    web: WebGallery
    files: Path
    clock: Clock
    token: str
    limiter: RateLimiter
    posts: int = 0

    @property
    def base(self) -> str:
        return f"/gallery/{self.token}"

    async def share(
        self,
        gid: str,
        title: str = "A red cube",
        prompt: str | None = "a red cube on a blue table",
        *,
        guild: int = GUILD,
        nsfw: bool = False,
        creator: str = "Alice",
        colour=(200, 30, 30),
        size=(800, 600),
        fmt: str = "PNG",
    ) -> bytes:
        """Share an image as the Discord side does: the row, then the web copies."""
        self.posts += 1
        new = NewShare(
            generation_id=gid, guild_id=guild, gallery_channel_id=GUILD + 10,
            post_id=GUILD + 1000 + self.posts, creator_id=ALICE, creator_name=creator,
            shared_by_id=ALICE, title=title, prompt=prompt, model="flux-2-klein-4b", nsfw=nsfw,
        )  # fmt: skip
        assert await self.store.gallery.add(new)
        data = make_png(colour, size, fmt=fmt)
        share = await self.store.gallery.get(gid)
        assert share is not None
        await self.web.keep(share, data)
        return data

    async def withdraw(self, gid: str) -> None:
        """As the Discord side's withdraw: out of the store, then the copies deleted."""
        assert await self.store.gallery.remove(gid) is not None
        await self.web.forget(gid)

    async def page(self, path: str = "", **params: str) -> tuple[int, str]:
        response = await self.client.get(self.base + path, params=params)
        return response.status, await response.text()


def titles(html: str) -> list[str]:
    return re.findall(r'<span class="title">(.*?)</span>', html)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock()
    store = await SqliteStore.open(tmp_path / "db.sqlite3", clock=clock)
    images = ImageWorker()
    files = tmp_path / "gallery"
    web = WebGallery(
        store, FileImageCopies(files), images,
        public_base_url="https://imagine.example.com", served=True, clock=clock,
    )  # fmt: skip
    await web.switch(GUILD, WebChoice.ON, server_name="Test <Guild>")
    token = await store.web_gallery.link(GUILD)
    assert token is not None
    limiter = RateLimiter(10_000)
    pages = GalleryPages(web, rate_per_minute=10_000, limiter=limiter,
                         trusted_proxies=parse_networks(["127.0.0.1/8"]))  # fmt: skip
    server = WebServer(
        host="127.0.0.1", port=0, health=Health(live=[], ready=[]),
        metrics=Metrics(process=False), gallery=pages,
    )  # fmt: skip
    try:
        async with test_utils.TestClient(test_utils.TestServer(server.app())) as client:
            yield Site(client, store, web, files, clock, token, limiter)
    finally:
        images.close()
        await store.close()


# --- the grid -------------------------------------------------------------------------------------


async def test_the_grid_shows_the_shared_images_newest_first_or_most_voted(site):
    await site.share("g1", "First")
    site.clock.now += 60
    await site.share("g2", "Second")
    site.clock.now += 60
    await site.share("g3", "Third")
    for voter in (11, 12):
        await site.store.gallery.toggle_vote("g2", voter, guild_id=GUILD)
    await site.store.gallery.toggle_vote("g1", 11, guild_id=GUILD)

    status, html = await site.page()
    assert status == 200
    assert titles(html) == ["Third", "Second", "First"]
    assert "Test &lt;Guild&gt;" in html  # the server's name, as text
    assert f'src="{site.token}/files/g3/thumb.webp"' in html
    assert "Alice · ★ 2" in html

    _, top = await site.page(sort="top")
    assert titles(top) == ["Second", "First", "Third"]


async def test_periods_leave_out_older_shares(site):
    await site.share("old", "Old one")
    site.clock.now += 10 * 24 * 3600
    await site.share("new", "New one")
    both = ["New one", "Old one"]
    for period, expected in (("day", ["New one"]), ("week", ["New one"]), ("month", both),
                             ("all", both)):  # fmt: skip
        _, html = await site.page(sort="top", period=period)
        assert sorted(titles(html)) == sorted(expected), period


async def test_search_finds_a_word_of_a_prompt_or_a_title_never_a_private_prompt(site):
    await site.share("g1", "Kite", "an orange kite over the sea")
    await site.share("g2", "Secret soup", None)  # the creator kept the prompt private
    await site.share("g3", "Boat", "a small boat")
    _, html = await site.page(q="orange")
    assert titles(html) == ["Kite"]
    _, html = await site.page(q="bo")  # the last word is a prefix
    assert titles(html) == ["Boat"]
    _, html = await site.page(q="soup")  # not even its title: it is not in the search
    assert titles(html) == [] and "No shared image matches “soup”" in html
    _, html = await site.page(q="<b>")
    assert "<b>" not in html.split("<main>")[1]  # echoed back escaped


async def test_pages_of_48_and_no_page_past_the_last_allowed(site):
    for n in range(WEB_GALLERY_PAGE_SIZE + 5):
        site.clock.now += 1
        await site.share(f"g{n:03}", f"Image {n}", size=(32, 32))
    _, first = await site.page()
    assert len(titles(first)) == WEB_GALLERY_PAGE_SIZE and 'rel="next"' in first
    assert titles(first)[0] == f"Image {WEB_GALLERY_PAGE_SIZE + 4}"
    assert f'href="{site.token}?page=2"' in first
    status, second = await site.page(page="2")
    assert status == 200 and len(titles(second)) == 5
    assert 'rel="next"' not in second and f'href="{site.token}"' in second
    status, empty = await site.page(page="3")
    assert status == 200 and titles(empty) == []
    for bad in ("0", "101", "abc", "-1", "1e3", "99999999999"):
        assert (await site.page(page=bad))[0] == 404, bad


# --- one image ------------------------------------------------------------------------------------


async def test_the_image_page_shows_title_prompt_model_creator_votes_and_the_remix_chain(site):
    jobs = [
        NewJob("root", GUILD + 20, ALICE, "a castle", "m", guild_id=GUILD),
        NewJob("middle", GUILD + 20, ALICE + 1, "a castle at night", "m", guild_id=GUILD,
               parent_id="root"),
        NewJob("leaf", GUILD + 20, ALICE + 2, "add snow", "m", guild_id=GUILD,
               parent_id="middle"),
    ]  # fmt: skip
    await site.store.jobs.add(jobs)
    await site.share("root", "The castle", "a castle", creator="Alice")
    await site.share("leaf", "Snowy castle", "a castle at night, add snow", creator="Carol")
    await site.store.gallery.toggle_vote("leaf", 5, guild_id=GUILD)

    status, html = await site.page("/image/leaf")
    assert status == 200
    assert "<h1>Snowy castle</h1>" in html
    assert "a castle at night, add snow" in html
    assert "<code>flux-2-klein-4b</code>" in html and "Carol" in html and "★ 1" in html
    assert 'src="../../' + site.token + '/files/leaf/full.png"' in html
    chain = re.search(r'<ol class="chain">(.*?)</ol>', html, re.S).group(1)
    steps = re.findall(r"<li>(.*?)</li>", chain)
    assert steps == [
        "an image not in this gallery",  # "middle" was never shared: nothing about it
        '<a href="root">The castle</a> by Alice',
    ]
    assert (await site.page("/image/middle"))[0] == 404


async def test_a_private_prompt_is_not_shown(site):
    await site.share("g1", "Soup", None)
    _, html = await site.page("/image/g1")
    assert "kept the prompt private" in html


async def test_titles_prompts_and_names_are_text_never_html(site):
    await site.share(
        "g1", '<script>alert("t")</script>', '<img src=x onerror="alert(1)"> & more',
        creator="<b>Mallory</b>",
    )  # fmt: skip
    for path in ("", "/image/g1"):
        _, html = await site.page(path)
        assert "<script" not in html and "<img src=x" not in html and "<b>Mallory" not in html
        assert "&lt;script&gt;" in html
    _, html = await site.page("/image/g1")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; more" in html


async def test_no_discord_id_on_any_page(site):
    await site.store.jobs.add([NewJob("g1", GUILD + 20, ALICE, "p", "m", guild_id=GUILD)])
    await site.share("g1")
    for path in ("", "/image/g1", "?sort=top", "?q=red", "/nothing/here"):
        response = await site.client.get(site.base + path)
        text = await response.text()
        assert not re.search(r"\d{17,20}", text), path  # no snowflake: user, guild or post


# --- the files ------------------------------------------------------------------------------------


async def test_files_are_the_bots_own_copies_a_small_webp_and_the_full_image(site):
    data = await site.share("g1", size=(1200, 900))
    thumb = await site.client.get(site.base + "/files/g1/thumb.webp")
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/webp"
    assert thumb.headers["Cache-Control"] == "private, no-cache"
    with Image.open(io.BytesIO(await thumb.read())) as image:
        assert image.format == "WEBP" and max(image.size) == WEB_THUMBNAIL_PIXELS
    full = await site.client.get(site.base + "/files/g1/full.png")
    assert full.status == 200 and full.headers["Content-Type"] == "image/png"
    assert await full.read() == data  # the very bytes that were shared
    assert (await site.client.get(site.base + "/files/g1/full.jpg")).status == 404
    assert (await site.client.get(site.base + "/files/g1/full.exe")).status == 404
    on_disk = sorted(p.name for p in site.files.rglob("*") if p.is_file())
    assert on_disk == ["g1.full.png", "g1.thumb.webp"]


async def test_a_jpeg_stays_a_jpeg(site):
    await site.share("g1", fmt="JPEG")
    _, html = await site.page("/image/g1")
    assert "/files/g1/full.jpg" in html
    response = await site.client.get(site.base + "/files/g1/full.jpg")
    assert response.status == 200 and response.headers["Content-Type"] == "image/jpeg"


async def test_a_withdrawn_image_leaves_at_once_and_its_files_are_deleted(site):
    await site.share("g1", "Kite", "an orange kite")
    await site.share("g2", "Boat")
    urls = ["/image/g1", "/files/g1/thumb.webp", "/files/g1/full.png"]
    for url in urls:
        assert (await site.client.get(site.base + url)).status == 200
    await site.withdraw("g1")
    _, html = await site.page()
    assert titles(html) == ["Boat"]
    assert titles((await site.page(q="kite"))[1]) == []
    for url in urls:
        assert (await site.client.get(site.base + url)).status == 404, url
    assert not [p for p in site.files.rglob("g1.*")]


async def test_a_hidden_image_is_never_served_while_hidden_and_comes_back_when_shown(site):
    await site.share("g1", "Trumpet", "a loud trumpet")
    await site.store.gallery.set_hidden("g1", True)
    _, html = await site.page()
    assert titles(html) == []
    assert titles((await site.page(q="trumpet"))[1]) == []
    for url in ("/image/g1", "/files/g1/thumb.webp", "/files/g1/full.png"):
        assert (await site.client.get(site.base + url)).status == 404, url
    assert [p for p in site.files.rglob("g1.*")]  # kept for when it is shown again
    await site.store.gallery.set_hidden("g1", False)
    assert titles((await site.page())[1]) == ["Trumpet"]
    assert (await site.client.get(site.base + "/files/g1/full.png")).status == 200


async def test_an_nsfw_share_never_gets_copies_and_never_appears(site):
    await site.share("spicy", "Spicy", "a spicy pepper", nsfw=True)
    assert not list(site.files.rglob("spicy*"))
    assert titles((await site.page())[1]) == []
    assert titles((await site.page(q="spicy"))[1]) == []
    assert (await site.page("/image/spicy"))[0] == 404
    assert (await site.client.get(site.base + "/files/spicy/thumb.webp")).status == 404


async def test_another_servers_images_are_not_on_this_page(site):
    await site.share("theirs", "Theirs", guild=OTHER_GUILD)
    assert titles((await site.page())[1]) == []
    assert (await site.page("/image/theirs"))[0] == 404
    assert (await site.client.get(site.base + "/files/theirs/thumb.webp")).status == 404


# --- safety ---------------------------------------------------------------------------------------


async def test_every_answer_is_noindex_no_referrer_strict_csp_and_sets_no_cookie(site):
    await site.share("g1")
    for path, status in (
        (site.base, 200), (site.base + "/image/g1", 200), (site.base + "/files/g1/thumb.webp", 200),
        ("/gallery/static/gallery.css", 200), ("/gallery/" + "x" * 43, 404),
        (site.base + "/image/nope", 404), ("/gallery/a/b/c/d", 404),
    ):  # fmt: skip
        response = await site.client.get(path)
        assert response.status == status, path
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "script-src 'none'", "img-src 'self'",
                          "frame-ancestors 'none'", "object-src 'none'",
                          "base-uri 'none'"):  # fmt: skip
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "noindex" in headers["X-Robots-Tag"]
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in headers
        if headers["Content-Type"].startswith("text/html"):
            html = await response.text()
            assert '<meta name="robots" content="noindex' in html
            assert "<script" not in html and " style=" not in html and "http" not in html.lower()
            assert headers["Cache-Control"] == "no-store"


async def test_a_wrong_token_is_the_very_same_404_as_anything_else(site):
    await site.share("g1")
    wrong = "A" * 43
    answers = []
    for path in (f"/gallery/{wrong}", "/gallery/short", f"/gallery/{wrong}?page=2"):
        response = await site.client.get(path)
        answers.append((response.status, await response.read()))
    assert {status for status, _ in answers} == {404}
    assert len({body for _, body in answers}) == 1
    deep = []
    for path in (f"/gallery/{wrong}/image/g1", site.base + "/image/missing",
                 f"/gallery/{wrong}/files/g1", f"/gallery/{site.token}/no/such"):  # fmt: skip
        response = await site.client.get(path)
        deep.append((response.status, await response.read()))
    assert {status for status, _ in deep} == {404}
    assert len({body for _, body in deep}) == 1  # a valid token says no more than a wrong one
    files = [
        await site.client.get(f"/gallery/{wrong}/files/g1/thumb.webp"),
        await site.client.get(site.base + "/files/missing/thumb.webp"),
    ]
    assert {r.status for r in files} == {404}
    assert len({await r.read() for r in files}) == 1
    assert (await site.client.post(site.base)).status == 404


async def test_a_new_link_kills_the_old_one_and_off_takes_the_page_down(site):
    await site.share("g1")
    old = site.token
    lines = await site.web.switch(GUILD, WebChoice.NEW_LINK, server_name="Test")
    new = await site.store.web_gallery.link(GUILD)
    assert new != old and f"https://imagine.example.com/gallery/{new}" in lines[0]
    assert (await site.client.get(f"/gallery/{old}")).status == 404
    assert (await site.client.get(f"/gallery/{old}/files/g1/thumb.webp")).status == 404
    assert (await site.client.get(f"/gallery/{new}")).status == 200
    await site.web.switch(GUILD, WebChoice.OFF, server_name="Test")
    assert (await site.client.get(f"/gallery/{new}")).status == 404


async def test_each_address_has_a_rate_limit(site):
    site.limiter.__init__(5, clock=lambda: 0.0)  # 5 a minute, and time stands still
    for _ in range(5):
        assert (await site.client.get("/gallery/static/gallery.css")).status == 200
    limited = await site.client.get(site.base)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Set-Cookie" not in limited.headers and "noindex" in limited.headers["X-Robots-Tag"]
    # Behind the (trusted, loopback) proxy, each client its own bucket; a forged header from a
    # client the proxy passes on does not move it to another.
    other = await site.client.get(site.base, headers={"X-Forwarded-For": "203.0.113.9"})
    assert other.status == 200
    forged = await site.client.get(
        site.base, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    )
    assert forged.status == 200  # still 203.0.113.9's bucket: 2 of 5
