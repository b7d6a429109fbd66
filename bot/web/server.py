"""The web server inside the bot: ``GET /livez``, ``/readyz`` and ``/metrics`` on HTTP_HOST and
HTTP_PORT, in the bot's own event loop, and the web gallery's pages under ``/gallery/``
(bot/web/gallery.py) when it is handed them. Started before the bot logs in to Discord and closed
after it, by the composition root.

It also keeps one small task that measures how late the event loop runs a timer
(``imagine_event_loop_lag_seconds``): something slow on the loop shows up there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiohttp import web

from bot.core.metrics import CONTENT_TYPE, Metrics
from bot.web.gallery import PREFIX as GALLERY_PREFIX
from bot.web.gallery import GalleryPages
from bot.web.health import Health, Verdict

log = logging.getLogger(__name__)

LOOP_LAG_INTERVAL: Final = 1.0  # seconds between two looks at the event loop's lateness
_NO_STORE: Final = {"Cache-Control": "no-store"}


class CannotListen(Exception):
    """The address is taken or not this machine's: the text names it and the fix."""

    def __init__(self, host: str, port: int, err: OSError) -> None:
        super().__init__(
            f"cannot listen on {host}:{port} for health and metrics ({err.strerror or err}): "
            "set HTTP_PORT to a free port (or 0 to turn the server off) and HTTP_HOST to an "
            "address of this machine"
        )


class WebServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        health: Health,
        metrics: Metrics,
        gallery: GalleryPages | None = None,
        lag_interval: float = LOOP_LAG_INTERVAL,
    ) -> None:
        self._host = host
        self._gallery = gallery  # the web gallery's pages, under /gallery/
        self._port = port
        self._health = health
        self._metrics = metrics
        self._lag_interval = lag_interval
        self._runner: web.AppRunner | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.port: int | None = None  # the port bound, once started

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        if self._gallery is not None:
            app.add_subapp(GALLERY_PREFIX.rstrip("/"), self._gallery.app())
        return app

    async def start(self) -> None:
        # No access log: a scrape every few seconds would drown the bot's own lines.
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise CannotListen(self._host, self._port, err) from err
        self._runner = runner
        addresses = runner.addresses  # the port bound, when 0 asked for any free one (tests)
        self.port = int(addresses[0][1]) if addresses else self._port
        self._lag_task = asyncio.create_task(self._watch_loop_lag(), name="imagine-loop-lag")
        log.info("health and metrics on http://%s:%s (/livez, /readyz, /metrics)",
                 self._host, self.port)  # fmt: skip

    async def close(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- handlers -----------------------------------------------------------------------------

    async def _livez(self, request: web.Request) -> web.Response:
        return _answer(await self._health.live())

    async def _readyz(self, request: web.Request) -> web.Response:
        return _answer(await self._health.ready())

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE, **_NO_STORE}
        )

    # --- the event loop's lateness ------------------------------------------------------------

    async def _watch_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._lag_interval)
            self._metrics.loop_lag(loop.time() - started - self._lag_interval)


def _answer(verdict: Verdict) -> web.Response:
    return web.json_response(verdict.body(), status=200 if verdict.ok else 503, headers=_NO_STORE)
