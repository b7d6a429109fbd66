"""Oxen's image models, cached with a TTL so autocomplete answers within Discord's 3 seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.oxen import Model, NotFound, OxenClient, OxenError

log = logging.getLogger(__name__)

DEFAULT_EDIT_MODEL = "qwen-image-edit"


@dataclass(frozen=True, slots=True)
class _Details:
    model: Model
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
        self._models: list[Model] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        # Only models Oxen confirmed exist are kept, so ids users make up cannot grow this.
        self._details: dict[str, _Details] = {}
        self._details_lock = asyncio.Lock()

    async def image_models(self) -> list[Model]:
        """Image-output models; on failure the last good list (or none) is returned."""
        async with self._lock:
            fresh = self._models is not None and self._clock() - self._fetched_at < self._ttl
            if not fresh:
                try:
                    models = await self._oxen.list_models()
                except OxenError as err:
                    log.warning("could not list Oxen models (%s); using the cached list", err)
                else:
                    self._models = sorted(
                        (m for m in models if m.is_image_model), key=lambda m: m.id
                    )
                    self._fetched_at = self._clock()
            return list(self._models or [])

    async def edit_models(self) -> list[Model]:
        """Image models that also take an image in, so they accept ``input_image``."""
        return [m for m in await self.image_models() if m.accepts_image_input]

    async def find(self, model_id: str) -> Model | None:
        for model in await self.image_models():
            if model.id == model_id:
                return model
        return None

    async def details(self, model_id: str) -> Model | None:
        """The image model with its ``request_schema`` (the list may omit it), or None.

        None means Oxen says there is no such image model, or Oxen is unreachable and
        nothing is known about it. When Oxen fails, a stale copy or the list entry is used.
        """
        cached = self._fresh_details(model_id)
        if cached is not None:
            return cached
        # One lock, like the list: fetches are rare (cached per TTL), and a burst of
        # commands for the same model then costs one request.
        async with self._details_lock:
            cached = self._fresh_details(model_id)
            if cached is not None:
                return cached
            try:
                model = await self._oxen.get_model(model_id)
            except NotFound:
                self._details.pop(model_id, None)
                return None
            except OxenError as err:
                log.warning("could not get Oxen model %r (%s); using what is cached", model_id, err)
                stale = self._details.get(model_id)
                if stale is not None:
                    return stale.model
            else:
                if not model.is_image_model:
                    return None  # e.g. a chat model: never one this bot can use
                self._details[model_id] = _Details(model, self._clock())
                return model
        return await self.find(model_id)

    def _fresh_details(self, model_id: str) -> Model | None:
        entry = self._details.get(model_id)
        if entry is not None and self._clock() - entry.fetched_at < self._ttl:
            return entry.model
        return None

    async def known(self) -> bool:
        """Whether a model list is available to validate against."""
        return bool(await self.image_models())

    async def suggest(
        self, typed: str, limit: int = 25, *, edit_only: bool = False
    ) -> list[tuple[str, str]]:
        """(label, id) pairs for autocomplete, best matches first; ``edit_only`` for /edit."""
        typed = typed.strip().lower()
        models = await (self.edit_models() if edit_only else self.image_models())
        if not models:
            default = self.default_edit_model if edit_only else self.default_model
            return [(default, default)]
        starts = [m for m in models if m.id.lower().startswith(typed)]
        contains = [m for m in models if m not in starts and typed in _label(m).lower()]
        return [(_label(m)[:100], m.id) for m in (starts + contains)[:limit]]


def _label(model: Model) -> str:
    name = model.display_name or model.id
    return name if name == model.id else f"{name} ({model.id})"
