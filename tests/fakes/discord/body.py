"""Reading request bodies the way Discord does: JSON, or multipart with payload_json + files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import errors


@dataclass
class UploadedFile:
    index: int
    field: str
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class RequestBody:
    payload: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False


def _file_index(name: str, fallback: int) -> int:
    # "files[3]" / "file3" / "file"
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else fallback


async def read_body(request: web.Request) -> RequestBody:
    if not request.body_exists:
        return RequestBody()
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        body = RequestBody(multipart=True)
        reader = await request.multipart()
        position = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = await part.read(decode=False)
            if name == "payload_json":
                body.payload = json.loads(data.decode())
            elif part.filename is not None:
                body.files.append(
                    UploadedFile(
                        index=_file_index(name, position),
                        field=name,
                        filename=part.filename,
                        data=bytes(data),
                        content_type=part.headers.get("Content-Type"),
                    )
                )
                position += 1
        return body
    raw = await request.read()
    if not raw:
        return RequestBody()
    try:
        return RequestBody(payload=json.loads(raw))
    except ValueError:
        raise errors.DiscordError(400, 50109, "The request body contains invalid JSON.") from None
