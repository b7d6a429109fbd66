"""A request rate limit per client address: a small token bucket each, in memory.

Each address may make up to ``per_minute`` requests at once and gets them back at
``per_minute / 60`` a second. IPv6 addresses count per /64 (what one household or server gets).
Behind a reverse proxy the peer is the proxy: for a peer among ``trusted_proxies`` the client is
the address the proxy added last to X-Forwarded-For (the first from the right that is not a
trusted proxy itself); anyone else's X-Forwarded-For is ignored, so it cannot be forged. At most
``max_addresses`` buckets are kept (the least recently seen go first: a forgotten bucket is a
full one, which an address that quiet would have anyway).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESSES = 10_000


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, address: str) -> float:
        """Take one request for ``address``: 0.0 when it may go ahead, else the seconds until
        it may (nothing is taken then)."""
        now = self._clock()
        tokens, then = self._buckets.pop(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - then) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def client_key(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """Whose bucket a request takes from: the client's address (IPv6: its /64)."""
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return peer or "unknown"
    if _trusted(address, trusted):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                break  # malformed from here on: the last good one is as far as we trust
            if not _trusted(address, trusted):
                break
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)
