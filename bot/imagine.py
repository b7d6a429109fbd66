"""The /imagine service: validate a request, enqueue it at Oxen, record the jobs, wake the watcher.

No Discord types here: the cog translates the interaction into an ``ImagineRequest``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot import limits, validation
from bot.catalog import ModelCatalog
from bot.errors import UserFacingError, explain_oxen_error
from bot.guild_settings import GuildSettings
from bot.limits import day_start
from bot.moderation import BannedTerms, refusal_text
from bot.oxen import Model, OxenClient, OxenError
from bot.request import ImagineRequest
from bot.store import JobStore, NewJob
from bot.watcher import Watcher

log = logging.getLogger(__name__)

MAX_COUNT = 4
MAX_SEED = 4_294_967_295


@dataclass(frozen=True)
class Accepted:
    generation_ids: list[str]
    model: str
    position: int | None = None  # in this server's queue (our own count; Oxen gives none)


class ImagineService:
    def __init__(
        self,
        oxen: OxenClient,
        store: JobStore,
        catalog: ModelCatalog,
        watcher: Watcher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oxen = oxen
        self._store = store
        self._catalog = catalog
        self._watcher = watcher
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._reserved: dict[tuple[int | None, int], int] = {}  # images being enqueued, per user
        self._clock = clock

    async def drain(self, grace: float = 10.0) -> None:
        """Refuse new requests and wait (bounded) for those being enqueued to be recorded."""
        self._closing = True
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d requests were still being enqueued at shutdown", self._in_flight)

    async def submit(self, request: ImagineRequest) -> Accepted:
        """Enqueue at Oxen and store the jobs. Raises UserFacingError with words for the user."""
        if self._closing:
            raise UserFacingError("I'm restarting right now. Please try again in a minute.")
        self._in_flight += 1
        self._idle.clear()
        # Reserved before any await: two requests racing past the limit check see each other.
        key = (request.guild_id, request.requester_id)
        self._reserved[key] = self._reserved.get(key, 0) + request.count
        try:
            return await self._submit(request)
        finally:
            self._reserved[key] -= request.count
            if not self._reserved[key]:
                del self._reserved[key]
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _submit(self, request: ImagineRequest) -> Accepted:
        prompt = request.prompt.strip()
        if not prompt:
            raise UserFacingError("The prompt is empty: describe the image you want.")
        if not 1 <= request.count <= MAX_COUNT:
            raise UserFacingError(f"`count` must be between 1 and {MAX_COUNT}.")
        server = await self._check_server_rules(request, prompt)
        default = server.default_model or self._catalog.default_model
        model = request.model or (
            self._catalog.default_edit_model if request.input_image else default
        )
        params = await self._params(model, request, prompt)
        # The intent is written before the request leaves: if the bot dies before Oxen's answer is
        # recorded, the next start tells the requester instead of silently dropping the prompt.
        intent = await self._store.begin_enqueue(
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            requester_id=request.requester_id,
            prompt=prompt,
        )
        try:
            queued = await self._oxen.enqueue(model, num_generations=request.count, **params)
        except Exception as err:
            await self._store.forget_enqueue(intent)
            if isinstance(err, OxenError):
                raise UserFacingError(explain_oxen_error(err)) from err
            raise
        if not queued:
            await self._store.forget_enqueue(intent)
            raise UserFacingError("Oxen accepted the request but returned no generation.")
        # Stored before the user is told anything: an accepted generation is never lost.
        await self._store.end_enqueue(
            intent,
            (
                NewJob(
                    generation_id=g.generation_id,
                    guild_id=request.guild_id,
                    channel_id=request.channel_id,
                    requester_id=request.requester_id,
                    prompt=prompt,
                    model=model,
                    params=params,
                    batch_index=index,
                    batch_size=len(queued),
                    upload_limit=request.upload_limit,
                    request_id=queued[0].generation_id,
                )
                for index, g in enumerate(queued)
            ),
        )
        ids = [g.generation_id for g in queued]
        log.info(
            "queued %s for user %s in channel %s", ids, request.requester_id, request.channel_id
        )
        self._watcher.job_added()
        return Accepted(ids, model, await self._store.queue_position(ids[0]))

    async def attach_status_message(self, accepted: Accepted, message_id: int) -> None:
        await self._store.set_status_message(accepted.generation_ids, message_id)

    async def _check_server_rules(self, request: ImagineRequest, prompt: str) -> GuildSettings:
        """The server's channel list, banned terms and fair-use limits, in that order."""
        if request.guild_id is None:
            return GuildSettings()
        server = await self._store.guild_settings(request.guild_id)
        if server.allowed_channel_ids and request.channel_id not in server.allowed_channel_ids:
            channels = ", ".join(f"<#{c}>" for c in server.allowed_channel_ids[:10])
            raise UserFacingError(f"On this server I only make images in {channels}.")
        terms = BannedTerms(server.banned_words, server.banned_patterns)
        matched = terms.first_match(prompt, request.negative_prompt)
        if matched is not None:
            log.info(
                "refused a prompt from user %s in guild %s: banned term %r",
                request.requester_id, request.guild_id, matched,
            )  # fmt: skip
            raise UserFacingError(refusal_text())
        now = self._clock()
        usage = await self._store.usage(request.guild_id, request.requester_id, day_start(now))
        others = self._reserved.get((request.guild_id, request.requester_id), 0) - request.count
        usage = replace(usage, in_flight=usage.in_flight + others)
        exempt = bool(set(request.role_ids) & set(server.exempt_role_ids))
        limits.check(server, usage, request.count, exempt=exempt, now=now)
        return server

    async def cancel(self, request_id: str, *, by_user_id: int) -> int:
        """Cancel a request's unfinished generations at Oxen; returns how many were cancelled.
        The status message then says who cancelled it."""
        jobs = await self._store.request_jobs(request_id)
        reason = f"cancelled by <@{by_user_id}>"
        cancelled = 0
        for job in jobs:
            try:
                cancelled += await self._watcher.cancel(job.generation_id, reason)
            except OxenError as err:
                raise UserFacingError(explain_oxen_error(err)) from err
        if cancelled and jobs:
            await self._watcher.request_cancelled(jobs[0], by_user_id, cancelled)
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
            negative_prompt=request.negative_prompt,
            input_image=request.input_image,
        )
        return validation.build_params(model, options)
