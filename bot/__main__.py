"""Composition root: settings -> logging -> resources in one AsyncExitStack -> bot.start."""

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

from bot.app import ImagineBot, Services
from bot.audit import AuditLog
from bot.catalog import ModelCatalog
from bot.completions import CompletionListener
from bot.config import ConfigError, RedactSecrets, Settings, load_settings
from bot.delivery import Delivery
from bot.enqueue import Enqueuer
from bot.imagine import ImagineService
from bot.oxen import OxenClient
from bot.progress import StatusMessages
from bot.reporting import Reporters
from bot.server_admin import ServerAdmin
from bot.store import JobStore
from bot.waiting_line import WaitingLine
from bot.watcher import Watcher

log = logging.getLogger("bot")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(settings.secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("discord.http").setLevel(logging.WARNING)


def discord_rest_base(url: str) -> str:
    """Accept either a bare proxy address or one that already names the API version."""
    return url if "/api/v" in urlsplit(url).path else f"{url}/api/v10"


async def run(settings: Settings, shutdown: asyncio.Event | None = None) -> None:
    """Run the bot until ``shutdown`` is set, SIGINT/SIGTERM arrives or Discord closes."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = discord_rest_base(settings.discord_api_base_url)
    shutdown = shutdown or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        store = await JobStore.open(settings.database_path)
        stack.push_async_callback(store.close)
        oxen = OxenClient(settings.oxen_api_key, base_url=settings.oxen_base_url)
        stack.push_async_callback(oxen.close)

        bot = ImagineBot(
            guild_ids=settings.guild_ids,
            discover_gateway=settings.discord_api_base_url is not None,
        )
        catalog = ModelCatalog(
            oxen, settings.oxen_model, default_edit_model=settings.oxen_edit_model
        )
        status = StatusMessages(bot, store, min_edit_gap=settings.status_edit_interval)
        audit = AuditLog(bot, store)
        reporter = Reporters(status, audit)
        delivery = Delivery(
            bot,
            oxen,
            max_download_bytes=settings.max_download_bytes,
            download_timeout=settings.download_timeout,
            server_settings=store.guild_settings,
        )
        watcher = Watcher(
            oxen,
            store,
            delivery,
            status=reporter,
            poll_interval=settings.poll_interval,
            max_generation_age=settings.max_generation_age,
        )
        enqueuer = Enqueuer(oxen, store, watcher)
        line = WaitingLine(
            store,
            enqueuer,
            reporter,
            tell=delivery.explain_not_started,
            cap=settings.max_generations_in_flight,
        )
        watcher.generation_finished = line.wake
        bot.attach(
            Services(
                store=store,
                catalog=catalog,
                imagine=ImagineService(
                    store, catalog, enqueuer, line, watcher, reporter=reporter, audit=audit
                ),
                watcher=watcher,
                completions=CompletionListener(oxen, watcher),
                status=status,
                line=line,
                audit=audit,
                settings=settings,
                admin=ServerAdmin(store, catalog),
            )
        )
        stack.push_async_callback(bot.close)  # idempotent; covers failures during start

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, shutdown.set)
        stack.callback(_remove_signal_handlers, loop)

        runner = asyncio.create_task(bot.start(settings.discord_token), name="discord-client")
        stopper = asyncio.create_task(shutdown.wait(), name="shutdown-signal")
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("shutting down")
            await bot.close()
        else:
            stopper.cancel()
        await runner  # re-raises a login or connection failure


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
