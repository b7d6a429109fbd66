"""Whose turn it is: the order the bot's waiting line is served in. Pure, no I/O.

A waiting request waits for one of two things. Its owner may be at their images-at-once limit:
then it starts when one of their own images finishes, and a person's requests go in the order
they asked. Or the bot may be at its cap on generations at Oxen: then, when room frees, the
server served least recently goes first, within it the person served least recently ("served":
had a request sent to Oxen), and that person's oldest request. So a member who asks once is
served before a heavy user's tenth request, and one busy server cannot fill the line ahead of
the others. Servers and people never served come first, oldest request first.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Mapping

from bot.core.types import LinePlace, LineSnapshot, Owner, Waiting

# A sort key for "last served": never served (0, 0) sorts before any time (1, t).
_Key = tuple[int, float]
_NEVER: _Key = (0, 0.0)


def _key(last: float | None) -> _Key:
    return _NEVER if last is None else (1, last)


def fits_owner(waiting: Waiting, in_flight: int) -> bool:
    """Whether the owner has room for this request now. A request larger than its owner's
    limit runs alone when they have nothing else at Oxen."""
    limit = waiting.owner_limit
    return limit <= 0 or in_flight == 0 or in_flight + waiting.order.count <= limit


def plan(snapshot: LineSnapshot, sending: Mapping[Owner, int] | None = None) -> list[LinePlace]:
    """Every waiting request with its place: first those waiting only for room under the cap, in
    the order they will go; then those waiting for their owner's own images, oldest first.

    The order assumes nothing finishes meanwhile: a request that would push its owner past
    their limit waits for their own images instead. ``sending``: images on their way to Oxen,
    not yet in the snapshot's counts."""
    sending = sending or {}
    queues: dict[Owner, deque[Waiting]] = defaultdict(deque)
    for waiting in snapshot.waiting:  # oldest first
        queues[(waiting.guild_id, waiting.requester_id)].append(waiting)
    in_flight = {
        owner: snapshot.in_flight.get(owner, 0) + sending.get(owner, 0) for owner in queues
    }
    totals = {owner: len(queue) for owner, queue in queues.items()}
    served_before = {owner: 0 for owner in queues}

    # Two levels of turns: servers, then people within a server. Keys: (last served, oldest id).
    people: dict[int | None, list[tuple[_Key, int, Owner]]] = defaultdict(list)
    for owner, queue in queues.items():
        if fits_owner(queue[0], in_flight[owner]):
            last = _key(snapshot.owner_last_sent.get(owner))
            heapq.heappush(people[owner[0]], (last, queue[0].id, owner))
    servers = [
        (_key(snapshot.guild_last_sent.get(guild)), heap[0][1], guild)
        for guild, heap in people.items()
    ]
    heapq.heapify(servers)

    places: list[LinePlace] = []
    tick = max([0.0, *snapshot.guild_last_sent.values(), *snapshot.owner_last_sent.values()])
    while servers:
        _, _, guild = heapq.heappop(servers)
        heap = people[guild]
        _, _, owner = heapq.heappop(heap)
        queue = queues[owner]
        waiting = queue.popleft()
        places.append(
            LinePlace(
                waiting,
                own_place=served_before[owner] + 1,
                own_total=totals[owner],
                owner_in_flight=snapshot.in_flight.get(owner, 0),
                waits_for_own=False,
                line_place=len(places) + 1,
            )
        )
        served_before[owner] += 1
        in_flight[owner] += waiting.order.count
        tick += 1.0
        if queue and fits_owner(queue[0], in_flight[owner]):
            heapq.heappush(heap, ((1, tick), queue[0].id, owner))
        if heap:
            heapq.heappush(servers, ((1, tick), heap[0][1], guild))

    # What is left waits for its owner's own images to finish.
    left = [
        LinePlace(
            waiting,
            own_place=index,
            own_total=totals[owner],
            owner_in_flight=snapshot.in_flight.get(owner, 0),
            waits_for_own=True,
        )
        for owner, queue in queues.items()
        for index, waiting in enumerate(queue, served_before[owner] + 1)
    ]
    return places + sorted(left, key=lambda place: place.waiting.id)
