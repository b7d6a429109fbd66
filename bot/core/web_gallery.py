"""The web gallery: one read-only page per server that turned it on, of what its members chose to
share, behind a link nobody can guess.

Off by default. An admin's ``on`` makes a random token (``secrets.token_urlsafe(32)``) and keeps
it in the store with its SHA-256, which is what a request is looked up by (so a lookup's timing
says nothing about the token); ``new-link`` replaces it (the old link is dead at once), ``off``
removes it.

What it shows is decided here and in the store's queries, by construction: a share that is not
hidden, not NSFW (those never get copies at all), and has the bot's own copies of the image; its
prompt only when its creator showed it (a private prompt is not in the search index either); the
creator's display name, never a Discord id. The pages' view models below carry no id of a
Discord user, so no template can show one.

The copies (a small WebP thumbnail and the full image) are made when an image is shared, off the
event loop (ImageWorker), and deleted the moment it is withdrawn; a hidden share keeps them for
when it is shown again, but nothing of it is served meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from bot.core.gallery import Period, one_line, period_start, search_terms
from bot.core.gallery_images import web_copy
from bot.core.images import ImageWorker, NotAnImage
from bot.core.limits import (
    LINEAGE_DEPTH,
    WEB_GALLERY_MAX_PAGES,
    WEB_GALLERY_PAGE_SIZE,
    WEB_GALLERY_TOKEN_BYTES,
)
from bot.core.ports import ImageCopies, Store
from bot.core.types import Share, WebSort

log = logging.getLogger(__name__)

# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
SEARCH_MAX_CHARS = 200  # what the search box keeps of a query (search_terms bounds the rest)
FileKind = Literal["thumb", "full"]


class WebChoice(StrEnum):
    ON = "on"
    OFF = "off"
    NEW_LINK = "new-link"


def new_token() -> str:
    return secrets.token_urlsafe(WEB_GALLERY_TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- what a page asks for -------------------------------------------------------------------------


@dataclass(frozen=True)
class GridQuery:
    sort: WebSort = WebSort.NEW
    period: Period = Period.ALL
    text: str = ""  # the search as typed (shown again in the box)
    terms: tuple[str, ...] = ()  # its words (search_terms): every one must match
    page: int = 1

    def params(self, **changes: str | int) -> dict[str, str]:
        """This query's URL parameters (defaults left out), with ``changes``."""
        values: dict[str, str | int] = {
            "sort": self.sort.value,
            "period": self.period.value,
            "q": self.text,
            "page": self.page,
        }
        values.update(changes)
        defaults = {"sort": WebSort.NEW.value, "period": Period.ALL.value, "q": "", "page": 1}
        return {k: str(v) for k, v in values.items() if v != defaults[k]}


def grid_query(params: Mapping[str, str]) -> GridQuery | None:
    """The grid a request asks for; None for a page that is not there (not a number, or past
    WEB_GALLERY_MAX_PAGES). An unknown sort or period is the default."""
    sort = params.get("sort", "")
    period = params.get("period", "")
    text = one_line(params.get("q", ""))[:SEARCH_MAX_CHARS]
    page = params.get("page", "1")
    if not (page.isascii() and page.isdigit() and len(page) <= 4):
        return None
    number = int(page)
    if not 1 <= number <= WEB_GALLERY_MAX_PAGES:
        return None
    return GridQuery(
        sort=WebSort(sort) if sort in WebSort._value2member_map_ else WebSort.NEW,
        period=Period(period) if period in Period._value2member_map_ else Period.ALL,
        text=text,
        terms=tuple(search_terms(text)),
        page=number,
    )


# --- what a page shows (no Discord ids in here, on purpose) --------------------------------------


@dataclass(frozen=True)
class Tile:
    id: str  # the generation id (Oxen's), which names the files
    title: str
    creator: str  # a display name
    votes: int


@dataclass(frozen=True)
class GridPage:
    server: str
    query: GridQuery
    tiles: list[Tile]
    has_next: bool


@dataclass(frozen=True)
class Ancestor:
    """One step up an image's remix chain."""

    id: str | None  # its page here; None when the web gallery does not show it
    title: str | None
    creator: str | None


@dataclass(frozen=True)
class ImagePage:
    server: str
    id: str
    title: str
    prompt: str | None  # None: its creator kept it private
    model: str
    creator: str
    votes: int
    shared_at: float
    full_extension: str
    chain: list[Ancestor]  # what it remixes, its parent first


def _tile(share: Share) -> Tile:
    return Tile(share.generation_id, share.title, share.creator_name, share.votes)


# --- the service ----------------------------------------------------------------------------------


