"""Oxen's image models, cached so autocomplete answers within Discord's 3 seconds.

Stale while revalidate: a copy older than the TTL is still served at once while one background
fetch refreshes it, so a slow or hanging Oxen never holds up a caller that has a copy. Only a
caller with no copy at all waits, and no longer than it says (autocomplete: under a second).
No lock is held across a network call: concurrent callers share the one fetch in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.core.limits import DEFAULT_EDIT_MODEL
from bot.oxen import Model, NotFound, OxenClient, OxenError

log = logging.getLogger(__name__)

# How long an autocomplete may wait for a first fetch (Discord drops answers after 3 s).
SUGGEST_WAIT_SECONDS = 0.8
# After a failed fetch, callers get what is cached for this long before another fetch is tried.
_RETRY_AFTER_FAILURE = 30.0
_NOT_AN_IMAGE_MODEL = object()  # Oxen knows the id, but it can't make images
_GONE = object()  # Oxen had this model and no longer does


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any  # the list of image models, a Model, _NOT_AN_IMAGE_MODEL or _GONE
    fetched_at: float


class ModelCatalog:
    def __init__(
        self,
        oxen: OxenClient,
        default_model: str,
        *,
        default_edit_model: str = DEFAULT_EDIT_MODEL,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oxen = oxen
        self.default_model = default_model
        self.default_edit_model = default_edit_model
        self._ttl = ttl
        self._clock = clock
        # Key "" is the list; other keys are model ids. Only ids Oxen answered for are kept,
        # so ids users make up cannot grow this.
        self._entries: dict[str, _Entry] = {}
        self._failed_at: dict[str, float] = {}
        self._fetching: dict[str, asyncio.Task[None]] = {}

    async def close(self) -> None:
        """Stop fetches in flight (at shutdown)."""
        tasks = list(self._fetching.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the list ----------------------------------------------------------------------------

    async def image_models(self, *, wait: float | None = None) -> list[Model]:
        """Image-output models: the cached list (refreshed in the background when stale), or,
        with none cached yet, the answer of a fetch awaited up to ``wait`` seconds (None: until
        it ends). On failure, the last good list or none."""
        entry = await self._lookup("", self._fetch_list, wait)
        return list(entry.value) if entry is not None else []

    async def edit_models(self, *, wait: float | None = None) -> list[Model]:
        """Image models that also take an image in, so they accept ``input_image``."""
        return [m for m in await self.image_models(wait=wait) if m.accepts_image_input]

    async def find(self, model_id: str, *, wait: float | None = None) -> Model | None:
        for model in await self.image_models(wait=wait):
            if model.id == model_id:
                return model
        return None

    async def known(self) -> bool:
        """Whether a model list is available to validate against."""
        return bool(await self.image_models())

    # --- one model ---------------------------------------------------------------------------

    async def details(self, model_id: str, *, wait: float | None = None) -> Model | None:
        """The image model with its ``request_schema`` (the list may omit it), or None.

        None means Oxen says there is no such image model, or nothing is known about it (Oxen
        unreachable, or not answering within ``wait``). When Oxen fails, the list entry is used.
        """
        entry = await self._lookup(model_id, lambda: self._fetch_details(model_id), wait)
        if entry is not None:
            return entry.value if isinstance(entry.value, Model) else None
        return await self.find(model_id, wait=wait)

    # --- autocomplete ------------------------------------------------------------------------

    async def suggest(
        self, typed: str, limit: int = 25, *, edit_only: bool = False
    ) -> list[tuple[str, str]]:
        """(label, id) pairs for autocomplete, best matches first; ``edit_only`` for /edit.
        Answers within SUGGEST_WAIT_SECONDS whatever Oxen does."""
        typed = typed.strip().lower()
        wait = SUGGEST_WAIT_SECONDS
        models = await (self.edit_models(wait=wait) if edit_only else self.image_models(wait=wait))
        if not models:
            default = self.default_edit_model if edit_only else self.default_model
            return [(default, default)]
        starts = [m for m in models if m.id.lower().startswith(typed)]
        contains = [m for m in models if m not in starts and typed in _label(m).lower()]
        return [(_label(m)[:100], m.id) for m in (starts + contains)[:limit]]

    # --- the cache ---------------------------------------------------------------------------

    async def _lookup(
        self,
        key: str,
        fetch: Callable[[], Coroutine[Any, Any, None]],
        wait: float | None,
    ) -> _Entry | None:
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now - entry.fetched_at < self._ttl:
            return entry
        failed_at = self._failed_at.get(key)
        if entry is not None and failed_at is not None and now - failed_at < _RETRY_AFTER_FAILURE:
            return entry  # Oxen failed a moment ago: serve the stale copy without asking again
        task = self._fetching.get(key)
        if task is None:
            task = asyncio.create_task(self._guarded(key, fetch), name=f"models-fetch-{key}")
            self._fetching[key] = task
            task.add_done_callback(lambda _: self._fetching.pop(key, None))
        if entry is None:  # nothing to serve yet: wait for the fetch, bounded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), wait)
        return self._entries.get(key)

    async def _guarded(self, key: str, fetch: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await fetch()
        except OxenError as err:
            self._failed_at[key] = self._clock()
            log.warning("could not fetch Oxen models%s (%s); using what is cached",
                        f" ({key!r})" if key else "", err)  # fmt: skip
        else:
            self._failed_at.pop(key, None)

    async def _fetch_list(self) -> None:
        models = await self._oxen.list_models()
        images = sorted((m for m in models if m.is_image_model), key=lambda m: m.id)
        self._entries[""] = _Entry(images, self._clock())

    async def _fetch_details(self, model_id: str) -> None:
        try:
            model = await self._oxen.get_model(model_id)
        except NotFound:
            # A model Oxen had is remembered as gone; ids people made up are never kept.
            if model_id in self._entries:
                self._entries[model_id] = _Entry(_GONE, self._clock())
            return
        # A chat model, say: never one this bot can use.
        value = model if model.is_image_model else _NOT_AN_IMAGE_MODEL
        self._entries[model_id] = _Entry(value, self._clock())


def _label(model: Model) -> str:
    name = model.display_name or model.id
    return name if name == model.id else f"{name} ({model.id})"
