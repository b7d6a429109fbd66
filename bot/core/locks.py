"""The names of the store's locks (``Store.locked``) that keep counts right when several bot
processes admit requests at once: count, check and record under the lock of what is counted.

- ``owner(...)``: one person's images (in flight, waiting, today) and cooldown, per server;
- ``server(...)``: one server's images today, when it has a daily budget;
- ``CAP``: every generation in flight, when MAX_GENERATIONS_IN_FLIGHT is set.
"""

from __future__ import annotations

from typing import Final

CAP: Final = "cap"


def owner(guild_id: int | None, requester_id: int) -> str:
    return f"owner:{'dm' if guild_id is None else guild_id}:{requester_id}"


def server(guild_id: int | None) -> str:
    return f"server:{'dm' if guild_id is None else guild_id}"
