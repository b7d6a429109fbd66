"""Raw HTTP against the stand-in, to see exactly what Discord would answer (status, headers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from tests.fakes.discord import FakeDiscord


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def remaining(self) -> int:
        return int(self.headers["X-RateLimit-Remaining"])

    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class RawClient:
    """``await raw.post("/channels/1/messages", {"content": "x"})`` with the bot's token."""

    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        auth: bool = True,
        data: aiohttp.FormData | None = None,
    ) -> Reply:
        headers = {"Authorization": f"Bot {self.fake.token}"} if auth else {}
        body: Any = data
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload)
        url = self.fake.base_url + path
        async with self.session.request(method, url, data=body, headers=headers) as response:
            text = await response.text()
            parsed = json.loads(text) if text else None
            return Reply(response.status, response.headers, parsed)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, payload: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, payload, **kwargs)

    async def patch(self, path: str, payload: Any = None, **kwargs: Any) -> Reply:
        return await self.request("PATCH", path, payload, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)
