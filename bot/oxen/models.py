"""Typed views of Oxen's JSON answers.

Parsers are lenient: optional fields may be missing, and historical field names
(``model`` for ``model_name``, top-level ``image_url``) are still understood.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "CompletionEvent",
    "GeneratedImage",
    "Generation",
    "GenerationStatus",
    "ImageResult",
    "Model",
    "QueuedGeneration",
]


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
)

# Row fields that have their own attribute; everything else is an echoed request param.
_ROW_FIELDS = frozenset(
    {
        "generation_id",
        "status",
        "model_name",
        "model",
        "prompt",
        "media_type",
        "result_url",
        "error_message",
        "enqueued_at",
        "started_at",
        "completed_at",
    }
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _str(data: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str):
            return value
    return None


def _int(value: object) -> int | None:
    # bool is an int subclass; a timestamp is never a bool.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _require_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing or invalid {key!r} in Oxen response")
    return value


def _status(value: object) -> GenerationStatus:
    try:
        return GenerationStatus(str(value).lower())
    except ValueError:
        raise ValueError(f"unknown generation status {value!r}") from None


@dataclass(frozen=True, slots=True)
class QueuedGeneration:
    generation_id: str
    status: GenerationStatus

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueuedGeneration:
        # Current docs say "queued"; older servers said "processing". Both are fine.
        raw = data.get("status") or GenerationStatus.QUEUED
        return cls(generation_id=_require_str(data, "generation_id"), status=_status(raw))


@dataclass(frozen=True, slots=True)
class Generation:
    generation_id: str
    status: GenerationStatus
    model_name: str | None = None
    prompt: str | None = None
    media_type: str | None = None
    result_url: str | None = None
    error_message: str | None = None
    enqueued_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Generation:
        extra = {k: v for k, v in data.items() if k not in _ROW_FIELDS}
        return cls(
            generation_id=_require_str(data, "generation_id"),
            # Historical rows had no status: they were in flight by definition.
            status=_status(data.get("status") or GenerationStatus.PROCESSING),
            model_name=_str(data, "model_name", "model"),
            prompt=_str(data, "prompt"),
            media_type=_str(data, "media_type"),
            result_url=_str(data, "result_url"),
            error_message=_str(data, "error_message"),
            enqueued_at=_int(data.get("enqueued_at")),
            started_at=_int(data.get("started_at")),
            completed_at=_int(data.get("completed_at")),
            params=MappingProxyType(extra),
        )


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    url: str | None = None
    data: bytes | None = field(default=None, repr=False)  # can be megabytes
    revised_prompt: str | None = None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> GeneratedImage:
        data: bytes | None = None
        b64 = item.get("b64_json")
        if isinstance(b64, str) and b64:
            # Some servers send a data URI instead of bare base64.
            if b64.startswith("data:") and "," in b64:
                b64 = b64.split(",", 1)[1]
            try:
                data = base64.b64decode(b64, validate=False)
            except (binascii.Error, ValueError) as err:
                raise ValueError("invalid base64 image in Oxen response") from err
        return cls(
            url=_str(item, "url", "image_url"),
            data=data,
            revised_prompt=_str(item, "revised_prompt"),
        )


@dataclass(frozen=True, slots=True)
class ImageResult:
    model: str | None
    created: int | None
    images: tuple[GeneratedImage, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageResult:
        images: list[GeneratedImage] = []
        raw_images = data.get("images")
        if isinstance(raw_images, list):
            images = [GeneratedImage.from_json(i) for i in raw_images if isinstance(i, Mapping)]
        elif isinstance(data.get("data"), list):
            # OpenAI-compatible shape: {"data": [{"url"|"b64_json"}]}.
            images = [GeneratedImage.from_json(i) for i in data["data"] if isinstance(i, Mapping)]
        if not images and (data.get("image_url") or data.get("b64_json")):
            # Older docs pages read a top-level "image_url".
            images = [GeneratedImage.from_json(data)]
        return cls(
            model=_str(data, "model"), created=_int(data.get("created")), images=tuple(images)
        )


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    display_name: str | None = None
    description: str | None = None
    endpoint: str | None = None
    input_capabilities: tuple[str, ...] = ()
    output_capabilities: tuple[str, ...] = ()
    request_schema: Mapping[str, Any] | None = None
    pricing: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def is_image_model(self) -> bool:
        return "image" in self.output_capabilities

    @property
    def accepts_image_input(self) -> bool:
        return "image" in self.input_capabilities

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        caps = data.get("capabilities")
        caps = caps if isinstance(caps, Mapping) else {}
        schema = data.get("request_schema")
        if not isinstance(schema, Mapping):
            # Per-model docs call it json_request_schema; accept either.
            schema = data.get("json_request_schema")
        pricing = data.get("pricing")
        return cls(
            id=_require_str(data, "id"),
            display_name=_str(data, "display_name", "name"),
            description=_str(data, "description", "summary"),
            endpoint=_str(data, "endpoint"),
            input_capabilities=_str_tuple(caps.get("input")),
            output_capabilities=_str_tuple(caps.get("output")),
            request_schema=MappingProxyType(dict(schema)) if isinstance(schema, Mapping) else None,
            pricing=MappingProxyType(dict(pricing)) if isinstance(pricing, Mapping) else _EMPTY,
        )


def _str_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).lower() for v in value if isinstance(v, str))
    return ()


@dataclass(frozen=True, slots=True)
class CompletionEvent:
    """Payload of the SSE ``media_generation_completed`` event."""

    generation_id: str
    status: GenerationStatus
    media_type: str | None = None
    model: str | None = None
    url: str | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompletionEvent:
        return cls(
            generation_id=_require_str(data, "generation_id"),
            status=_status(data.get("status")),
            media_type=_str(data, "media_type"),
            model=_str(data, "model", "model_name"),
            url=_str(data, "url", "result_url"),
            error=_str(data, "error", "error_message"),
        )
