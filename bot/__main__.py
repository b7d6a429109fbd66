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
from bot.core.lifecycle import Lifecycle
from bot.core.reporting import Reporters
from bot.core.server_admin import ServerAdmin
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher
from bot.discord_app.actions import ButtonActions
from bot.discord_app.audit import AuditLog
from bot.discord_app.buttons import Buttons
from bot.discord_app.client import ImagineBot
from bot.discord_app.delivery import Delivery
from bot.discord_app.flow import RequestFlow
from bot.discord_app.status import StatusMessages
from bot.logs import configure_logging
from bot.oxen import OxenClient
from bot.store import open_store
from cogs.admin import AdminCog
from cogs.edit import EditCog
from cogs.help import HelpCog
from cogs.imagine import ImagineCog
from cogs.jobs import JobsCog

log = logging.getLogger("bot")


def discord_rest_base(url: str) -> str:
    """Accept either a bare proxy address or one that already names the API version."""
    return url if "/api/v" in urlsplit(url).path else f"{url}/api/v10"


async def run(settings: Settings, shutdown: asyncio.Event | None = None) -> None:
    """Run the bot until ``shutdown`` is set, SIGINT/SIGTERM arrives or Discord closes."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = discord_rest_base(settings.discord_api_base_url)
    shutdown = shutdown or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        store = await open_store(settings.database_path)
        stack.push_async_callback(store.close)
        oxen = OxenClient(settings.oxen_api_key, base_url=settings.oxen_base_url)
        stack.push_async_callback(oxen.close)
        images = ImageWorker()
        stack.callback(images.close)
        catalog = ModelCatalog(
            oxen, settings.oxen_model, default_edit_model=settings.oxen_edit_model
        )
        stack.push_async_callback(catalog.close)

        bot = ImagineBot(
            meta=store.meta,
            guild_ids=settings.guild_ids,
            discover_gateway=settings.discord_api_base_url is not None,
            allow_dms=settings.allow_dms,
        )
        stack.push_async_callback(bot.close)  # idempotent; covers failures during start
        # A button press goes to `actions`, built below: it needs the request flow, which
        # needs these buttons for the status message's Cancel.
        buttons = Buttons(
            on_press=lambda interaction, act, target: actions.press(interaction, act, target)
        )
        status = StatusMessages(bot, store, buttons, min_edit_gap=settings.status_edit_interval)
        audit = AuditLog(bot, store)
        reporter = Reporters(status, audit)
        delivery = Delivery(
            bot, oxen, store.servers, buttons, images,
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
        )  # fmt: skip
        enqueuer = Enqueuer(oxen, store, on_jobs_added=watcher.job_added)
        line = WaitingLine(
            store, enqueuer, reporter,
            tell=delivery.explain_not_started,
            cap=settings.max_generations_in_flight,
        )  # fmt: skip
        imagine = ImagineService(store, catalog, enqueuer, line, watcher, reporter=reporter)
        flow = RequestFlow(imagine, status, buttons, allow_dms=settings.allow_dms)
        actions = ButtonActions(flow, imagine, store.jobs)
        bot.install(
            cogs=(
                ImagineCog(flow, catalog),
                EditCog(flow, catalog, bot.tree),
                JobsCog(store, buttons),
                HelpCog(settings, store.servers),
                AdminCog(ServerAdmin(store, catalog), catalog),
            ),
            dynamic_items=(buttons.item_type,),
            lifecycle=Lifecycle(
                imagine,
                CompletionListener(oxen, watcher),
                watcher,
                line,
                grace=settings.shutdown_grace,
                also_stop=(("the audit channel", audit.close),),
            ),
        )

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, shutdown.set)
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
