from __future__ import annotations

import asyncio

import pytest

from bot.oxen import (
    AuthenticationError,
    CompletionEvent,
    GenerationStatus,
    OxenClient,
    OxenTimeout,
    ServerError,
    ServerSentEvent,
    SSEDecoder,
)
from bot.oxen.events import parse_completion
from tests.fakes.oxen import FakeOxen


def _feed_all(decoder: SSEDecoder, *chunks: bytes) -> list[ServerSentEvent]:
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def test_decoder_basic_and_comments() -> None:
    events = _feed_all(
        SSEDecoder(),
        b': keep-alive\n\nevent: media_generation_completed\ndata: {"a":1}\n\n',
    )
    assert events == [ServerSentEvent("media_generation_completed", '{"a":1}')]


def test_decoder_no_space_multiline_and_default_type() -> None:
    events = _feed_all(SSEDecoder(), b"event:x\ndata:one\ndata: two\n\ndata:plain\n\n")
    assert events == [ServerSentEvent("x", "one\ntwo"), ServerSentEvent("message", "plain")]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_decoder_line_endings(newline: bytes) -> None:
    text = newline.join([b"event: e", b"data: d", b"", b""])
    assert _feed_all(SSEDecoder(), text) == [ServerSentEvent("e", "d")]


def test_decoder_chunks_split_anywhere() -> None:
    wire = "event: e\r\ndata: héllo\r\n\r\n".encode()
    for cut in range(1, len(wire)):
        events = _feed_all(SSEDecoder(), wire[:cut], wire[cut:])
        assert events == [ServerSentEvent("e", "héllo")], cut
    # Byte by byte, including the split UTF-8 sequence and the CR|LF boundary.
    assert _feed_all(SSEDecoder(), *[bytes([b]) for b in wire]) == [ServerSentEvent("e", "héllo")]


def test_decoder_ignores_event_without_data_and_unknown_fields() -> None:
    events = _feed_all(SSEDecoder(), b"event: lonely\n\nfoo: bar\nid: 7\nretry: 100\ndata: x\n\n")
    assert events == [ServerSentEvent("message", "x", id="7", retry=100)]


def test_decoder_bom_and_incomplete_tail() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb\xbfdata: a\n\ndata: b") == [ServerSentEvent("message", "a")]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("message", "b")]


def test_parse_completion_filters() -> None:
    ok = ServerSentEvent(
        "media_generation_completed", '{"generation_id":"g","status":"succeeded","url":"u"}'
    )
    assert parse_completion(ok) == CompletionEvent("g", GenerationStatus.SUCCEEDED, url="u")
    assert parse_completion(ServerSentEvent("deployment_updated", '{"generation_id":"g"}')) is None
    assert parse_completion(ServerSentEvent("media_generation_completed", "{not json")) is None
    assert parse_completion(ServerSentEvent("media_generation_completed", "[1]")) is None
    assert parse_completion(ServerSentEvent("media_generation_completed", '{"status":"x"}')) is None


async def _collect(stream: object, into: list[CompletionEvent]) -> None:
    async for event in stream:  # type: ignore[attr-defined]
        into.append(event)


