"""The web gallery's rate limit: a token bucket per address, and whose address a request is."""

from __future__ import annotations

import pytest

from bot.web.rate_limit import RateLimiter, client_key, parse_networks

PROXIES = parse_networks(["127.0.0.0/8", "::1", "172.16.0.0/12"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_then_one_back_every_60_over_the_rate_seconds():
    clock = Clock()
    limiter = RateLimiter(120, clock=clock)
    assert all(limiter.take("a") == 0 for _ in range(120))
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)  # 120 a minute: one every half second
    assert limiter.take("b") == 0  # everyone their own bucket
    clock.now += 0.5
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    clock.now += 3600
    assert all(limiter.take("a") == 0 for _ in range(120))  # full again, never more


def test_a_refused_request_takes_nothing():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    for _ in range(60):
        limiter.take("a")
    for _ in range(100):
        assert limiter.take("a") > 0
    clock.now += 1.0
    assert limiter.take("a") == 0


def test_memory_is_bounded_forgetting_the_quietest_first():
    clock = Clock()
    limiter = RateLimiter(10, clock=clock, max_addresses=3)
    for _ in range(10):
        limiter.take("busy")
    for address in ("x", "y", "z"):
        limiter.take(address)
    assert len(limiter) == 3
    assert limiter.take("z") == 0


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy():
    assert client_key("203.0.113.5", [], PROXIES) == "203.0.113.5"
    # Not a proxy: its X-Forwarded-For is the client's own word, ignored.
    assert client_key("203.0.113.5", ["198.51.100.1"], PROXIES) == "203.0.113.5"
    # A proxy: the address it added last (the rightmost that is not a proxy itself).
    assert client_key("127.0.0.1", ["198.51.100.1, 203.0.113.9"], PROXIES) == "203.0.113.9"
    assert client_key("172.18.0.1", ["203.0.113.9", "127.0.0.1"], PROXIES) == "203.0.113.9"
    assert client_key("127.0.0.1", [], PROXIES) == "127.0.0.1"
    assert client_key("127.0.0.1", ["garbage, 203.0.113.9"], PROXIES) == "203.0.113.9"
    assert client_key("127.0.0.1", ["203.0.113.9, garbage"], PROXIES) == "127.0.0.1"


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4():
    one = client_key("2001:db8:1:2::1", [], PROXIES)
    assert one == client_key("2001:db8:1:2:ffff::9", [], PROXIES) == "2001:db8:1:2::/64"
    assert one != client_key("2001:db8:1:3::1", [], PROXIES)
    assert client_key("::ffff:203.0.113.5", [], PROXIES) == "203.0.113.5"
    assert client_key(None, [], PROXIES) == "unknown"


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        RateLimiter(0)
