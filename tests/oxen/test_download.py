from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from bot.oxen import (
    DownloadError,
    DownloadTooLarge,
    NotAnAllowedURL,
    OxenClient,
    OxenTimeout,
    ResultExpired,
)
from tests.fakes.images import is_png
from tests.fakes.oxen import FakeOxen
from tests.oxen.conftest import RecordingSleep


async def _finished(oxen: FakeOxen, client: OxenClient, prompt: str = "a red fox") -> str:
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt=prompt)
    await oxen.complete(queued.generation_id)
    return queued.generation_id


async def test_download_from_oxen_sends_key(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    gen = await client.get_generation(gid)
    assert gen.result_url is not None
    data = await client.download(gen.result_url)
    assert data == oxen.result_bytes(gid)
    assert is_png(data)
    request = oxen.requests_to("GET", "/api/repos/")[-1]
    assert request.authorization == f"Bearer {oxen.api_key}"


async def test_cross_host_redirect_drops_key(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    cdn = await oxen.start_cdn()
    assert urlsplit(cdn.base_url).hostname == "localhost"
    url = oxen.generations[gid]["result_url"]
    data = await client.download(url)
    assert data == oxen.result_bytes(gid)
    assert oxen.requests_to("GET", "/api/repos/")[-1].has_auth
    assert len(cdn.requests) == 1
    assert not cdn.received_auth


async def test_other_port_on_same_host_gets_no_key(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    cdn = await oxen.start_cdn()
    port = urlsplit(cdn.base_url).port
    sig = urlsplit(oxen.generations[gid]["result_url"]).query
    path = urlsplit(oxen.generations[gid]["result_url"]).path.removeprefix("/api/repos/")
    data = await client.download(f"http://127.0.0.1:{port}/cdn/{path}?{sig}")
    assert data == oxen.result_bytes(gid)
    assert not cdn.received_auth


@pytest.mark.parametrize("send_length", [True, False])
async def test_too_large(oxen: FakeOxen, client: OxenClient, send_length: bool) -> None:
    gid = await _finished(oxen, client)
    oxen.make_results_huge(2_000_000, send_length=send_length)
    with pytest.raises(DownloadTooLarge):
        await client.download(oxen.generations[gid]["result_url"], max_bytes=100_000)


async def test_exactly_at_limit_is_fine(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    size = len(oxen.result_bytes(gid))
    data = await client.download(oxen.generations[gid]["result_url"], max_bytes=size)
    assert len(data) == size


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x.png", "data:image/png;base64,AAAA", "x.png"]
)
async def test_non_http_refused(oxen: FakeOxen, client: OxenClient, url: str) -> None:
    with pytest.raises(NotAnAllowedURL):
        await client.download(url)
    assert oxen.requests == []


async def test_expired_then_refreshed(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    old_url = oxen.generations[gid]["result_url"]
    oxen.expire_result(gid)
    with pytest.raises(ResultExpired) as info:
        await client.download(old_url)
    assert info.value.status == 403
    fresh = await client.get_generation(gid)
    assert fresh.result_url != old_url
    assert fresh.result_url is not None
    assert await client.download(fresh.result_url) == oxen.result_bytes(gid)


async def test_missing_file_is_expired(oxen: FakeOxen, client: OxenClient) -> None:
    with pytest.raises(ResultExpired) as info:
        await client.download(f"{oxen.base_url}/api/repos/ns/repo/file/main/images/nope.png")
    assert info.value.status == 404


async def test_slow_download_times_out(oxen: FakeOxen, client: OxenClient) -> None:
    gid = await _finished(oxen, client)
    oxen.make_results_slow(0.1, chunk_size=16)
    with pytest.raises(OxenTimeout):
        await client.download(oxen.generations[gid]["result_url"], timeout=0.3)


async def test_download_retries_5xx(
    oxen: FakeOxen, client: OxenClient, sleeps: RecordingSleep
) -> None:
    gid = await _finished(oxen, client)
    oxen.fail_next("GET", "/api/repos/", 503)
    assert await client.download(oxen.generations[gid]["result_url"]) == oxen.result_bytes(gid)
    assert sleeps.calls == [0.5]


@pytest.fixture
async def redirector() -> AsyncIterator[str]:
    """A host that redirects forever, or to a file:// URL."""

    async def loop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return web.Response(status=302, headers={"Location": f"/loop/{n + 1}"})

    async def to_file(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "file:///etc/passwd"})

    async def teapot(request: web.Request) -> web.Response:
        return web.Response(status=418, text="short and stout")

    app = web.Application()
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/to-file", to_file)
    app.router.add_get("/teapot", teapot)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_too_many_redirects(client: OxenClient, redirector: str) -> None:
    with pytest.raises(DownloadError, match="redirects"):
        await client.download(f"{redirector}/loop/0")


async def test_redirect_to_non_http_refused(client: OxenClient, redirector: str) -> None:
    with pytest.raises(NotAnAllowedURL):
        await client.download(f"{redirector}/to-file")


async def test_other_status_is_download_error(client: OxenClient, redirector: str) -> None:
    with pytest.raises(DownloadError) as info:
        await client.download(f"{redirector}/teapot")
    assert info.value.status == 418
    assert not isinstance(info.value, ResultExpired)