class WebGallery:
    def __init__(
        self,
        store: Store,
        copies: ImageCopies,
        images: ImageWorker,
        *,
        public_base_url: str | None,
        served: bool,
        clock: Callable[[], float] = time.time,
        make_token: Callable[[], str] = new_token,
    ) -> None:
        """``public_base_url``: where the operator exposes the bot's web server (PUBLIC_BASE_URL);
        ``served``: whether the bot runs its web server at all (HTTP_PORT is not 0)."""
        self._store = store
        self._links = store.web_gallery
        self._copies = copies
        self._images = images
        self._base = public_base_url.rstrip("/") if public_base_url else None
        self._served = served
        self._clock = clock
        self._make_token = make_token

    def url(self, token: str) -> str:
        assert self._base is not None
        return f"{self._base}/gallery/{token}"

    # --- turning it on and off (/imagine-admin gallery web:) ---------------------------------

    async def switch(self, guild_id: int, choice: WebChoice, *, server_name: str) -> list[str]:
        """Turn the server's web gallery on, off, or give it a new link; the lines for the
        admin (who alone sees them: they hold the link)."""
        current = await self._links.link(guild_id)
        if choice is WebChoice.OFF:
            if current is None:
                return ["The web gallery is already off."]
            await self._links.set_link(guild_id, None, digest=None, title=server_name)
            return ["**Web gallery**: on → off. Its link no longer works."]
        problem = self._cannot_serve()
        if problem is not None:
            return [problem]
        if choice is WebChoice.ON and current is not None:
            await self._links.set_link(
                guild_id, current, digest=token_digest(current), title=server_name
            )
            return [f"The web gallery is already on: {self.url(current)}", _ABOUT]
        token = self._make_token()
        await self._links.set_link(guild_id, token, digest=token_digest(token), title=server_name)
        if current is None:
            return [f"**Web gallery**: off → on: {self.url(token)}", _ABOUT]
        return [f"**Web gallery**: a new link: {self.url(token)}", "The old link no longer works."]

    def _cannot_serve(self) -> str | None:
        if not self._served:
            return (
                "The bot's web server is off (`HTTP_PORT=0`), so it can't serve a web gallery. "
                "Ask whoever runs the bot to set `HTTP_PORT` and `PUBLIC_BASE_URL`."
            )
        if self._base is None:
            return (
                "The bot doesn't know its public address yet, so it can't give a link. Ask "
                "whoever runs the bot to expose its web server (`HTTP_HOST`/`HTTP_PORT`), "
                "usually behind a reverse proxy with TLS, and set `PUBLIC_BASE_URL` to that "
                "address (e.g. `https://imagine.example.com`); see the README's *Web gallery*."
            )
        return None

    # --- pages ---------------------------------------------------------------------------------

    async def server_for(self, token: str) -> tuple[int, str] | None:
        """The server (id, name) whose link this is; None for any other string."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        return await self._links.guild_for(token_digest(token))

    async def grid(self, guild_id: int, server: str, query: GridQuery) -> GridPage:
        found = await self._links.listing(
            guild_id,
            sort=query.sort,
            since=period_start(query.period, self._clock()),
            terms=query.terms,
            limit=WEB_GALLERY_PAGE_SIZE + 1,  # one more: is there a next page?
            offset=(query.page - 1) * WEB_GALLERY_PAGE_SIZE,
        )
        has_next = len(found) > WEB_GALLERY_PAGE_SIZE and query.page < WEB_GALLERY_MAX_PAGES
        return GridPage(server, query, [_tile(s) for s in found[:WEB_GALLERY_PAGE_SIZE]], has_next)

    async def image(self, guild_id: int, server: str, generation_id: str) -> ImagePage | None:
        shown = (await self._links.shown(guild_id, [generation_id])).get(generation_id)
        if shown is None:
            return None
        share = shown.share
        parents = await self._store.gallery.lineage(generation_id, LINEAGE_DEPTH)
        listed = await self._links.shown(guild_id, [job.generation_id for job in parents])
        chain = []
        for job in parents:
            parent = listed.get(job.generation_id)
            if parent is None:
                chain.append(Ancestor(None, None, None))  # not shared here: nothing about it
            else:
                chain.append(
                    Ancestor(job.generation_id, parent.share.title, parent.share.creator_name)
                )
        return ImagePage(
            server=server,
            id=share.generation_id,
            title=share.title,
            prompt=share.prompt,
            model=share.model,
            creator=share.creator_name,
            votes=share.votes,
            shared_at=share.shared_at,
            full_extension=shown.full_extension,
            chain=chain,
        )

    async def file(
        self, guild_id: int, generation_id: str, which: FileKind, extension: str = "webp"
    ) -> Path | None:
        """A stored copy the page may show now: None once withdrawn, while hidden, or if asked
        under another extension than its own."""
        shown = (await self._links.shown(guild_id, [generation_id])).get(generation_id)
        if shown is None:
            return None
        if which == "full" and extension != shown.full_extension:
            return None
        return await self._copies.find(generation_id, which, shown.full_extension)

    # --- the copies ----------------------------------------------------------------------------

    async def keep(self, share: Share, data: bytes) -> bool:
        """Store the web gallery's copies of a newly shared image (never of an NSFW one).
        Failures are logged: the share itself stands, only the web page leaves it out."""
        if share.nsfw:
            return False
        gid = share.generation_id
        try:
            copy = await self._images.run(web_copy, data)
        except NotAnImage as err:
            log.warning("generation %s: no web gallery copy (%s)", gid, err)
            return False
        try:
            await self._copies.save(
                gid, thumbnail=copy.thumbnail, full=copy.full, full_extension=copy.full_extension
            )
            if await self._links.mark_copied(gid, copy.full_extension):
                return True
            log.info("generation %s was withdrawn while its web copies were made", gid)
        except Exception:
            log.exception("generation %s: the web gallery copies could not be stored", gid)
        await self.forget(gid)
        return False

    async def forget(self, generation_id: str) -> None:
        """Withdrawn: its copies are deleted now."""
        try:
            await self._copies.delete(generation_id)
        except Exception:
            log.exception("generation %s: its web gallery copies could not be deleted",
                          generation_id)  # fmt: skip


_ABOUT = (
    "Anyone with this link can see it: the images members shared to this server's gallery "
    "(never NSFW or hidden ones), each prompt only if its creator showed it, names but no "
    "Discord ids. `web:new-link` replaces the link (the old one stops working); `web:off` "
    "takes the page down."
)
