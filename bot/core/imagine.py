"""The /imagine service: check a request against the server's rules, then send it to Oxen (or to
the waiting line when the bot is at its cap), and cancel requests.

No Discord types here: the cog translates the interaction into an ``ImagineRequest``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bot.core import fair_use, locks, validation
from bot.core.catalog import ModelCatalog
from bot.core.enqueue import Enqueuer, NothingQueued
from bot.core.errors import UserFacingError, explain_oxen_error
from bot.core.leases import Holder
from bot.core.limits import MAX_IMAGES_PER_REQUEST, MAX_SEED
from bot.core.metrics import Metrics
from bot.core.moderation import BannedTerms, refusal_text
from bot.core.ports import RequestReporter, Store
from bot.core.text import printable
from bot.core.types import (
    GuildSettings,
    ImagineRequest,
    LinePlace,
    Order,
    RefusalRule,
    Usage,
    waiting_id,
)
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher
from bot.oxen import Model, OxenError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    request_id: str
    model: str
    count: int
    position: int | None = None  # in this server's queue (our own count; Oxen gives none)
    place: LinePlace | None = None  # where it stands in the bot's line, when it must wait


class Refused(UserFacingError):
    """A server rule refused the request; ``rule`` says which, for the audit channel, and
    ``kind`` which kind of rule, for the metrics."""

    def __init__(self, message: str, *, rule: str, kind: RefusalRule) -> None:
        super().__init__(message)
        self.rule = rule
        self.kind = kind


class ImagineService:
    def __init__(
        self,
        store: Store,
        catalog: ModelCatalog,
        enqueuer: Enqueuer,
        line: WaitingLine,
        watcher: Watcher,
        *,
        reporter: RequestReporter,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        holder: Holder | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._enqueuer = enqueuer
        self._line = line
        self._watcher = watcher
        self._reporter = reporter
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._clock = clock
        self._metrics = metrics or Metrics(process=False)
        self._holder = holder or Holder.for_process()  # leases the prompts it is sending

    async def drain(self) -> None:
        """Refuse new requests and wait for those being enqueued to be recorded (the caller
        bounds the wait: what is cut off is an intent, explained at the next start)."""
        self._closing = True
        await self._idle.wait()

    @contextlib.asynccontextmanager
    async def handling(self) -> AsyncIterator[None]:
        """Marks a request being handled (enqueued, its status message posted): shutdown waits
        for it, and refuses new ones."""
        if self._closing:
            raise UserFacingError("I'm restarting right now. Please try again in a minute.")
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def submit(self, request: ImagineRequest) -> Accepted:
        """Enqueue at Oxen (or join the waiting line) and store the jobs. Raises
        UserFacingError with words for the user."""
        async with self.handling():
            try:
                return await self._submit(request)
            except Refused as refusal:
                self._metrics.refused(refusal.kind)
                await self._reporter.refused(request, refusal.rule)
                raise

    async def _submit(self, request: ImagineRequest) -> Accepted:
        prompt = printable(request.prompt).strip()
        if not prompt:
            raise UserFacingError("The prompt is empty: describe the image you want.")
        if not 1 <= request.count <= MAX_IMAGES_PER_REQUEST:
            raise UserFacingError(f"`count` must be between 1 and {MAX_IMAGES_PER_REQUEST}.")
        server, exempt = await self._check_server_rules(request, prompt)
        default = server.default_model or self._catalog.default_model
        model = request.model or (
            self._catalog.default_edit_model if request.input_image else default
        )
        order = Order(
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            requester_id=request.requester_id,
            prompt=prompt,
            model=model,
            params=await self._params(model, request, prompt),
            count=request.count,
            upload_limit=request.origin.upload_limit,
            parent_id=request.parent_id,
        )
        admitted = await self._admit(request, order, server, exempt=exempt)
        if isinstance(admitted, LinePlace):
            return Accepted(admitted.waiting.request_id, model, order.count, place=admitted)
        ids = await self._send(order, admitted)
        return Accepted(ids[0], model, len(ids), await self._store.jobs.queue_position(ids[0]))

    async def _admit(
        self, request: ImagineRequest, order: Order, server: GuildSettings, *, exempt: bool
    ) -> int | LinePlace:
        """Count the person's images, check the limits and record the request (an intent to
        send it, or its place in line) as one step, under the person's lock in the store (and
        the server's, and the cap's, when those are counted): requests admitted at the same
        moment, by this process or another sharing the store, see each other."""
        keys = [locks.owner(order.guild_id, order.requester_id)]
        if server.daily_budget:
            keys.append(locks.server(order.guild_id))
        if self._line.cap > 0:
            keys.append(locks.CAP)
        limit = fair_use.owner_limit(server, exempt=exempt)
        async with self._store.locked(*keys):
            usage = await self._usage(request)
            self._check_fair_use(server, usage, request.count, exempt=exempt)
            for_own = fair_use.waits_for_own(usage, order.count, limit)
            if for_own or not await self._line.admit(order):
                try:
                    fair_use.check_waiting(server, usage, order.count, exempt=exempt)
                except UserFacingError as err:
                    raise Refused(
                        str(err), rule=f"fair-use limit: {err}", kind=RefusalRule.FAIR_USE
                    ) from None
                return await self._line.join(
                    order, owner_limit=limit, waits_for_own=for_own,
                    owner_in_flight=usage.in_flight,
                )  # fmt: skip
            try:
                return await self._store.intents.begin(
                    guild_id=order.guild_id,
                    channel_id=order.channel_id,
                    requester_id=order.requester_id,
                    prompt=order.prompt,
                    count=order.count,
                    owner=self._holder.owner,
                    lease_seconds=self._holder.seconds,
                )
            finally:
                self._line.release(order)  # the intent counts its images from now on

    async def _send(self, order: Order, intent: int) -> list[str]:
        try:
            return await self._enqueuer.send(order, intent)
        except (OxenError, NothingQueued) as err:
            await self._store.intents.forget(intent)
            if isinstance(err, OxenError):
                raise UserFacingError(explain_oxen_error(err)) from err
            raise UserFacingError("Oxen accepted the request but returned no generation.") from err

    async def attach_status_message(self, accepted: Accepted, message_id: int) -> None:
        await self._store.jobs.attach_status_message(accepted.request_id, message_id)

    async def _check_server_rules(
        self, request: ImagineRequest, prompt: str
    ) -> tuple[GuildSettings, bool]:
        """The server's channel list, banned terms, upload rule and fair-use limits, in that
        order; returns the settings and whether the requester is exempt. In DMs
        no server's settings apply, only the default per-user limits."""
        server = GuildSettings()
        if request.guild_id is not None:
            server = await self._store.servers.get(request.guild_id)
            self._check_moderation(server, request, prompt)
        # A first look, so that a refusal costs nothing more; _admit looks again, under a lock.
        usage = await self._usage(request)
        exempt = bool(set(request.origin.role_ids) & set(server.exempt_role_ids))
        self._check_fair_use(server, usage, request.count, exempt=exempt)
        return server, exempt

    async def _usage(self, request: ImagineRequest) -> Usage:
        """The person's images now: at Oxen or being sent (by any process), waiting, today."""
        since = fair_use.day_start(self._clock())
        return await self._store.jobs.usage(request.guild_id, request.requester_id, since)

    def _check_fair_use(
        self, server: GuildSettings, usage: Usage, count: int, *, exempt: bool
    ) -> None:
        try:
            fair_use.check(server, usage, count, exempt=exempt, now=self._clock())
        except UserFacingError as err:
            raise Refused(
                str(err), rule=f"fair-use limit: {err}", kind=RefusalRule.FAIR_USE
            ) from None

    def _check_moderation(
        self, server: GuildSettings, request: ImagineRequest, prompt: str
    ) -> None:
        if server.allowed_channel_ids and request.channel_id not in server.allowed_channel_ids:
            channels = ", ".join(f"<#{c}>" for c in server.allowed_channel_ids[:10])
            raise Refused(
                f"On this server I only make images in {channels}.",
                rule="a channel not allowed",
                kind=RefusalRule.CHANNEL,
            )
        terms = BannedTerms(server.banned_words, server.banned_patterns)
        matched = terms.first_match(prompt, request.negative_prompt)
        if matched is not None:
            log.info(
                "refused a prompt from user %s in guild %s: banned term %r",
                request.requester_id, request.guild_id, matched,
            )  # fmt: skip
            raise Refused(
                refusal_text(), rule=f"banned term `{matched}`", kind=RefusalRule.BANNED_TERM
            )
        nsfw = request.origin.channel_nsfw
        if server.upload_edits_nsfw_only and request.input_is_upload and not nsfw:
            raise Refused(
                "On this server, uploaded images can only be edited in age-restricted (NSFW) "
                "channels. Use one of those, or edit an image I made.",
                rule="editing an upload outside an NSFW channel",
                kind=RefusalRule.UPLOAD_EDIT,
            )

    async def owner_of(self, request_id: str) -> tuple[int, str] | None:
        """Who asked for a request and its prompt, whether at Oxen or in line; None if gone."""
        jobs = await self._store.jobs.of_request(request_id)
        if jobs:
            return jobs[0].requester_id, jobs[0].prompt
        line_id = waiting_id(request_id)
        if line_id is None:
            return None
        found = await self._store.line.get(line_id) or await self._store.intents.for_request(
            request_id
        )
        return (found.requester_id, found.prompt) if found else None

    async def cancel(self, request_id: str, *, by_user_id: int) -> int:
        """Cancel a request's unfinished generations (at Oxen, or its place in line); returns
        how many images were cancelled. The status message then says who cancelled it."""
        line_id = waiting_id(request_id)
        waiting = await self._store.line.get(line_id) if line_id is not None else None
        if waiting is not None and await self._store.line.remove(waiting.id):
            self._line.wake()  # the places behind it move up
            await self._reporter.cancelled(waiting, by_user_id, waiting.order.count)
            return waiting.order.count
        jobs = await self._store.jobs.of_request(request_id)
        if not jobs and await self._store.intents.for_request(request_id) is not None:
            raise UserFacingError(
                "It's leaving the line for Oxen right now: press Cancel again in a moment."
            )
        reason = f"cancelled by <@{by_user_id}>"
        cancelled = 0
        for job in jobs:
            try:
                cancelled += await self._watcher.cancel(job.generation_id, reason)
            except OxenError as err:
                raise UserFacingError(explain_oxen_error(err)) from err
        if cancelled and jobs:
            await self._reporter.cancelled(jobs[0], by_user_id, cancelled)
        return cancelled

    async def _params(self, model_id: str, request: ImagineRequest, prompt: str) -> dict[str, Any]:
        """Oxen's parameters for the request, checked against the model's schema when known."""
        model = await self._catalog.details(model_id)
        if model is None:
            if await self._catalog.known():
                raise UserFacingError(
                    f"`{model_id[:100]}` isn't an Oxen image model I know. "
                    "Pick one from the `model` suggestions, or leave it empty for the default."
                )
            model = Model(id=model_id)  # Oxen's list is unavailable: let Oxen itself validate
        seed = request.seed
        if seed is None and validation.supports_seed(model):
            seed = secrets.randbelow(MAX_SEED + 1)  # shown with the result, so it can be reused
        options = validation.Options(
            prompt=prompt,
            aspect_ratio=request.aspect_ratio,
            seed=seed,
            steps=request.steps,
            negative_prompt=printable(request.negative_prompt or "") or None,
            input_image=request.input_image,
        )
        return validation.build_params(model, options)
