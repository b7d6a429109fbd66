"""The Oxen.ai inference client: one session, typed methods, one retry policy."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import aiohttp

from .errors import (
    DownloadError,
    DownloadTooLarge,
    NotAnAllowedURL,
    OxenConnectionError,
    OxenError,
    OxenTimeout,
    ResultExpired,
    UnexpectedResponse,
    error_from_body,
    error_from_response,
)
from .events import EventStream
from .models import Generation, ImageResult, Model, QueuedGeneration
from .retry import DEFAULT_RETRY, RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DOWNLOAD_MAX_BYTES",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "MAX_NUM_GENERATIONS",
    "OxenClient",
    "ResponseHook",
]

DEFAULT_BASE_URL = "https://hub.oxen.ai"
# Documented limit per enqueue request (the OpenAPI spec says 12; the docs say 4).
MAX_NUM_GENERATIONS = 4
DEFAULT_EVENTS_IDLE_TIMEOUT = 60.0  # keep-alives arrive every 15 s
DEFAULT_DOWNLOAD_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_DOWNLOAD_TIMEOUT = 60.0
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_EXPIRED_STATUSES = frozenset({403, 404, 410})
_CHUNK = 64 * 1024
# A connect attempt that hangs this long is treated as "never reached Oxen".
_CONNECT_TIMEOUT = 10.0
_ROWS_ON_THE_LOOP = 100  # longer generation lists are parsed in a worker thread


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


_T = TypeVar("_T")


class _Retryable(Exception):
    """Internal: an attempt failed in a way the retry policy may retry; says whether the request
    may have reached Oxen (then a non-idempotent call is not repeated) and Oxen's Retry-After."""

    def __init__(
        self, error: OxenError, *, maybe_sent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after


def _chained(error: OxenConnectionError, cause: BaseException) -> OxenConnectionError:
    error.__cause__ = cause
    return error


# Told of every answer and transport failure: (endpoint, status). ``endpoint`` is a route
# template such as "GET /api/ai/queue/{id}" (never a URL with ids in it), or "download";
# ``status`` is the HTTP status ("200", "503") or "timeout" / "connection_error".
ResponseHook = Callable[[str, str], None]


def _failure_status(error: OxenError) -> str:
    return "timeout" if isinstance(error, OxenTimeout) else "connection_error"


class OxenClient:
    """Async client for Oxen's image, queue, model and event endpoints.

    Use as ``async with OxenClient(key) as oxen:`` or call ``await close()``. A session
    passed in is used as-is and not closed by the client.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        events_idle_timeout: float = DEFAULT_EVENTS_IDLE_TIMEOUT,
        rng: random.Random | None = None,
        on_response: ResponseHook | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("an Oxen API key is required")
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._origin = _origin(self._base_url)
        self._retry = retry
        self._sleep = sleep
        self._timeout = timeout
        self._events_idle_timeout = events_idle_timeout
        self._rng = rng
        self._session = session
        self._owns_session = session is None
        self._on_response = on_response

    def __repr__(self) -> str:
        # Never show the key.
        return f"OxenClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            # No session-wide Authorization header: downloads must not carry it off-host.
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def _report(self, endpoint: str, status: str) -> None:
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, status)
        except Exception:  # a broken observer must never break a call to Oxen
            log.exception("the Oxen response hook failed")

    # -- images (sync) ---------------------------------------------------------------

    async def generate_image(
        self, model: str, prompt: str, *, response_format: str = "url", **params: Any
    ) -> ImageResult:
        body = {"model": model, "prompt": prompt, "response_format": response_format, **params}
        data = await self._request("POST", "/api/ai/images/generate", json=body, idempotent=False)
        return self._parse(ImageResult.from_json, data)

    async def edit_image(
        self,
        model: str,
        prompt: str,
        *,
        input_image: str | list[str] | None = None,
        response_format: str = "url",
        **params: Any,
    ) -> ImageResult:
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "response_format": response_format,
        }
        # Optional for models like FLUX.2 Klein that route text-only prompts here too.
        if input_image is not None:
            body["input_image"] = input_image
        body.update(params)
        data = await self._request("POST", "/api/ai/images/edit", json=body, idempotent=False)
        return self._parse(ImageResult.from_json, data)

    # -- queue -----------------------------------------------------------------------

    async def enqueue(
        self, model: str, *, num_generations: int = 1, **params: Any
    ) -> list[QueuedGeneration]:
        if (
            isinstance(num_generations, bool)
            or not isinstance(num_generations, int)
            or not 1 <= num_generations <= MAX_NUM_GENERATIONS
        ):
            raise ValueError(
                f"num_generations must be an integer between 1 and {MAX_NUM_GENERATIONS}, "
                f"got {num_generations!r}"
            )
        body = {"model": model, "num_generations": num_generations, **params}
        data = await self._request("POST", "/api/ai/queue", json=body, idempotent=False)
        if not isinstance(data, Mapping):
            raise UnexpectedResponse("enqueue answer is not a JSON object")
        rows = data.get("generations")
        if not isinstance(rows, list) or not rows:
            # Third-party clients saw 200 with no generations plus an error.
            raise error_from_body(200, data)
        return [self._parse(QueuedGeneration.from_json, r) for r in rows]

    async def get_generation(self, generation_id: str) -> Generation:
        data = await self._request(
            "GET", f"/api/ai/queue/{_seg(generation_id)}", route="/api/ai/queue/{id}"
        )
        return self._parse(Generation.from_json, data)

    async def list_generations(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        media_type: str | None = None,
        namespace: str | None = None,
        repo: str | None = None,
        folder: str | None = None,
    ) -> list[Generation]:
        filters = {
            "status": status,
            "model": model,
            "media_type": media_type,
            "namespace": namespace,
            "repo": repo,
            "folder": folder,
        }
        params = {k: str(v) for k, v in filters.items() if v is not None}
        data = await self._request("GET", "/api/ai/queue", params=params)
        rows = data.get("generations") if isinstance(data, Mapping) else None
        if not isinstance(rows, list):
            raise UnexpectedResponse("generation list has no 'generations' array")

        def parse() -> list[Generation]:
            return [self._parse(Generation.from_json, r) for r in rows]

        # A long list takes milliseconds to parse: not on the event loop (1,000 rows ~ 10 ms).
        return await asyncio.to_thread(parse) if len(rows) > _ROWS_ON_THE_LOOP else parse()

    async def cancel(self, generation_id: str) -> None:
        """Cancel an active generation; a terminal one is a no-op. 404 raises NotFound."""
        await self._request(
            "DELETE", f"/api/ai/queue/{_seg(generation_id)}", route="/api/ai/queue/{id}"
        )

    # -- models ----------------------------------------------------------------------

    async def list_models(
        self, *, developer_name: str | None = None, provider_name: str | None = None
    ) -> list[Model]:
        params = {
            k: v
            for k, v in {"developer_name": developer_name, "provider_name": provider_name}.items()
            if v is not None
        }
        return self._models(await self._request("GET", "/api/ai/models", params=params))

    async def search_models(self, query: str) -> list[Model]:
        data = await self._request("GET", "/api/ai/models/search", params={"search": query})
        return self._models(data)

    async def get_model(self, model_id: str) -> Model:
        data = await self._request(
            "GET", f"/api/ai/models/{_seg(model_id)}", route="/api/ai/models/{id}"
        )
        return self._parse(Model.from_json, data)

    def _models(self, data: Any) -> list[Model]:
        rows = data.get("data") if isinstance(data, Mapping) else data
        if not isinstance(rows, list):
            raise UnexpectedResponse("model list has no 'data' array")
        return [self._parse(Model.from_json, r) for r in rows]

    @staticmethod
    def _parse(parser: Callable[[Mapping[str, Any]], _T], data: Any) -> _T:
        if not isinstance(data, Mapping):
            raise UnexpectedResponse("expected a JSON object from Oxen")
        try:
            return parser(data)
        except (ValueError, TypeError) as err:
            raise UnexpectedResponse(f"could not parse Oxen response: {err}") from err

    # -- events ----------------------------------------------------------------------

    def open_events(self, *, idle_timeout: float | None = None) -> EventStream:
        """The SSE completion stream; see :class:`EventStream`."""
        return EventStream(
            self._open_events_response,
            idle_timeout=self._events_idle_timeout if idle_timeout is None else idle_timeout,
        )

    async def _open_events_response(self) -> aiohttp.ClientResponse:
        url = f"{self._base_url}/api/events"
        headers = {**self._auth_headers(), "Accept": "text/event-stream"}
        # No read timeout on the stream: EventStream applies its own idle timeout.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout)
        endpoint = "GET /api/events"
        try:
            async with asyncio.timeout(self._timeout):
                resp = await self._get_session().get(url, headers=headers, timeout=timeout)
        except TimeoutError as err:
            self._report(endpoint, "timeout")
            raise OxenTimeout("timed out opening the event stream") from err
        except (aiohttp.ClientError, OSError) as err:
            self._report(endpoint, "connection_error")
            raise OxenConnectionError(
                f"could not open the event stream: {type(err).__name__}"
            ) from err
        self._report(endpoint, str(resp.status))
        if resp.status != 200:
            try:
                raw = await resp.read()
            except (aiohttp.ClientError, OSError):
                raw = b""
            finally:
                resp.release()
            raise error_from_response(
                resp.status,
                raw,
                reason=resp.reason,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                redact=self._api_key,
            )
        return resp

    # -- the one retry loop, and the request path through it ---------------------------

    async def _with_retries(
        self, method: str, what: str, attempt: Callable[[], Awaitable[_T]], *, idempotent: bool
    ) -> _T:
        """Run ``attempt`` until it succeeds, fails for good, or the policy gives up.

        ``idempotent=False`` (enqueue, sync generate/edit): once the request may have reached
        Oxen, a lost answer is not retried, since Oxen would run and bill it twice.
        """
        retries = 0
        while True:
            try:
                return await attempt()
            except _Retryable as failure:
                err = failure.error
                unsafe = failure.maybe_sent and not idempotent
                if unsafe or retries >= self._retry.max_retries:
                    if unsafe:
                        log.warning("Oxen %s %s: outcome unknown, not retrying", method, what)
                    raise err from err.__cause__
                await self._backoff(method, what, retries, failure.retry_after, str(err))
                retries += 1

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool = True,
        route: str | None = None,
    ) -> Any:
        """Send one API call, retrying per the policy; returns the decoded JSON body.
        ``route``: the path as a template (ids replaced by ``{id}``) when it has ids."""
        url = f"{self._base_url}{path}"
        endpoint = f"{method} {route or path}"

        async def attempt() -> Any:
            try:
                status, reason, headers, raw = await self._send(method, url, params, json)
            except _Retryable as failure:
                self._report(endpoint, _failure_status(failure.error))
                raise
            self._report(endpoint, str(status))
            if 200 <= status < 300:
                return self._decode_json(raw, status)
            retry_after = parse_retry_after(headers.get("Retry-After"))
            error = error_from_response(
                status, raw, reason=reason, retry_after=retry_after, redact=self._api_key
            )
            if self._retry.should_retry_status(status):
                raise _Retryable(error, retry_after=retry_after)
            raise error

        return await self._with_retries(method, path, attempt, idempotent=idempotent)

    async def _send(
        self, method: str, url: str, params: Mapping[str, str] | None, body: Any
    ) -> tuple[int, str | None, Mapping[str, str], bytes]:
        timeout = aiohttp.ClientTimeout(
            total=self._timeout, sock_connect=min(self._timeout, _CONNECT_TIMEOUT)
        )
        try:
            async with self._get_session().request(
                method,
                url,
                params=params,
                json=body,
                headers=self._auth_headers(),
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                return resp.status, resp.reason, dict(resp.headers), raw
        except aiohttp.ConnectionTimeoutError as err:
            # The connection was never made, so the request never reached Oxen.
            error = _chained(OxenTimeout(f"timed out connecting to Oxen ({method})"), err)
            raise _Retryable(error) from err
        except aiohttp.ClientConnectorError as err:
            error = _chained(
                OxenConnectionError(f"could not connect to Oxen: {type(err).__name__}"), err
            )
            raise _Retryable(error) from err
        except TimeoutError as err:
            error = _chained(
                OxenTimeout(
                    f"Oxen did not answer {method} {urlsplit(url).path} within {self._timeout:g}s"
                ),
                err,
            )
            raise _Retryable(error, maybe_sent=True) from err
        except (aiohttp.ClientError, OSError) as err:
            error = _chained(
                OxenConnectionError(
                    f"connection to Oxen failed during {method} {urlsplit(url).path}: "
                    f"{type(err).__name__}"
                ),
                err,
            )
            raise _Retryable(error, maybe_sent=True) from err

    def _decode_json(self, raw: bytes, status: int) -> Any:
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as err:
            raise UnexpectedResponse(f"Oxen answered HTTP {status} with non-JSON body") from err

    async def _backoff(
        self, method: str, what: str, retry_index: int, retry_after: float | None, why: str
    ) -> None:
        delay = self._retry.delay(retry_index, retry_after, rng=self._rng)
        log.warning(
            "Oxen %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            what,
            why,
            retry_index + 1,
            self._retry.max_retries,
            delay,
        )
        await self._sleep(delay)

    # -- downloads -------------------------------------------------------------------

    async def download(
        self,
        url: str,
        *,
        max_bytes: int = DEFAULT_DOWNLOAD_MAX_BYTES,
        timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,  # noqa: ASYNC109 - total, redirects and retries
    ) -> bytes:
        """Fetch a result file.

        The key goes only to the Oxen host itself; redirects are followed by hand (at
        most 5) so it never travels to a CDN. 403/404/410 mean the link expired.
        """
        _check_scheme(url)
        try:
            async with asyncio.timeout(timeout):
                return await self._with_retries(
                    "GET",
                    "(download)",
                    lambda: self._download_once(url, max_bytes, timeout),
                    idempotent=True,
                )
        except TimeoutError as err:
            raise OxenTimeout(f"download took longer than {timeout:g}s") from err

    async def _download_once(self, url: str, max_bytes: int, budget: float) -> bytes:
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(budget, _CONNECT_TIMEOUT), sock_read=budget
        )
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            headers = self._auth_headers() if _origin(current) == self._origin else {}
            try:
                async with self._get_session().get(
                    current, headers=headers, timeout=client_timeout, allow_redirects=False
                ) as resp:
                    self._report("download", str(resp.status))
                    if resp.status in _REDIRECT_STATUSES:
                        location = resp.headers.get("Location")
                        if not location:
                            raise DownloadError("redirect without a Location", status=resp.status)
                        current = urljoin(current, location)
                        _check_scheme(current)
                        log.debug("download redirected to host %s", urlsplit(current).hostname)
                        continue
                    if resp.status in _EXPIRED_STATUSES:
                        raise ResultExpired(
                            f"result URL answered HTTP {resp.status}; it has probably expired",
                            status=resp.status,
                        )
                    if resp.status != 200:
                        raw = await resp.read()
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        error = error_from_response(
                            resp.status,
                            raw,
                            reason=resp.reason,
                            retry_after=retry_after,
                            redact=self._api_key,
                        )
                        if self._retry.should_retry_status(resp.status):
                            raise _Retryable(error, retry_after=retry_after)
                        raise DownloadError(
                            f"download failed: {error.message}", status=resp.status
                        ) from error
                    return await _read_limited(resp, max_bytes)
            except (OxenError, _Retryable):
                raise
            except TimeoutError as err:
                self._report("download", "timeout")
                raise _Retryable(OxenTimeout("download stalled")) from err
            except (aiohttp.ClientError, OSError) as err:
                self._report("download", "connection_error")
                lost = OxenConnectionError(f"download failed: {type(err).__name__}")
                raise _Retryable(_chained(lost, err)) from err
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


async def _read_limited(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise DownloadTooLarge(f"result is {length} bytes, over the {max_bytes} byte limit")
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            # Stop reading now; the connection is dropped by the context manager.
            resp.close()
            raise DownloadTooLarge(f"result is over the {max_bytes} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise NotAnAllowedURL(f"refusing to download a {scheme or 'scheme-less'} URL")


def _seg(value: str) -> str:
    """Quote a path segment so ids can never change the path."""
    if not value:
        raise ValueError("an id is required")
    return quote(value, safe="")
