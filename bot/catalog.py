"""Oxen's image models, cached with a TTL so autocomplete answers within Discord's 3 seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.oxen import Model, OxenClient, OxenError

log = logging.getLogger(__name__)


class ModelCatalog:
    def __init__(
        self,
        oxen: OxenClient,
        default_model: str,
        *,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oxen = oxen
        self.default_model = default_model
        self._ttl = ttl
        self._clock = clock
        self._models: list[Model] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

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

    async def find(self, model_id: str) -> Model | None:
        for model in await self.image_models():
            if model.id == model_id:
                return model
        return None

    async def known(self) -> bool:
        """Whether a model list is available to validate against."""
        return bool(await self.image_models())

    async def suggest(self, typed: str, limit: int = 25) -> list[tuple[str, str]]:
        """(label, id) pairs for autocomplete, best matches first."""
        typed = typed.strip().lower()
        models = await self.image_models()
        if not models:
            return [(self.default_model, self.default_model)]
        starts = [m for m in models if m.id.lower().startswith(typed)]
        contains = [m for m in models if m not in starts and typed in _label(m).lower()]
        return [(_label(m)[:100], m.id) for m in (starts + contains)[:limit]]


def _label(model: Model) -> str:
    name = model.display_name or model.id
    return name if name == model.id else f"{name} ({model.id})"