async def test_stream_delivers_completions(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.keepalive_interval = 0.02  # plenty of keep-alives in between
    oxen.outcome_for_prompt("doomed", fail="Task failed: moderation")
    async with client.open_events(idle_timeout=3) as stream:
        assert oxen.event_subscribers == 1  # live once the async with body starts
        [ok] = await client.enqueue("flux-1-dev", prompt="a red fox")
        [bad] = await client.enqueue("flux-1-dev", prompt="doomed fox")
        events: dict[str, CompletionEvent] = {}
        async for event in stream:
            events[event.generation_id] = event
            if len(events) == 2:
                break
    assert events[ok.generation_id].status is GenerationStatus.SUCCEEDED
    assert events[ok.generation_id].model == "flux-1-dev"
    assert events[ok.generation_id].media_type == "image"
    assert events[ok.generation_id].url == oxen.generations[ok.generation_id]["result_url"]
    assert events[bad.generation_id].status is GenerationStatus.FAILED
    assert events[bad.generation_id].error == "Task failed: moderation"
    assert events[bad.generation_id].url is None
    request = oxen.requests_to("GET", "/api/events")[-1]
    assert request.authorization == f"Bearer {oxen.api_key}"


async def test_stream_ignores_unrelated_and_malformed(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="x")
    async with client.open_events(idle_timeout=3) as stream:
        await oxen.emit_raw(": keep-alive\n\n")
        await oxen.emit_event(
            "deployment_updated", {"generation_id": "nope", "status": "succeeded"}
        )
        await oxen.emit_raw("event: media_generation_completed\ndata: {broken\n\n")
        await oxen.emit_raw(
            'event:media_generation_completed\r\ndata:{"status":"succeeded"}\r\n\r\n'
        )
        await oxen.complete(queued.generation_id)
        event = await anext(stream)
    assert event.generation_id == queued.generation_id


async def test_no_event_for_cancelled(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    [a, b] = await client.enqueue("flux-1-dev", num_generations=2, prompt="x")
    async with client.open_events(idle_timeout=3) as stream:
        await client.cancel(a.generation_id)
        await oxen.complete(b.generation_id)
        event = await anext(stream)
    assert event.generation_id == b.generation_id


async def test_stream_ends_when_server_drops_it(oxen: FakeOxen, client: OxenClient) -> None:
    got: list[CompletionEvent] = []
    async with client.open_events(idle_timeout=3) as stream:
        task = asyncio.create_task(_collect(stream, got))
        await oxen.emit_event(
            "media_generation_completed", {"generation_id": "g1", "status": "failed", "error": "e"}
        )
        oxen.drop_event_streams()
        await asyncio.wait_for(task, 2)
    assert [e.generation_id for e in got] == ["g1"]
    await oxen.wait_for_subscribers(0)
    # The caller reconnects by opening a new stream.
    async with client.open_events(idle_timeout=3):
        assert oxen.event_subscribers == 1


async def test_closing_stream_unsubscribes(oxen: FakeOxen, client: OxenClient) -> None:
    async with client.open_events(idle_timeout=3):
        await oxen.wait_for_subscribers(1)
    await oxen.wait_for_subscribers(0, timeout=2)


async def test_idle_timeout(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.keepalive_interval = 10
    async with client.open_events(idle_timeout=0.5) as stream:
        with pytest.raises(OxenTimeout):
            await anext(stream)


async def test_keepalives_keep_stream_alive(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.keepalive_interval = 0.1
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="x")
    # Keep-alives every 0.1 s hold a stream with a 1 s idle limit open past that limit.
    async with client.open_events(idle_timeout=1.0) as stream:

        async def later() -> None:
            await asyncio.sleep(2.0)
            await oxen.complete(queued.generation_id)

        task = asyncio.create_task(later())
        event = await anext(stream)
        await task
    assert event.generation_id == queued.generation_id


async def test_stream_unauthenticated(oxen: FakeOxen) -> None:
    async with OxenClient("bad", base_url=oxen.base_url) as c:
        with pytest.raises(AuthenticationError):
            async with c.open_events():
                pass


async def test_stream_unavailable(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.events_enabled = False
    with pytest.raises(ServerError):
        async with client.open_events():
            pass
    assert oxen.count("GET", "/api/events") == 1  # no retry inside: the caller decides


async def test_fake_stop_ends_stream() -> None:
    oxen = await FakeOxen().start()
    got: list[CompletionEvent] = []
    async with (
        OxenClient(oxen.api_key, base_url=oxen.base_url) as c,
        c.open_events(idle_timeout=5) as stream,
    ):
        task = asyncio.create_task(_collect(stream, got))
        await oxen.wait_for_subscribers(1)
        await asyncio.wait_for(oxen.stop(), 3)
        await asyncio.wait_for(task, 2)
    assert got == []
