"""A fake Oxen.ai hub that speaks the contract in /work/shared/oxen-api.md over loopback.

Usage::

    async with FakeOxen() as oxen:
        client = OxenClient(oxen.api_key, base_url=oxen.base_url)

Decisions where the contract is unsure (all switchable):

- unknown model -> 404 format B ``"Model not found: <id>"`` (sync and queue);
- text-only model at enqueue -> 400 format A, ``detail`` ``":unsupported_media_type"``;
  ``unsupported_media_type_style = "empty_200"`` gives the third-party-observed
  200 with ``generations: []`` plus an error instead;
- enqueue-time credit rejection (``insufficient_credits = True``) -> 400 format A with
  type ``insufficient_credits`` and detail ``"Insufficient credits"``;
- ``events_enabled = False`` -> ``GET /api/events`` answers 503 format A (so reconnect
  logic sees a clear failure instead of a silent stream);
- result files need no auth (the bearer is accepted and recorded); an expired signature
  answers 403 with a non-JSON body, like an object store would;
- ``GET /api/ai/models`` omits ``request_schema`` unless ``list_models_with_schema``;
  ``GET /api/ai/models/{id}`` always includes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from tests.fakes.images import png_for_prompt

__all__ = [
    "DEFAULT_MODELS",
    "FakeCDN",
    "FakeOxen",
    "RecordedRequest",
    "error_a",
    "error_b",
    "validate_params",
]

DEFAULT_API_KEY = "test-oxen-key"
DEFAULT_USER = "test-user"
DEFAULT_REPO = "generations"
DEFAULT_FOLDER = "images"
KEEPALIVE = ": keep-alive\n\n"
_JSON_KEY = web.RequestKey("json", object)

BodyFormat = Literal["A", "B", "text", "html"]

_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_ACTIVE = frozenset({"queued", "processing"})
_STATUSES = _TERMINAL | _ACTIVE
# Enqueue fields that are not echoed as "extra params" on rows.
_NOT_ECHOED = frozenset(
    {"model", "num_generations", "prompt", "target_namespace", "target_repo", "target_directory"}
)
_DEFAULT_TYPES = {
    400: "invalid_params",
    401: "unauthenticated",
    403: "forbidden",
    404: "resource_not_found",
    408: "request_timeout",
    422: "invalid_params",
    429: "rate_limited",
}


def _aspect_ratio(default: str, values: list[str]) -> dict[str, Any]:
    return {
        "type": "string",
        "title": "Aspect Ratio",
        "description": "Aspect ratio of the generated image",
        "default": default,
        "enum": values,
    }


_SEED = {"type": "integer", "title": "Seed", "description": "Random seed for reproducibility"}


def _flux_klein() -> dict[str, Any]:
    return {
        "id": "black-forest-labs-flux-2-klein-4b",
        "display_name": "FLUX.2 [klein] 4B",
        "description": "Fast distilled FLUX.2 model for text-to-image and editing.",
        "developer": {"name": "black-forest-labs", "logo": None},
        "provider_name": "replicate",
        "endpoint": "/images/generate",
        "capabilities": {"input": ["text", "image"], "output": ["image"]},
        "pricing": {"method": "per_image", "cost_per_image": 0.003},
        "request_schema": {
            "type": "object",
            "required": ["prompt"],
            "basic": ["prompt", "aspect_ratio"],
            "properties": {
                "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
                "input_image": {
                    "type": "array",
                    "items": {"type": "string", "format": "uri"},
                    "maxItems": 4,
                    "renderType": "image-url",
                    "title": "Input Images",
                },
                "aspect_ratio": _aspect_ratio("16:9", ["1:1", "16:9", "9:16", "4:3", "3:4"]),
                "output_quality": {
                    "type": "string",
                    "default": "standard",
                    "enum": ["standard", "high"],
                },
                "output_format": {
                    "type": "string",
                    "default": "png",
                    "enum": ["png", "jpg", "webp"],
                },
                "seed": dict(_SEED),
                "num_inference_steps": {
                    "type": "integer",
                    "default": 28,
                    "minimum": 1,
                    "maximum": 50,
                },
                "guidance_scale": {
                    "type": "number",
                    "default": 2.0,
                    "minimum": 0.0,
                    "maximum": 10.0,
                },
            },
        },
    }


def _flux_dev() -> dict[str, Any]:
    return {
        "id": "flux-1-dev",
        "display_name": "FLUX.1 [dev]",
        "description": "12B parameter rectified flow transformer for text-to-image.",
        "developer": {"name": "black-forest-labs", "logo": None},
        "provider_name": "replicate",
        "endpoint": "/images/generate",
        "capabilities": {"input": ["text"], "output": ["image"]},
        "pricing": {"method": "per_image", "cost_per_image": 0.025},
        "request_schema": {
            "type": "object",
            "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string", "x-order": 0},
                "negative_prompt": {"type": "string", "description": "Things to avoid"},
                "aspect_ratio": _aspect_ratio(
                    "16:9", ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]
                ),
                "image_size": {
                    "type": "string",
                    "default": "optimize_for_quality",
                    "enum": ["optimize_for_quality", "optimize_for_speed"],
                },
                "num_inference_steps": {
                    "type": "integer",
                    "default": 30,
                    "minimum": 1,
                    "maximum": 50,
                },
                "guidance": {"type": "number", "default": 3, "minimum": 0, "maximum": 10},
                "seed": dict(_SEED),
                "output_format": {
                    "type": "string",
                    "default": "webp",
                    "enum": ["webp", "jpg", "png"],
                },
                "output_quality": {"type": "integer", "default": 80, "minimum": 0, "maximum": 100},
                "disable_safety_checker": {"type": "boolean", "default": False},
            },
        },
    }


def _qwen_edit() -> dict[str, Any]:
    return {
        "id": "qwen-image-edit",
        "display_name": "Qwen Image Edit",
        "description": "Edit an image with a text instruction.",
        "developer": {"name": "qwen", "logo": None},
        "provider_name": "replicate",
        # The models list has no "/images/edit" endpoint value; edit models say generate.
        "endpoint": "/images/generate",
        "capabilities": {"input": ["text", "image"], "output": ["image"]},
        "pricing": {"method": "per_image", "cost_per_image": 0.03},
        "request_schema": {
            "type": "object",
            "required": ["prompt", "input_image"],
            "properties": {
                "prompt": {"type": "string", "x-order": 0},
                "input_image": {"type": "string", "format": "uri", "renderType": "image-url"},
                "aspect_ratio": _aspect_ratio(
                    "16:9", ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]
                ),
            },
        },
    }


def _gpt_4o_mini() -> dict[str, Any]:
    return {
        "id": "gpt-4o-mini",
        "display_name": "GPT-4o mini",
        "description": "Small, fast chat model.",
        "developer": {"name": "openai", "logo": None},
        "provider_name": "openai",
        "endpoint": "/chat/completions",
        "capabilities": {"input": ["text", "image"], "output": ["text"]},
        "pricing": {
            "method": "token",
            "input_cost_per_token": 1.5e-07,
            "output_cost_per_token": 6e-07,
        },
        "request_schema": None,
    }


def _model_defaults(model: dict[str, Any]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "object": "model",
        "created": 1775000000,
        "owned_by": "oxen",
        "display_name": model["id"],
        "description": None,
        "summary": None,
        "model_type": "base",
        "endpoint": "/images/generate",
        "capabilities": {"input": ["text"], "output": ["image"]},
        "pricing": {"method": "per_image", "cost_per_image": 0.01},
        "fine_tuning": None,
        "deployments": [],
        "developer": None,
        "source_model": None,
        "image_url": None,
        "released_at": None,
        "request_schema": None,
    }
    full.update(model)
    return full


def DEFAULT_MODELS() -> list[dict[str, Any]]:
    """Fresh copies of the seeded models."""
    return [_model_defaults(m()) for m in (_flux_klein, _flux_dev, _qwen_edit, _gpt_4o_mini)]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    has_auth: bool
    authorization: str | None = None


@dataclass(slots=True)
class _Fault:
    method: str
    path_prefix: str
    kind: Literal["status", "delay", "disconnect"]
    times: int
    status: int = 500
    body_format: BodyFormat = "A"
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and path.startswith(self.path_prefix)


@dataclass(frozen=True, slots=True)
class _Outcome:
    substring: str
    fail: str | None = None
    delay: float | None = None
    image: bytes | None = None
    stall: bool = False


@dataclass(slots=True)
class _File:
    data: bytes
    sig: str
    content_type: str = "image/png"


@dataclass(slots=True)
class _Download:
    """How result files are served (slow / huge)."""

    chunk_delay: float = 0.0
    chunk_size: int = 16 * 1024
    pad_to: int | None = None
    send_length: bool = True


def error_a(status: int, error_type: str, title: str, detail: str | None = None) -> web.Response:
    error: dict[str, Any] = {"type": error_type, "title": title}
    if detail is not None:
        error["detail"] = detail
    return web.json_response(
        {"error": error, "status": "error", "status_message": error_type}, status=status
    )


def error_b(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status)


def _not_found() -> web.Response:
    return error_a(404, "resource_not_found", "The requested resource could not be found")


def _invalid(detail: str) -> web.Response:
    return error_a(
        400,
        "invalid_params",
        "Invalid parameters supplied, please check your request and try again.",
        detail,
    )


def validate_params(schema: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    """A small JSON-schema check, enough to fail runs like the real providers do."""
    if not schema:
        return None
    for name in schema.get("required", []):
        if params.get(name) in (None, "", []):
            return f"{name} is required"
    props: Mapping[str, Any] = schema.get("properties", {})
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
    }
    for name, value in params.items():
        spec = props.get(name)
        if spec is None or value is None:
            continue
        check = checks.get(spec.get("type", ""))
        if check is not None and not check(value):
            return f"{name} must be of type {spec['type']}"
        if "enum" in spec and value not in spec["enum"]:
            return f"{name} must be one of {spec['enum']}"
        if "minimum" in spec and isinstance(value, int | float) and value < spec["minimum"]:
            return f"{name} must be >= {spec['minimum']}"
        if "maximum" in spec and isinstance(value, int | float) and value > spec["maximum"]:
            return f"{name} must be <= {spec['maximum']}"
        if "maxItems" in spec and isinstance(value, list) and len(value) > spec["maxItems"]:
            return f"{name} must have at most {spec['maxItems']} items"
    return None


class _Server:
    """An aiohttp app on loopback with clean start/stop."""

    def __init__(self, app: web.Application, host: str, url_host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._url_host = url_host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        # handler_cancellation: a client that hangs up ends its handler (and its SSE stream).
        self._runner = web.AppRunner(
            self._app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://{self._url_host}:{port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class FakeCDN:
    """A second host (``localhost`` rather than 127.0.0.1) that result URLs redirect to.

    It serves the same files as the hub and records whether requests carried a key.
    """

    def __init__(self, oxen: FakeOxen) -> None:
        self._oxen = oxen
        self.requests: list[RecordedRequest] = []
        app = web.Application()
        app.router.add_get("/cdn/{path:.+}", self._serve)
        self._server = _Server(app, "127.0.0.1", "localhost", 0)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def received_auth(self) -> bool:
        return any(r.has_auth for r in self.requests)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.requests.append(
            RecordedRequest("GET", request.path, dict(request.query), None, auth is not None, auth)
        )
        return await self._oxen._serve_file(request, request.match_info["path"])


class FakeOxen:
    """The fake hub. See the module docstring for the choices it makes."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        start_delay: float = 0.05,
        duration: float = 0.2,
        keepalive_interval: float = 15.0,
        image_size: tuple[int, int] = (64, 64),
    ) -> None:
        self.api_key = api_key
        self.user = DEFAULT_USER
        # Lifecycle timing (real asyncio time).
        self.start_delay = start_delay
        self.duration = duration
        self.sync_delay = 0.0
        self.image_size = image_size
        self.hold = False
        self.clock_offset = 0.0
        # Switches for documented conflicts.
        self.max_generations = 4
        self.enqueue_status: Literal["queued", "processing"] = "queued"
        self.cancel_terminal: Literal["noop", "404"] = "noop"
        self.unsupported_media_type_style: Literal["error", "empty_200"] = "error"
        self.list_models_with_schema = False
        # Faults.
        self.insufficient_credits = False
        self.redirect_results_to: str | None = None
        self.events_enabled = True
        self.keepalive_interval = keepalive_interval
        self.download = _Download()
        # State.
        self.models: dict[str, dict[str, Any]] = {m["id"]: m for m in DEFAULT_MODELS()}
        self.generations: dict[str, dict[str, Any]] = {}
        # When each generation reached its outcome, by time.monotonic() (the test's clock).
        self.finished_at: dict[str, float] = {}
        self.requests: list[RecordedRequest] = []
        self.cdn: FakeCDN | None = None
        self._files: dict[str, _File] = {}
        self._paths: dict[str, str] = {}  # generation id -> file path
        self._faults: list[_Fault] = []
        self._outcomes: list[_Outcome] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._stopping = asyncio.Event()
        self._server = _Server(self._make_app(), host, host, port)

    # -- lifecycle of the fake --------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def start(self) -> FakeOxen:
        self._stopping.clear()
        await self._server.start()
        return self

    async def stop(self) -> None:
        self._stopping.set()
        self.drop_event_streams()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.stop()
        if self.cdn is not None:
            await self.cdn.stop()
            self.cdn = None

    async def __aenter__(self) -> FakeOxen:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start_cdn(self) -> FakeCDN:
        """Start the second host and make result URLs 302 there."""
        if self.cdn is None:
            self.cdn = FakeCDN(self)
            await self.cdn.start()
        self.redirect_results_to = self.cdn.base_url
        return self.cdn

    # -- helpers for tests ----------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def add_model(self, model: Mapping[str, Any]) -> dict[str, Any]:
        full = _model_defaults(dict(model))
        self.models[full["id"]] = full
        return full

    def count(self, method: str, path_prefix: str = "/") -> int:
        return sum(
            1 for r in self.requests if r.method == method and r.path.startswith(path_prefix)
        )

    def requests_to(self, method: str, path_prefix: str = "/") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        body_format: BodyFormat = "A",
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """The next ``times`` matching requests get ``status`` instead of being handled."""
        self._faults.append(
            _Fault(
                method.upper(),
                path_prefix,
                "status",
                times,
                status=status,
                body_format=body_format,
                retry_after=retry_after,
                message=message,
            )
        )

    def clear_faults(self) -> None:
        """Forget every fault still waiting to happen."""
        self._faults.clear()

    def delay_next(self, method: str, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Handle the next matching requests, then wait ``seconds`` before answering.

        The work is done (a generation is enqueued) even if the client gives up: this is the
        "read timeout after the request reached Oxen" case.
        """
        self._faults.append(_Fault(method.upper(), path_prefix, "delay", times, seconds=seconds))

    def disconnect_next(self, method: str, path_prefix: str, *, times: int = 1) -> None:
        """Handle the next matching requests, then drop the connection without answering."""
        self._faults.append(_Fault(method.upper(), path_prefix, "disconnect", times))

    def outcome_for_prompt(
        self,
        substring: str,
        *,
        fail: str | None = None,
        delay: float | None = None,
        image: bytes | None = None,
        stall: bool = False,
    ) -> None:
        """Prompts containing ``substring`` fail / take ``delay`` s / yield ``image`` / stall."""
        self._outcomes.insert(0, _Outcome(substring, fail, delay, image, stall))

    def make_results_slow(self, chunk_delay: float, *, chunk_size: int = 1024) -> None:
        self.download.chunk_delay = chunk_delay
        self.download.chunk_size = chunk_size

    def make_results_huge(self, size: int, *, send_length: bool = True) -> None:
        """Result files are padded to ``size`` bytes; ``send_length=False`` streams chunked."""
        self.download.pad_to = size
        self.download.send_length = send_length

    def set_processing(self, gen_id: str) -> None:
        row = self._row(gen_id)
        if row["status"] != "queued":
            raise ValueError(f"{gen_id} is {row['status']}, not queued")
        row["status"] = "processing"
        row["started_at"] = self.now()

    def release(self, gen_id: str | None = None) -> None:
        """Start the normal lifecycle of held generations (one, or all)."""
        ids = [gen_id] if gen_id is not None else list(self.generations)
        for gid in ids:
            row = self._row(gid)
            if row["status"] in _ACTIVE and gid not in self._tasks:
                self._spawn(gid)

    async def complete(self, gen_id: str, image: bytes | None = None) -> dict[str, Any]:
        await self._stop_task(gen_id)
        self._finish_succeeded(gen_id, image)
        return self.generations[gen_id]

    async def fail(self, gen_id: str, message: str = "Generation failed") -> dict[str, Any]:
        await self._stop_task(gen_id)
        self._finish_failed(gen_id, message)
        return self.generations[gen_id]

    def expire_result(self, gen_id: str) -> str:
        """The current signed URL now answers 403; the row gets a fresh one (returned)."""
        row = self._row(gen_id)
        path = self._paths.get(gen_id)
        if not row.get("result_url") or path is None:
            raise ValueError(f"{gen_id} has no result yet")
        self._files[path].sig = secrets.token_urlsafe(12)
        row["result_url"] = self._file_url(path)
        return str(row["result_url"])

    def result_bytes(self, gen_id: str) -> bytes:
        self._row(gen_id)
        path = self._paths.get(gen_id)
        if path is None:
            raise ValueError(f"{gen_id} has no result yet")
        return self._files[path].data

    async def wait_for_status(
        self, gen_id: str, status: str, *, timeout: float = 5.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            # Polling keeps the fake simple; 10 ms is plenty for tests.
            while self._row(gen_id)["status"] != status:
                await asyncio.sleep(0.01)
        return self.generations[gen_id]

    # -- SSE helpers ------------------------------------------------------------------

    @property
    def event_subscribers(self) -> int:
        return len(self._subscribers)

    async def wait_for_subscribers(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Wait until exactly ``count`` event streams are open (0 works too)."""
        async with asyncio.timeout(timeout):
            while len(self._subscribers) != count:
                await asyncio.sleep(0.01)

    async def emit_raw(self, text: str) -> None:
        """Write ``text`` verbatim to every open event stream."""
        for queue in list(self._subscribers):
            queue.put_nowait(text)
        await asyncio.sleep(0)

    async def emit_event(self, event: str, data: Mapping[str, Any] | str) -> None:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        await self.emit_raw(f"event: {event}\ndata: {payload}\n\n")

    def drop_event_streams(self) -> None:
        """End every open event stream (the server closes them cleanly)."""
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    # -- internals: generations -------------------------------------------------------

    def _row(self, gen_id: str) -> dict[str, Any]:
        try:
            return self.generations[gen_id]
        except KeyError:
            raise KeyError(f"no generation {gen_id}") from None

    def _outcome(self, prompt: object) -> _Outcome | None:
        text = prompt if isinstance(prompt, str) else ""
        for outcome in self._outcomes:
            if outcome.substring in text:
                return outcome
        return None

    def _new_generation(self, model: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        gid = str(uuid.uuid4())
        output = model["capabilities"].get("output", [])
        row: dict[str, Any] = {
            "generation_id": gid,
            "model_name": model["id"],
            "prompt": params.get("prompt"),
            "media_type": "video" if "video" in output and "image" not in output else "image",
            "status": "queued",
            "result_url": None,
            "error_message": None,
            "enqueued_at": self.now(),
            "started_at": None,
            "completed_at": None,
            "target_namespace": params.get("target_namespace"),
            "target_repo": params.get("target_repo"),
            "target_directory": params.get("target_directory"),
        }
        for key, value in params.items():
            if key not in _NOT_ECHOED:
                row[key] = value
        self.generations[gid] = row
        if not self.hold:
            self._spawn(gid)
        return row

    def _spawn(self, gid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._lifecycle(gid))
        self._tasks[gid] = task
        task.add_done_callback(lambda t, g=gid: self._forget(g, t))  # type: ignore[misc]

    def _forget(self, gid: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(gid) is task:
            del self._tasks[gid]

    async def _stop_task(self, gid: str) -> None:
        self._row(gid)
        task = self._tasks.pop(gid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _lifecycle(self, gid: str) -> None:
        row = self.generations[gid]
        outcome = self._outcome(row.get("prompt"))
        if row["status"] == "queued":
            await asyncio.sleep(self.start_delay)
        if row["status"] == "queued":
            row["status"] = "processing"
            row["started_at"] = self.now()
        if row["status"] != "processing":
            return
        if outcome is not None and outcome.stall:
            await self._stopping.wait()
            return
        delay = outcome.delay if outcome is not None and outcome.delay is not None else None
        await asyncio.sleep(self.duration if delay is None else delay)
        if row["status"] != "processing":
            return
        if outcome is not None and outcome.fail is not None:
            self._finish_failed(gid, outcome.fail)
            return
        model = self.models.get(row["model_name"], {})
        problem = validate_params(model.get("request_schema"), row)
        if problem is not None:
            # Per-model validation happens at run time, not at enqueue.
            self._finish_failed(gid, f"Getting model response error: 422 - Value error, {problem}")
            return
        self._finish_succeeded(gid, outcome.image if outcome is not None else None)

    def _finish_succeeded(self, gid: str, image: bytes | None) -> None:
        row = self._row(gid)
        if row["status"] in _TERMINAL:
            raise ValueError(f"{gid} is already {row['status']}")
        data = image if image is not None else self._render(row.get("prompt"), gid)
        path = self._store_file(row, f"{gid}.png", data)
        self._paths[gid] = path
        now = self.now()
        self.finished_at[gid] = time.monotonic()
        row["status"] = "succeeded"
        row["started_at"] = row["started_at"] or now
        row["completed_at"] = now
        row["result_url"] = self._file_url(path)
        self._publish(
            {
                "generation_id": gid,
                "status": "succeeded",
                "media_type": row["media_type"],
                "model": row["model_name"],
                "url": row["result_url"],
            }
        )

    def _finish_failed(self, gid: str, message: str) -> None:
        row = self._row(gid)
        if row["status"] in _TERMINAL:
            raise ValueError(f"{gid} is already {row['status']}")
        now = self.now()
        row["status"] = "failed"
        row["started_at"] = row["started_at"] or now
        row["completed_at"] = now
        row["error_message"] = message
        self._publish(
            {
                "generation_id": gid,
                "status": "failed",
                "media_type": row["media_type"],
                "error": message,
            }
        )

    def _publish(self, payload: Mapping[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        for queue in list(self._subscribers):
            queue.put_nowait(f"event: media_generation_completed\ndata: {text}\n\n")

    def _render(self, prompt: object, seed: str) -> bytes:
        return png_for_prompt(str(prompt or ""), seed=seed, size=self.image_size)

    def _store_file(self, row: Mapping[str, Any], name: str, data: bytes) -> str:
        ns = row.get("target_namespace") or self.user
        repo = row.get("target_repo") or DEFAULT_REPO
        folder = row.get("target_directory") or DEFAULT_FOLDER
        path = f"{ns}/{repo}/file/main/{folder}/{name}"
        self._files[path] = _File(data, secrets.token_urlsafe(12))
        return path

    def _file_url(self, path: str) -> str:
        return f"{self.base_url}/api/repos/{path}?sig={self._files[path].sig}"

    @staticmethod
    def _public(row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if not k.startswith("_")}

    # -- internals: HTTP ----------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/api/ai/images/generate", self._images_generate)
        r.add_post("/api/ai/images/edit", self._images_edit)
        r.add_post("/api/ai/queue", self._enqueue)
        r.add_get("/api/ai/queue", self._list_queue)
        r.add_get("/api/ai/queue/{gid}", self._get_generation)
        r.add_delete("/api/ai/queue/{gid}", self._cancel)
        r.add_post("/api/ai/queue/{gid}/retry", self._retry)
        r.add_get("/api/ai/generations", self._list_history)
        r.add_get("/api/ai/generations/{gid}", self._show_history)
        r.add_get("/api/ai/models", self._list_models)
        r.add_get("/api/ai/models/search", self._search_models)
        r.add_get("/api/ai/models/{model_id}", self._get_model)
        r.add_get("/api/events", self._events)
        r.add_get("/api/repos/{path:.+}", self._result_file)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", errors="replace")
        auth = request.headers.get("Authorization")
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), body, auth is not None, auth
            )
        )
        request[_JSON_KEY] = body
        fault = next((f for f in self._faults if f.matches(request.method, request.path)), None)
        if fault is not None:
            fault.times -= 1
            if fault.kind == "status":
                return self._fault_response(fault)
        is_file = request.path.startswith("/api/repos/")
        if not is_file and auth != f"Bearer {self.api_key}":
            return error_a(401, "unauthenticated", "Unauthenticated")
        response: web.StreamResponse = await handler(request)
        if fault is not None and fault.kind == "delay":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
        elif fault is not None and fault.kind == "disconnect" and request.transport is not None:
            # The work is done but the answer is lost.
            request.transport.close()
        return response

    def _fault_response(self, fault: _Fault) -> web.Response:
        status = fault.status
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        message = fault.message or {
            429: "Rate limit exceeded",
            500: "Internal server error",
            502: "Bad gateway",
            503: "Service unavailable",
        }.get(status, f"Injected error {status}")
        if fault.body_format == "A":
            error_type = _DEFAULT_TYPES.get(status, "unknown_error")
            response = error_a(status, error_type, "Something went wrong", message)
        elif fault.body_format == "B":
            response = error_b(status, message)
        elif fault.body_format == "html":
            response = web.Response(
                status=status,
                text=f"<html><body><h1>{message}</h1></body></html>",
                content_type="text/html",
            )
        else:
            response = web.Response(status=status, text=message)
        response.headers.update(headers)
        return response

    def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        body = request.get(_JSON_KEY)
        if not isinstance(body, dict):
            return _invalid("Request body must be a JSON object")
        return body

    def _image_model(self, body: Mapping[str, Any], *, sync: bool) -> dict[str, Any] | web.Response:
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            return _invalid("model is required")
        model = self.models.get(model_id)
        if model is None:
            return error_b(404, f"Model not found: {model_id}")
        output = model["capabilities"].get("output", [])
        if "image" not in output and (sync or "video" not in output):
            return _invalid(":unsupported_media_type")
        return model

    def _credits(self) -> web.Response | None:
        if self.insufficient_credits:
            return error_a(
                400, "insufficient_credits", "Insufficient credits", "Insufficient credits"
            )
        return None

    async def _sync_image(self, request: web.Request, *, edit: bool) -> web.Response:
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        model = self._image_model(body, sync=True)
        if isinstance(model, web.Response):
            return model
        if (rejected := self._credits()) is not None:
            return rejected
        prompt = body.get("prompt")
        if not edit and (not isinstance(prompt, str) or not prompt.strip()):
            return _invalid("Prompt cannot be empty")
        params = {k: v for k, v in body.items() if k not in ("model", "response_format", "n")}
        problem = validate_params(model.get("request_schema"), params)
        if problem is not None:
            return _invalid(f"Getting model response error: 422 - Value error, {problem}")
        outcome = self._outcome(prompt)
        delay = outcome.delay if outcome is not None and outcome.delay is not None else None
        wait = self.sync_delay if delay is None else delay
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
        if outcome is not None and outcome.fail is not None:
            return _invalid(outcome.fail)
        n = body.get("n", 1)
        n = n if isinstance(n, int) and 1 <= n <= 4 else 1
        response_format = body.get("response_format", "url")
        images: list[dict[str, Any]] = []
        for _ in range(n):
            name = f"sync-{uuid.uuid4()}.png"
            if outcome is not None and outcome.image is not None:
                data = outcome.image
            else:
                data = self._render(prompt, name)
            if response_format == "b64_json":
                images.append({"b64_json": base64.b64encode(data).decode("ascii")})
            else:
                path = self._store_file({}, name, data)
                images.append({"url": self._file_url(path), "revised_prompt": None})
        return web.json_response({"model": model["id"], "created": self.now(), "images": images})

    async def _images_generate(self, request: web.Request) -> web.Response:
        return await self._sync_image(request, edit=False)

    async def _images_edit(self, request: web.Request) -> web.Response:
        return await self._sync_image(request, edit=True)

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        model = self._image_model(body, sync=False)
        if isinstance(model, web.Response):
            if (
                self.unsupported_media_type_style == "empty_200"
                and model.status == 400
                and model.text is not None
                and "unsupported_media_type" in model.text
            ):
                return web.json_response(
                    {"generations": [], "error": {"detail": "unsupported_media_type"}}
                )
            return model
        n = body.get("num_generations", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.max_generations:
            return _invalid(
                f"num_generations must be an integer between 1 and {self.max_generations}"
            )
        if (rejected := self._credits()) is not None:
            return rejected
        rows = [self._new_generation(model, body) for _ in range(n)]
        return web.json_response(
            {
                "generations": [
                    {"generation_id": row["generation_id"], "status": self.enqueue_status}
                    for row in rows
                ]
            }
        )

    def _filtered(
        self, query: Mapping[str, str], *, active_only: bool = True
    ) -> list[dict[str, Any]] | web.Response:
        status = query.get("status")
        if status is not None and status not in _STATUSES:
            return _invalid(f"status must be one of {sorted(_STATUSES)}")
        rows = []
        for row in self.generations.values():
            if status is None and active_only and row["status"] not in _ACTIVE:
                continue
            if status is not None and row["status"] != status:
                continue
            if "model" in query and row["model_name"] != query["model"]:
                continue
            if "media_type" in query and row["media_type"] != query["media_type"]:
                continue
            if (
                "namespace" in query
                and (row["target_namespace"] or self.user) != query["namespace"]
            ):
                continue
            if "repo" in query and row["target_repo"] != query["repo"]:
                continue
            if "folder" in query and row["target_directory"] != query["folder"]:
                continue
            rows.append(self._public(row))
        return rows

    async def _list_queue(self, request: web.Request) -> web.Response:
        rows = self._filtered(request.query)
        if isinstance(rows, web.Response):
            return rows
        return web.json_response({"count": len(rows), "generations": rows})

    async def _get_generation(self, request: web.Request) -> web.Response:
        row = self.generations.get(request.match_info["gid"])
        if row is None:
            return _not_found()
        return web.json_response(self._public(row))

    async def _cancel(self, request: web.Request) -> web.Response:
        gid = request.match_info["gid"]
        row = self.generations.get(gid)
        if row is None:
            return _not_found()
        if row["status"] in _TERMINAL:
            if self.cancel_terminal == "404":
                return _not_found()
        else:
            await self._stop_task(gid)
            row["status"] = "cancelled"
            row["completed_at"] = self.now()
        return web.json_response({"status": "success", "generation_id": gid})

    async def _retry(self, request: web.Request) -> web.Response:
        gid = request.match_info["gid"]
        row = self.generations.get(gid)
        if row is None:
            return _not_found()
        if row["status"] == "succeeded":
            return _invalid("A generation that already succeeded cannot be retried")
        if row["status"] in _ACTIVE:
            await self._stop_task(gid)
            row["status"] = "cancelled"
            row["completed_at"] = self.now()
        model = self.models.get(row["model_name"])
        if model is None:
            return error_b(404, f"Model not found: {row['model_name']}")
        params = {
            k: v
            for k, v in row.items()
            if not k.startswith("_")
            and k
            not in (
                "generation_id",
                "model_name",
                "media_type",
                "status",
                "result_url",
                "error_message",
                "enqueued_at",
                "started_at",
                "completed_at",
                "retried_from_id",
            )
        }
        new = self._new_generation(model, params)
        new["retried_from_id"] = gid
        return web.json_response(
            {"generation_id": new["generation_id"], "status": "queued", "retried_from_id": gid}
        )

    async def _list_history(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        page = int(query.pop("page", "1"))
        page_size = int(query.pop("page_size", "50"))
        # History includes every status unless one is asked for.
        found = self._filtered(query, active_only=False)
        if isinstance(found, web.Response):
            return found
        rows = found
        total = len(rows)
        chunk = rows[(page - 1) * page_size : page * page_size]
        return web.json_response(
            {
                "count": len(chunk),
                "generations": [{**r, "cost": None, "username": self.user} for r in chunk],
                "page_number": page,
                "page_size": page_size,
                "total_pages": max(1, -(-total // page_size)),
                "total_entries": total,
                "total_cost": None,
            }
        )

    async def _show_history(self, request: web.Request) -> web.Response:
        row = self.generations.get(request.match_info["gid"])
        if row is None:
            return _not_found()
        return web.json_response(
            {
                "status": "success",
                "status_message": "resource_found",
                "generation": {**self._public(row), "cost": None, "username": self.user},
            }
        )

    def _model_view(self, model: Mapping[str, Any], *, with_schema: bool) -> dict[str, Any]:
        view = {k: v for k, v in model.items() if k != "provider_name"}
        if not with_schema:
            view.pop("request_schema", None)
        return view

    async def _list_models(self, request: web.Request) -> web.Response:
        developer = request.query.get("developer_name")
        provider = request.query.get("provider_name")
        data = [
            self._model_view(m, with_schema=self.list_models_with_schema)
            for m in self.models.values()
            if (developer is None or (m.get("developer") or {}).get("name") == developer)
            and (provider is None or m.get("provider_name") == provider)
        ]
        return web.json_response({"object": "list", "data": data})

    async def _search_models(self, request: web.Request) -> web.Response:
        query = request.query.get("search", "").strip().lower()
        if not query:
            return _invalid("search is required")
        data = [
            self._model_view(m, with_schema=self.list_models_with_schema)
            for m in self.models.values()
            if query
            in " ".join(str(m.get(k) or "") for k in ("id", "display_name", "description")).lower()
        ]
        return web.json_response({"object": "list", "data": data})

    async def _get_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        model = self.models.get(model_id)
        if model is None:
            return error_b(404, f"Model not found: {model_id}")
        return web.json_response(self._model_view(model, with_schema=True))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self.events_enabled:
            return error_a(503, "unknown_error", "Service unavailable", "Events are disabled")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while not self._stopping.is_set():
                try:
                    item = await asyncio.wait_for(queue.get(), self.keepalive_interval)
                except TimeoutError:
                    item = KEEPALIVE
                if item is None:
                    break
                await response.write(item.encode())
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self._subscribers.discard(queue)
        return response

    async def _result_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if self.redirect_results_to:
            file = self._files.get(path)
            if file is None:
                return web.Response(status=404, text="NoSuchKey")
            location = f"{self.redirect_results_to.rstrip('/')}/cdn/{path}?sig={file.sig}"
            return web.Response(status=302, headers={"Location": location})
        return await self._serve_file(request, path)

    async def _serve_file(self, request: web.Request, path: str) -> web.StreamResponse:
        file = self._files.get(path)
        if file is None:
            return web.Response(status=404, text="NoSuchKey")
        if request.query.get("sig") != file.sig:
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                "</Error>",
                content_type="application/xml",
            )
        data = file.data
        opts = self.download
        size = max(len(data), opts.pad_to or 0)
        response = web.StreamResponse(headers={"Content-Type": file.content_type})
        if opts.send_length:
            response.content_length = size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        try:
            while sent < size:
                end = min(size, sent + opts.chunk_size)
                if end <= len(data):
                    chunk = data[sent:end]
                else:
                    chunk = data[sent : len(data)] + b"\0" * (end - max(sent, len(data)))
                await response.write(chunk)
                sent = end
                if opts.chunk_delay:
                    await asyncio.sleep(opts.chunk_delay)
            await response.write_eof()
        except ConnectionError:
            pass
        return response
