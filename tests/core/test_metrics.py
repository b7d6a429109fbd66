"""The metrics object: its own registry, the names dashboards are written against, "now" gauges
read from callables on scrape, and Oxen's last answer for readiness."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.core.metrics import Metrics
from bot.core.types import RefusalRule


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus_client's own parser."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def test_every_documented_name_is_exposed_before_anything_happens():
    metrics = Metrics()
    names = {name for name, _ in samples(metrics)}
    for name in (
        "imagine_generations_total",
        "imagine_jobs",
        "imagine_oldest_pending_age_seconds",
        "imagine_request_seconds_bucket",
        "imagine_request_seconds_count",
        "imagine_delivery_seconds_sum",
        "imagine_oxen_events_connected",
        "imagine_oxen_events_reconnects_total",
        "imagine_discord_rate_limited_total",
        "imagine_gateway_latency_seconds",
        "imagine_waiting_requests",
        "imagine_refusals_total",
        "imagine_generations_enqueued_total",
        "imagine_event_loop_lag_seconds",
        "imagine_gateway_connected",
        "process_resident_memory_bytes",
    ):
        assert name in names, name
    # Known label values exist at 0, so rate() and alerts work from the first scrape.
    for outcome in ("succeeded", "failed", "cancelled", "undeliverable"):
        assert value(metrics, "imagine_generations_total", outcome=outcome) == 0
    for rule in RefusalRule:
        assert value(metrics, "imagine_refusals_total", rule=rule.value) == 0


def test_each_object_has_its_own_registry():
    one, two = Metrics(), Metrics()
    one.generation_finished("succeeded")
    assert value(one, "imagine_generations_total", outcome="succeeded") == 1
    assert value(two, "imagine_generations_total", outcome="succeeded") == 0
    assert one.registry is not REGISTRY and one.registry is not two.registry
    assert REGISTRY.get_sample_value("imagine_generations_total", {"outcome": "succeeded"}) is None


def test_counters_and_histograms_move():
    metrics = Metrics()
    metrics.generations_enqueued(4)
    metrics.generation_finished("succeeded")
    metrics.generation_finished("undeliverable")
    metrics.request_took(12.0)
    metrics.delivery_took(0.3)
    metrics.refused(RefusalRule.BANNED_TERM)
    metrics.discord_rate_limited()
    metrics.events_connected(True)
    metrics.events_reconnected()
    metrics.job_attempt_failed()
    assert value(metrics, "imagine_generations_enqueued_total") == 4
    assert value(metrics, "imagine_generations_total", outcome="succeeded") == 1
    assert value(metrics, "imagine_generations_total", outcome="undeliverable") == 1
    assert value(metrics, "imagine_request_seconds_count") == 1
    assert value(metrics, "imagine_request_seconds_bucket", le="10.0") == 0
    assert value(metrics, "imagine_request_seconds_bucket", le="20.0") == 1
    assert value(metrics, "imagine_delivery_seconds_bucket", le="0.5") == 1
    assert value(metrics, "imagine_refusals_total", rule="banned_term") == 1
    assert value(metrics, "imagine_discord_rate_limited_total") == 1
    assert value(metrics, "imagine_oxen_events_connected") == 1
    assert value(metrics, "imagine_oxen_events_reconnects_total") == 1
    assert value(metrics, "imagine_job_attempt_failures_total") == 1
    metrics.events_connected(False)
    assert value(metrics, "imagine_oxen_events_connected") == 0


def test_an_unknown_outcome_is_a_bug_not_a_new_label():
    with pytest.raises(ValueError):
        Metrics().generation_finished("exploded")


def test_oxen_requests_by_endpoint_and_status_and_the_last_answer():
    now = [100.0]
    metrics = Metrics(monotonic=lambda: now[0])
    assert metrics.seconds_since_oxen_answered() is None
    metrics.oxen_response("GET /api/ai/queue/{id}", "503")
    metrics.oxen_response("GET /api/ai/queue", "timeout")
    assert metrics.seconds_since_oxen_answered() is None  # neither is Oxen answering
    metrics.oxen_response("GET /api/ai/queue/{id}", "404")  # an answer, though not a success
    now[0] = 130.0
    assert metrics.seconds_since_oxen_answered() == 30.0
    endpoint = "GET /api/ai/queue/{id}"
    assert value(metrics, "imagine_oxen_requests_total", endpoint=endpoint, status="503") == 1
    assert value(metrics, "imagine_oxen_requests_total", endpoint=endpoint, status="404") == 1
    listing = {"endpoint": "GET /api/ai/queue", "status": "timeout"}
    assert value(metrics, "imagine_oxen_requests_total", **listing) == 1


def test_now_gauges_are_read_from_the_sources_on_every_scrape():
    metrics = Metrics()
    state = {"queued": 3, "processing": 1, "delivering": 0}
    waiting = [2]
    metrics.read_now_from(
        jobs_by_state=lambda: state,
        oldest_pending_age=lambda: 42.5,
        waiting_requests=lambda: waiting[0],
        gateway_latency=lambda: 0.08,
        gateway_connected=lambda: True,
    )
    assert value(metrics, "imagine_jobs", state="queued", scope="queue") == 3
    assert value(metrics, "imagine_jobs", state="processing", scope="queue") == 1
    assert value(metrics, "imagine_oldest_pending_age_seconds", scope="queue") == 42.5
    assert value(metrics, "imagine_waiting_requests", scope="queue") == 2
    assert value(metrics, "imagine_gateway_latency_seconds") == 0.08
    assert value(metrics, "imagine_gateway_connected") == 1
    state["queued"], waiting[0] = 0, 0
    assert value(metrics, "imagine_jobs", state="queued", scope="queue") == 0
    assert value(metrics, "imagine_waiting_requests", scope="queue") == 0


def test_gateway_latency_before_the_first_heartbeat_is_nan_not_infinity():
    metrics = Metrics()
    metrics.read_now_from(gateway_latency=lambda: math.inf)
    assert math.isnan(value(metrics, "imagine_gateway_latency_seconds"))


def test_loop_lag_never_negative():
    metrics = Metrics()
    metrics.loop_lag(-0.001)
    assert value(metrics, "imagine_event_loop_lag_seconds") == 0
    metrics.loop_lag(0.25)
    assert value(metrics, "imagine_event_loop_lag_seconds") == 0.25
