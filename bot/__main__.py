"""Composition root: settings -> logging -> every service, observers passed in -> run.

The one place that knows how the parts are wired. Everything with something to close is entered
in one AsyncExitStack, so it closes in reverse order: Discord first, then Oxen and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import discord
import discord.http
from dotenv import load_dotenv

from bot.config import ConfigError, Settings, load_settings
from bot.core.catalog import ModelCatalog
from bot.core.completions import CompletionListener
from bot.core.enqueue import Enqueuer
from bot.core.images import ImageWorker
from bot.core.imagine import ImagineService
from bot.core.leases import Holder, LeaseKeeper, process_role
from bot.core.lifecycle import Lifecycle
from bot.core.limits import READINESS_OXEN_WINDOW_SECONDS
from bot.core.metrics import Metrics
from bot.core.ports import Store
from bot.core.reporting import Reporters
from bot.core.server_admin import ServerAdmin
from bot.core.sharing import Sharing, WeeklyTop
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher
from bot.core.web_gallery import WebGallery
from bot.discord_app.actions import ButtonActions
from bot.discord_app.audit import AuditLog
from bot.discord_app.buttons import Buttons
from bot.discord_app.client import ImagineBot, rate_limit_trace
from bot.discord_app.delivery import Delivery
from bot.discord_app.flow import RequestFlow
from bot.discord_app.gallery import Gallery
from bot.discord_app.interaction_routes import InteractionRoutes
from bot.discord_app.outbox import Outbox
from bot.discord_app.results import ResultMessages
from bot.discord_app.sharding import ShardedImagineBot
from bot.discord_app.status import StatusMessages
from bot.logs import configure_logging
from bot.oxen import OxenClient
from bot.store import open_store
from bot.store.errors import StoreError, StoreMisconfigured, StoreUnreachable
from bot.store.files import FileImageCopies
from bot.web.gallery import GalleryPages
from bot.web.health import Check, Health, answered_within, succeeds
from bot.web.rate_limit import parse_networks
from bot.web.server import CannotListen, WebServer
from cogs.admin import AdminCog
from cogs.edit import EditCog
from cogs.gallery import GalleryCog
from cogs.help import HelpCog
from cogs.imagine import ImagineCog
from cogs.jobs import JobsCog

log = logging.getLogger("bot")


def discord_rest_base(url: str) -> str:
    """Accept either a bare proxy address or one that already names the API version."""
    return url if "/api/v" in urlsplit(url).path else f"{url}/api/v10"


async def run(
    settings: Settings,
    shutdown: asyncio.Event | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run the bot until ``shutdown`` is set, SIGINT/SIGTERM arrives or Discord closes.
    ``clock``: the gallery's time (its periods and Monday's weekly post); tests move it."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = discord_rest_base(settings.discord_api_base_url)
    shutdown = shutdown or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        # First: a SIGTERM while the bot waits for its database or logs in stops it cleanly.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, shutdown.set)
        stack.callback(_remove_signal_handlers, loop)

        metrics = Metrics()  # its own registry; told by everything below that reports
        opening = open_store(
            settings.store_url,
            wait_seconds=settings.database_wait,
            pool_size=settings.database_pool_size,
        )
        store = await _unless_shutdown(opening, shutdown)
        if store is None:
            log.info("shutting down")
            return
        stack.push_async_callback(store.close)
        # This process among others on the store: its shards, and the owner of its leases.
        shards = settings.shards
        holder = Holder.for_process(process_role(shards.ids, shards.count), settings.lease_seconds)
        metrics.process_is(holder.owner, shards.running, shards.count or 1)
        leases = LeaseKeeper(
            store, holder,
            held=lambda: watcher.held(),
            on_lost=lambda lost: watcher.lease_lost(lost),
        )  # fmt: skip
        await leases.take_over_earlier_runs()  # this process's last run was killed: at once
        oxen = OxenClient(
            settings.oxen_api_key,
            base_url=settings.oxen_base_url,
            on_response=metrics.oxen_response,
        )
        stack.push_async_callback(oxen.close)
        images = ImageWorker()
        stack.callback(images.close)
        catalog = ModelCatalog(
            oxen, settings.oxen_model, default_edit_model=settings.oxen_edit_model
        )
        stack.push_async_callback(catalog.close)

        # SHARD_COUNT: an AutoShardedBot for this process's shards, IDENTIFYs spaced through the
        # store; otherwise one session, as discord.py's plain client runs it.
        sharded: dict[str, Any] = (
            {"shards": shards, "gateway": store.gateway} if shards.sharded else {}
        )
        bot = (ShardedImagineBot if shards.sharded else ImagineBot)(
            **sharded,
            meta=store.meta,
            guild_ids=settings.guild_ids,
            discover_gateway=settings.discord_api_base_url is not None,
            allow_dms=settings.allow_dms,
            # The outbox (built below, it needs this client) reads every answer's rate limits.
            http_trace=rate_limit_trace(
                metrics.discord_rate_limited,
                on_response=lambda method, response: outbox.on_response(method, response),
            ),
        )
        stack.push_async_callback(bot.close)  # idempotent; covers failures during start
        # A button press goes to `actions`, built below: it needs the request flow, which
        # needs these buttons for the status message's Cancel.
        buttons = Buttons(
            on_press=lambda interaction, act, target: actions.press(interaction, act, target)
        )
        # Everything sent to a channel goes through its queue in the outbox, paced by its
        # buckets; interaction tokens (in memory only) carry a request's edits while valid.
        routes = InteractionRoutes(clock=clock)
        outbox = Outbox(
            bot, routes, buttons,
            on_posted=metrics.result_message_posted,
            on_edit_dropped=metrics.status_edit_dropped,
        )  # fmt: skip
        results = ResultMessages(bot, store, buttons, outbox)
        status = StatusMessages(
            bot, store, buttons, outbox, min_edit_gap=settings.status_edit_interval
        )
        audit = AuditLog(bot, store)
        reporter = Reporters(status, audit)
        delivery = Delivery(
            bot, oxen, store.servers, buttons, images, outbox,
            max_download_bytes=settings.max_download_bytes,
            download_timeout=settings.download_timeout,
        )  # fmt: skip
        # The watcher tells the waiting line (built below, it sends through the enqueuer, which
        # tells the watcher about new jobs) when a generation stops counting against the cap.
        watcher = Watcher(
            oxen, store, delivery,
            reporter=reporter,
            on_generation_finished=lambda: line.wake(),
            poll_interval=settings.poll_interval,
            max_generation_age=settings.max_generation_age,
            retention_days=settings.job_retention_days,
            metrics=metrics,
            holder=holder,
            serves=shards.serves,
        )  # fmt: skip
        enqueuer = Enqueuer(oxen, store, on_jobs_added=watcher.job_added)
        line = WaitingLine(
            store, enqueuer, reporter,
            tell=delivery.explain_not_started,
            cap=settings.max_generations_in_flight,
            holder=holder,
            serves=shards.serves,
        )  # fmt: skip
        imagine = ImagineService(
            store, catalog, enqueuer, line, watcher,
            reporter=reporter, metrics=metrics, holder=holder,
        )  # fmt: skip
        completions = CompletionListener(oxen, watcher, metrics=metrics)
        flow = RequestFlow(imagine, status, buttons, routes, allow_dms=settings.allow_dms)
        sharing = Sharing(store, clock=clock)
        web_gallery = WebGallery(
            store, FileImageCopies(settings.gallery_files), images,
            public_base_url=settings.public_base_url,
            served=bool(settings.http_port),
            clock=clock,
        )  # fmt: skip
        gallery = Gallery(
            bot, store, sharing, buttons, audit, images, catalog, web=web_gallery, results=results
        )
        weekly = WeeklyTop(
            store, gallery, clock=clock, check_interval=settings.weekly_check_interval,
            serves=shards.serves,
        )  # fmt: skip
        actions = ButtonActions(flow, imagine, store.jobs, gallery, results)
        bot.install(
            cogs=(
                ImagineCog(flow, catalog),
                EditCog(flow, catalog, bot.tree),
                JobsCog(store, line, buttons),
                HelpCog(settings, store.servers),
                AdminCog(ServerAdmin(store, catalog), catalog, gallery, web_gallery),
                GalleryCog(sharing, gallery),
            ),
            dynamic_items=(buttons.item_type,),
            lifecycle=Lifecycle(
                imagine,
                completions,
                watcher,
                line,
                grace=settings.shutdown_grace,
                also_run=(("the gallery's weekly post", weekly), ("lease renewals", leases)),
                also_stop=(
                    ("gallery votes and auto-shares", gallery.close),  # before their audit entries
                    ("the audit channel", audit.close),
                    ("status edits", status.close),
                    ("posts and edits waiting for their channel", outbox.close),
                ),
            ),
        )

        # The "now" gauges read what the bot keeps in memory: a scrape never queries the store.
        metrics.read_now_from(
            jobs_by_state=watcher.open_jobs.by_state,
            oldest_pending_age=watcher.open_jobs.oldest_pending_age,
            waiting_requests=lambda: line.waiting,
            gateway_latency=lambda: bot.latency,
            gateway_connected=lambda: bot.gateway_connected,
        )
        if settings.http_port:
            # Up before the bot logs in: liveness is about the process, not about Discord.
            web = WebServer(
                host=settings.http_host,
                port=settings.http_port,
                metrics=metrics,
                gallery=GalleryPages(
                    web_gallery,
                    rate_per_minute=settings.gallery_rate_per_minute,
                    trusted_proxies=parse_networks(settings.trusted_proxies),
                ),
                health=Health(
                    live=[Check("watcher", lambda: not watcher.died)],
                    ready=[
                        Check("gateway", lambda: bot.gateway_connected),
                        Check("store", succeeds(store.ping)),
                        Check(
                            "oxen",
                            answered_within(
                                READINESS_OXEN_WINDOW_SECONDS,
                                seconds_since_answer=metrics.seconds_since_oxen_answered,
                                stream_open=lambda: completions.connected,
                            ),
                        ),
                    ],
                ),
            )
            await web.start()
            stack.push_async_callback(web.close)

        # Unwound first: a second signal while the bot stops ends it at once (the default).
        stack.callback(_remove_signal_handlers, loop)
        runner = asyncio.create_task(bot.start(settings.discord_token), name="discord-client")
        stopper = asyncio.create_task(shutdown.wait(), name="shutdown-signal")
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            stopper.cancel()
            await runner  # re-raises a login or connection failure
            return
        log.info("shutting down")
        await bot.close()
        try:
            await runner
        except Exception as err:  # e.g. still logging in: its requests fail as the client closes
            log.debug("the Discord client stopped while starting: %r", err)


async def _unless_shutdown(opening: Awaitable[Store], shutdown: asyncio.Event) -> Store | None:
    """The opened store, or None if shutdown came first (the opening is cancelled)."""
    opened = asyncio.ensure_future(opening)
    stopper = asyncio.create_task(shutdown.wait(), name="shutdown-signal")
    await asyncio.wait({opened, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not opened.done():
        opened.cancel()
        with contextlib.suppress(asyncio.CancelledError, StoreError):
            await opened
        return None
    return opened.result()


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)


def main() -> None:
    load_dotenv()
    try:
        settings = load_settings(os.environ)
    except ConfigError as err:
        print(f"imagine-bot: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    try:
        asyncio.run(run(settings))
    except (CannotListen, StoreMisconfigured) as err:
        log.error("%s", err)
        raise SystemExit(2) from None
    except StoreUnreachable as err:
        log.error("%s", err)
        raise SystemExit(1) from None  # worth a restart: the orchestrator's policy decides
    except discord.LoginFailure:
        log.error(
            "Discord refused DISCORD_TOKEN: copy the bot token again from the Developer Portal"
        )
        raise SystemExit(2) from None
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the requested gateway intents")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
