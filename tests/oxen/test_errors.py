from __future__ import annotations

import pytest

from bot.oxen import (
    AuthenticationError,
    BadRequest,
    InsufficientCredits,
    NotFound,
    OxenClient,
    OxenStatusError,
    RateLimited,
    ServerError,
)
from bot.oxen.errors import error_from_response, extract_error
from tests.fakes.oxen import FakeOxen

FORMAT_A = (
    b'{"error":{"type":"invalid_params","title":"Invalid parameters supplied, please check'
    b' your request and try again.","detail":"Specific error details"},'
    b'"status":"error","status_message":"invalid_params"}'
)
FORMAT_B = b'{"error":{"message":"Model not found: bad-model-name"}}'


def test_format_a_prefers_detail_and_keeps_type() -> None:
    err = error_from_response(400, FORMAT_A)
    assert isinstance(err, BadRequest)
    assert err.message == "Specific error details"
    assert err.error_type == "invalid_params"
    assert err.status == 400
    assert "Specific error details" in str(err)


def test_format_b_message() -> None:
    err = error_from_response(404, FORMAT_B)
    assert isinstance(err, NotFound)
    assert err.message == "Model not found: bad-model-name"
    assert err.error_type is None


def test_format_a_without_detail_uses_title() -> None:
    body = (
        b'{"error":{"type":"resource_not_found","title":"The requested resource could not be'
        b' found"},"status":"error","status_message":"resource_not_found"}'
    )
    err = error_from_response(404, body)
    assert isinstance(err, NotFound)
    assert err.message == "The requested resource could not be found"
    assert err.error_type == "resource_not_found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":"plain string error"}', "plain string error"),
        (b'{"status":"error","status_message":"unauthenticated"}', "unauthenticated"),
        (b'{"error_message":"from error_message"}', "from error_message"),
        (b"<html>Bad gateway</html>", "<html>Bad gateway</html>"),
        (b"", "Bad Gateway"),
        (b"[1, 2]", "Bad Gateway"),
    ],
)
def test_other_shapes(body: bytes, message: str) -> None:
    err = error_from_response(502, body, reason="Bad Gateway")
    assert isinstance(err, ServerError)
    assert err.message == message


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (422, BadRequest),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFound),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, OxenStatusError),
    ],
)
def test_status_mapping(status: int, cls: type[OxenStatusError]) -> None:
    err = error_from_response(status, FORMAT_B)
    assert type(err) is cls


def test_insufficient_credits_any_status() -> None:
    for status in (400, 402, 403, 500):
        err = error_from_response(status, b'{"error":{"message":"Insufficient credits"}}')
        assert isinstance(err, InsufficientCredits)
        assert err.status == status


def test_rate_limited_keeps_retry_after() -> None:
    err = error_from_response(429, FORMAT_B, retry_after=3.0)
    assert isinstance(err, RateLimited)
    assert err.retry_after == 3.0


def test_redacts_secret_echoed_by_server() -> None:
    err = error_from_response(
        401, b'{"error":{"message":"bad key sk-secret-123"}}', redact="sk-secret-123"
    )
    assert "sk-secret-123" not in str(err)
    assert "[redacted]" in err.message


def test_extract_error_non_mapping() -> None:
    assert extract_error(None) == (None, None)
    assert extract_error(42) == (None, None)


@pytest.mark.parametrize("body_format", ["A", "B"])
async def test_both_formats_from_server_raise_same_exception(
    oxen: FakeOxen, client: OxenClient, body_format: str
) -> None:
    oxen.fail_next("GET", "/api/ai/queue", 400, body_format=body_format, message="Bad filter x")  # type: ignore[arg-type]
    with pytest.raises(BadRequest) as info:
        await client.list_generations()
    assert info.value.message == "Bad filter x"
    assert info.value.status == 400


async def test_non_json_error_body_from_server(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.fail_next("GET", "/api/ai/models", 404, body_format="text", message="nothing here")
    with pytest.raises(NotFound, match="nothing here"):
        await client.list_models()


async def test_unauthenticated(oxen: FakeOxen) -> None:
    async with OxenClient("wrong-key", base_url=oxen.base_url) as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.list_models()
    assert info.value.status == 401
    assert info.value.error_type == "unauthenticated"
    assert "wrong-key" not in str(info.value)
    assert oxen.requests[-1].has_auth


async def test_every_api_request_carries_the_bearer(oxen: FakeOxen, client: OxenClient) -> None:
    await client.list_models()
    await client.list_generations()
    await client.enqueue("flux-1-dev", prompt="x")
    assert oxen.requests
    assert all(r.authorization == f"Bearer {oxen.api_key}" for r in oxen.requests)
