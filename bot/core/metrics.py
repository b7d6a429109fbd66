"""The bot's Prometheus metrics: one object, built in the composition root, told by what reports.

It has its own ``CollectorRegistry`` (never prometheus_client's global one), so two bots in one
process (tests) never share a figure. Counters and histograms are told as things happen (the
watcher, the waiting line, the request flow, the event stream, the Oxen and Discord clients);
the gauges that describe "now" are read on scrape from what the bot already keeps in memory
(``read_now_from``), so a scrape never queries the store.

Several bot processes may share one store: every figure is this process's own, except the
queue's (jobs by state, the oldest pending, requests waiting), which every process reports
alike, labelled ``scope="queue"`` so that a dashboard takes their max() over the processes
instead of adding them up. ``imagine_process_info`` names the process and its shards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.core.open_jobs import JOB_STATES
from bot.core.types import RefusalRule

OUTCOMES: Final = ("succeeded", "failed", "cancelled", "undeliverable")
# Enqueued -> posted: Oxen's images take seconds to minutes; MAX_GENERATION_AGE is 15 minutes.
REQUEST_BUCKETS: Final = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 900.0)
# Oxen done -> posted: the download, the re-encode and the post.
DELIVERY_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
QUEUE_SCOPE: Final = "queue"  # the label of figures every process reports alike


def _zero() -> float:
    return 0.0


def _nan() -> float:
    return math.nan


def _no_jobs() -> Mapping[str, int]:
    return {}


def _false() -> bool:
    return False


class Metrics:
    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, process: bool = True
    ) -> None:
        self._monotonic = monotonic
        self.registry = CollectorRegistry()
        r = self.registry
        self._generations = Counter(
            "imagine_generations",
            "Generations whose outcome reached Discord (or never will), by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self._enqueued = Counter(
            "imagine_generations_enqueued", "Generations Oxen accepted.", registry=r
        )
        self._request_seconds = Histogram(
            "imagine_request_seconds",
            "Enqueued at Oxen to posted in Discord, for each image posted.",
            buckets=REQUEST_BUCKETS, registry=r,
        )  # fmt: skip
        self._delivery_seconds = Histogram(
            "imagine_delivery_seconds",
            "The bot learning that Oxen finished (event or poll) to the image posted.",
            buckets=DELIVERY_BUCKETS, registry=r,
        )  # fmt: skip
        self._job_failures = Counter(
            "imagine_job_attempt_failures",
            "Failed attempts to follow or deliver a generation (each one is retried).",
            registry=r,
        )
        self._refusals = Counter(
            "imagine_refusals",
            "Requests refused by a server rule before anything was queued, by rule.",
            ["rule"], registry=r,
        )  # fmt: skip
        self._oxen_requests = Counter(
            "imagine_oxen_requests",
            "Oxen API answers (HTTP status) and transport failures (timeout, connection_error), "
            "by endpoint.",
            ["endpoint", "status"], registry=r,
        )  # fmt: skip
        self._events_connected = Gauge(
            "imagine_oxen_events_connected",
            "1 while Oxen's completion event stream is open.",
            registry=r,
        )
        self._events_reconnects = Counter(
            "imagine_oxen_events_reconnects",
            "Times Oxen's completion event stream opened again after it was lost.",
            registry=r,
        )
        self._rate_limited = Counter(
            "imagine_discord_rate_limited",
            "HTTP 429 answers from Discord's REST API (discord.py waits and retries).",
            registry=r,
        )
        self._images_per_message = Histogram(
            "imagine_discord_images_per_message",
            "Images in each result message posted (several when a channel's bucket is full).",
            buckets=(1, 2, 3, 4, 6, 8, 10), registry=r,
        )  # fmt: skip
        self._edits_dropped = Counter(
            "imagine_discord_status_edits_dropped",
            "Intermediate status edits a saturated channel had no room for (the final one "
            "always goes).",
            registry=r,
        )
        self._loop_lag = Gauge(
            "imagine_event_loop_lag_seconds",
            "How late the event loop last ran a timer (something slow on the loop).",
            registry=r,
        )
        self._takeovers = Counter(
            "imagine_lease_takeovers",
            "Jobs this process took over from another whose lease on them expired (it died, "
            "or renewed too late).",
            registry=r,
        )
        self._process_info = Gauge(
            "imagine_process_info",
            "This bot process: its lease owner id and the shards it runs (all of them: '0' of "
            "'1' unsharded).",
            ["process", "shards", "shard_count"], registry=r,
        )  # fmt: skip
        for outcome in OUTCOMES:
            self._generations.labels(outcome=outcome)
        for rule in RefusalRule:
            self._refusals.labels(rule=rule.value)
        self._last_oxen_answer: float | None = None
        self._now = _Now()
        r.register(self._now)
        if process:
            ProcessCollector(registry=r)  # process_cpu_seconds_total, resident memory, fds

    # --- told as things happen ------------------------------------------------------------------

    def generations_enqueued(self, count: int) -> None:
        self._enqueued.inc(count)

    def generation_finished(self, outcome: str) -> None:
        """``outcome``: one of OUTCOMES (Oxen's terminal status, or undeliverable)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"not an outcome: {outcome!r}")
        self._generations.labels(outcome=outcome).inc()

    def request_took(self, seconds: float) -> None:
        self._request_seconds.observe(max(0.0, seconds))

    def delivery_took(self, seconds: float) -> None:
        self._delivery_seconds.observe(max(0.0, seconds))

    def job_attempt_failed(self) -> None:
        self._job_failures.inc()

    def refused(self, rule: RefusalRule) -> None:
        self._refusals.labels(rule=rule.value).inc()

    def oxen_response(self, endpoint: str, status: str) -> None:
        """The Oxen client's hook: every answer (HTTP status) and transport failure."""
        self._oxen_requests.labels(endpoint=endpoint, status=status).inc()
        if status.isdigit() and int(status) < 500:
            self._last_oxen_answer = self._monotonic()

    def seconds_since_oxen_answered(self) -> float | None:
        """Since Oxen last answered below 500 (its service is up and talking); None: never."""
        if self._last_oxen_answer is None:
            return None
        return self._monotonic() - self._last_oxen_answer

    def events_connected(self, connected: bool) -> None:
        self._events_connected.set(1 if connected else 0)

    def events_reconnected(self) -> None:
        self._events_reconnects.inc()

    def discord_rate_limited(self) -> None:
        self._rate_limited.inc()

    def result_message_posted(self, images: int) -> None:
        self._images_per_message.observe(images)

    def status_edit_dropped(self) -> None:
        self._edits_dropped.inc()

    def loop_lag(self, seconds: float) -> None:
        self._loop_lag.set(max(0.0, seconds))

    def lease_taken_over(self) -> None:
        self._takeovers.inc()

    def process_is(self, owner: str, shards: tuple[int, ...], shard_count: int) -> None:
        """Which process this is (set once, at start)."""
        self._process_info.clear()
        labels = {"shards": ",".join(map(str, shards)), "shard_count": str(shard_count)}
        self._process_info.labels(process=owner, **labels).set(1)

    # --- read on scrape ---------------------------------------------------------------------------

    def read_now_from(
        self,
        *,
        jobs_by_state: Callable[[], Mapping[str, int]] = _no_jobs,
        oldest_pending_age: Callable[[], float] = _zero,
        waiting_requests: Callable[[], int] = lambda: 0,
        gateway_latency: Callable[[], float] = _nan,
        gateway_connected: Callable[[], bool] = _false,
    ) -> None:
        """Where the "now" gauges come from: cheap in-memory reads, called on every scrape."""
        self._now.jobs_by_state = jobs_by_state
        self._now.oldest_pending_age = oldest_pending_age
        self._now.waiting_requests = waiting_requests
        self._now.gateway_latency = gateway_latency
        self._now.gateway_connected = gateway_connected

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _Now:
    """A collector for gauges computed on scrape."""

    def __init__(self) -> None:
        self.jobs_by_state: Callable[[], Mapping[str, int]] = _no_jobs
        self.oldest_pending_age: Callable[[], float] = _zero
        self.waiting_requests: Callable[[], int] = lambda: 0
        self.gateway_latency: Callable[[], float] = _nan
        self.gateway_connected: Callable[[], bool] = _false

    def collect(self) -> Iterator[Metric]:
        # The queue's figures: the same on every process sharing the store (scope="queue").
        jobs = GaugeMetricFamily(
            "imagine_jobs",
            "Generations the bot is following now, by state (queued or processing at Oxen, "
            "delivering to Discord); every process reports the whole queue: use max().",
            labels=["state", "scope"],
        )
        counts: dict[str, int] = dict.fromkeys(JOB_STATES, 0)
        counts.update(self.jobs_by_state())
        for state, count in counts.items():
            jobs.add_metric([state, QUEUE_SCOPE], count)
        yield jobs
        yield _queue_gauge(
            "imagine_oldest_pending_age_seconds",
            "Age of the oldest generation Oxen has not finished yet (0: none).",
            self.oldest_pending_age(),
        )
        yield _queue_gauge(
            "imagine_waiting_requests",
            "Requests waiting in the bot's own line (MAX_GENERATIONS_IN_FLIGHT).",
            self.waiting_requests(),
        )
        latency = self.gateway_latency()
        yield GaugeMetricFamily(
            "imagine_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN until the first heartbeat is answered).",
            value=latency if math.isfinite(latency) else math.nan,
        )
        yield GaugeMetricFamily(
            "imagine_gateway_connected",
            "1 while the Discord gateway connection is up and ready.",
            value=1 if self.gateway_connected() else 0,
        )

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can refuse a duplicate without calling the sources.
        yield GaugeMetricFamily("imagine_jobs", "", labels=["state", "scope"])
        for name in ("imagine_oldest_pending_age_seconds", "imagine_waiting_requests"):
            yield GaugeMetricFamily(name, "", labels=["scope"])
        for name in ("imagine_gateway_latency_seconds", "imagine_gateway_connected"):
            yield GaugeMetricFamily(name, "")


def _queue_gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(
        name, documentation + " Every process reports the whole queue: use max().", labels=["scope"]
    )
    gauge.add_metric([QUEUE_SCOPE], value)
    return gauge
