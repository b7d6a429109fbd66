"""The web gallery's pages, under ``/gallery/`` of the bot's web server: server-rendered HTML
(Jinja2, autoescaped), no script at all, one small stylesheet.

Routes (``{token}``: a server's secret link; anything else under /gallery/ is the same 404):

- ``GET /gallery/{token}``: the grid, ``?sort=new|top&period=day|week|month|all&q=&page=``
- ``GET /gallery/{token}/image/{id}``: one image: title, prompt (if shown), model, creator,
  votes, its remix chain
- ``GET /gallery/{token}/files/{id}/thumb.webp`` and ``/full.{ext}``: the bot's own copies
- ``GET /gallery/static/gallery.css``

Safe by construction: every answer carries a strict Content-Security-Policy (``default-src
'self'``, no script, ``img-src 'self'``, ``frame-ancestors 'none'``), ``X-Robots-Tag: noindex``,
``Referrer-Policy: no-referrer`` (the link is the secret) and ``nosniff``, and never a cookie;
pages are ``no-store``, files are revalidated each time (a withdrawn or hidden image answers 404
at once). A wrong token, an image that is not shown and a path that is not there all get the
very same 404. Each address has a rate limit (``RateLimiter``). Links inside the pages are
relative, so the gallery works under any path a reverse proxy puts it at.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from aiohttp import hdrs, web

from bot.core.gallery import Period
from bot.core.types import WebSort
from bot.core.web_gallery import GridPage, GridQuery, WebGallery, grid_query
from bot.web.rate_limit import Network, RateLimiter, client_key

log = logging.getLogger(__name__)

PREFIX: Final = "/gallery/"  # where the web server mounts app()
CSP: Final = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Robots-Tag": "noindex, nofollow, noarchive, noimageindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
PAGE_CACHE: Final = "no-store"  # withdrawn and hidden images leave the page at once
FILE_CACHE: Final = "private, no-cache"  # kept by the browser, but asked about every time
STATIC_CACHE: Final = "public, max-age=31536000, immutable"  # its URL names its content
CONTENT_TYPES: Final = {
    "webp": "image/webp",
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
}
_ERRORS: Final = {
    429: ("Slow down", "Too many requests from your address: wait a moment."),
    500: ("Something went wrong", "The gallery couldn't answer. Try again later."),
}
_SORT_WORDS: Final = {WebSort.NEW: "Newest", WebSort.TOP: "Most voted"}
_PERIOD_WORDS: Final = {
    Period.DAY: "Day",
    Period.WEEK: "Week",
    Period.MONTH: "Month",
    Period.ALL: "All time",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GalleryPages:
    def __init__(
        self,
        gallery: WebGallery,
        *,
        rate_per_minute: int,
        trusted_proxies: Sequence[Network] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self._gallery = gallery
        self._limiter = RateLimiter(rate_per_minute) if limiter is None else limiter
        self._trusted = tuple(trusted_proxies)
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("bot.web", "templates"),
            autoescape=True,  # every template: prompts and titles are text, never HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["date"] = _date
        for name in self._templates.list_templates():  # a missing or broken one stops the start
            self._templates.get_template(name)
        self._css = (resources.files("bot.web") / "static" / "gallery.css").read_bytes()
        self._css_version = hashlib.sha256(self._css).hexdigest()[:12]

    def app(self) -> web.Application:
        """The sub-application the web server mounts at PREFIX."""
        app = web.Application(middlewares=[self._safety, self._rate_limit])
        app.router.add_get("/static/gallery.css", self._stylesheet)
        app.router.add_get("/{token}", self._grid)
        app.router.add_get("/{token}/image/{id}", self._image)
        app.router.add_get("/{token}/files/{id}/thumb.webp", self._thumbnail)
        app.router.add_get("/{token}/files/{id}/full.{ext}", self._full)
        app.router.add_route("*", "/{tail:.*}", self._nothing)  # every other path: our 404
        return app

    # --- middlewares ---------------------------------------------------------------------------

    @web.middleware
    async def _safety(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as err:
            response = self._error(err.status, request)
        except Exception:
            log.exception("the web gallery failed to answer")  # no path: it holds the token
            response = self._error(500, request)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault(hdrs.CACHE_CONTROL, PAGE_CACHE)
        response.headers.popall(hdrs.SET_COOKIE, None)
        return response

    @web.middleware
    async def _rate_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = client_key(
            request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []), self._trusted
        )
        wait = self._limiter.take(key)
        if wait > 0:
            response = self._error(429, request)
            response.headers[hdrs.RETRY_AFTER] = str(max(1, round(wait + 0.5)))
            return response
        return await handler(request)

    def _error(self, status: int, request: web.Request) -> web.Response:
        # The same page for every 404 at one depth: a wrong token, an image not shown (any
        # more), a path that is not there. Only the stylesheet's relative link follows the depth.
        root = "../" * request.path.removeprefix(PREFIX).count("/")
        if status == 404:
            body = self._render("not_found.html", root=root)
        else:
            title, message = _ERRORS[429 if status == 429 else 500]
            body = self._render("error.html", root=root, title=title, message=message)
        return web.Response(body=body, status=status, content_type="text/html", charset="utf-8")

    # --- pages ---------------------------------------------------------------------------------

    async def _server(self, request: web.Request) -> tuple[int, str]:
        found = await self._gallery.server_for(request.match_info["token"])
        if found is None:
            raise web.HTTPNotFound()
        return found

    async def _grid(self, request: web.Request) -> web.Response:
        guild_id, server = await self._server(request)
        query = grid_query(request.query)
        if query is None:
            raise web.HTTPNotFound()
        page = await self._gallery.grid(guild_id, server, query)
        token = request.match_info["token"]
        return self._page(
            "grid.html",
            root="",
            token=token,
            page=page,
            sorts=_choices(token, query, "sort", _SORT_WORDS, query.sort),
            periods=_choices(token, query, "period", _PERIOD_WORDS, query.period),
            newer=_link(token, query.params(page=query.page - 1)) if query.page > 1 else None,
            older=_link(token, query.params(page=query.page + 1)) if page.has_next else None,
            heading=_heading(page),
        )

    async def _image(self, request: web.Request) -> web.Response:
        guild_id, server = await self._server(request)
        image = await self._gallery.image(guild_id, server, request.match_info["id"])
        if image is None:
            raise web.HTTPNotFound()
        return self._page("image.html", root="../../", token=request.match_info["token"],
                          image=image, server=server)  # fmt: skip

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "thumb", "webp")

    async def _full(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "full", request.match_info["ext"])

    async def _file(self, request: web.Request, which: Any, extension: str) -> web.StreamResponse:
        guild_id, _ = await self._server(request)
        path = await self._gallery.file(guild_id, request.match_info["id"], which, extension)
        if path is None or extension not in CONTENT_TYPES:
            raise web.HTTPNotFound()
        return web.FileResponse(
            path,
            headers={hdrs.CONTENT_TYPE: CONTENT_TYPES[extension], hdrs.CACHE_CONTROL: FILE_CACHE},
        )

    async def _stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._css,
            content_type="text/css",
            charset="utf-8",
            headers={hdrs.CACHE_CONTROL: STATIC_CACHE},
        )

    async def _nothing(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    def _page(self, template: str, **context: Any) -> web.Response:
        return web.Response(
            body=self._render(template, **context), content_type="text/html", charset="utf-8"
        )

    def _render(self, template: str, **context: Any) -> bytes:
        css = f"{context['root']}static/gallery.css?v={self._css_version}"
        return self._templates.get_template(template).render(css=css, **context).encode()


# --- helpers -------------------------------------------------------------------------------------


def _link(token: str, params: dict[str, str]) -> str:
    return f"{token}?{urlencode(params)}" if params else token


def _choices(
    token: str, query: GridQuery, name: str, words: dict[Any, str], current: object
) -> list[tuple[str, str, bool]]:
    """(label, link, chosen) for each value of one of the grid's options (back to page 1)."""
    return [
        (label, _link(token, query.params(**{name: value.value, "page": 1})), value == current)
        for value, label in words.items()
    ]


def _heading(page: GridPage) -> str:
    query = page.query
    if query.text:
        return f"Matching “{query.text}”"
    if query.sort is WebSort.TOP:
        return f"Most voted, {query.period.words}"
    return "Newest" if query.period is Period.ALL else f"Newest, {query.period.words}"


def _date(timestamp: float) -> str:
    day = datetime.fromtimestamp(timestamp, tz=UTC)
    return f"{day.day} {day:%b %Y}"
