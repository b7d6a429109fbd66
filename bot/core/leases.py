"""Leases: which bot process works on a job (or sends a prompt) now, when several share a store.

A process claims a job in the store before it checks it at Oxen or delivers it (a compare-and-set
that succeeds only if nobody holds the job or the holder's lease expired), and holds the lease
for ``LEASE_SECONDS``, renewed while it works. A process that dies (kill -9) renews nothing: its
leases run out and the other processes take its jobs over; the watcher wakes when the first of
them expires. Delivered jobs hold no lease.

Each process has an owner id, ``role/host/pid/token``. The role is what the process runs
(``main`` unsharded, else its shards, e.g. ``shards-0-1-of-3``), so a restart of the same
process (an orchestrator's restart policy) takes its earlier run's leases over at once instead
of waiting for them to expire; host, pid and a random token tell the runs apart in logs and in
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.limits import DEFAULT_LEASE_SECONDS
from bot.core.ports import Store

log = logging.getLogger(__name__)

UNSHARDED_ROLE = "main"


@dataclass(frozen=True)
class Holder:
    """Who holds this process's leases, and for how long each claim or renewal lasts."""

    owner: str
    seconds: float = DEFAULT_LEASE_SECONDS

    @classmethod
    def for_process(
        cls, role: str = UNSHARDED_ROLE, seconds: float = DEFAULT_LEASE_SECONDS
    ) -> Holder:
        host = socket.gethostname().replace("/", "-") or "host"
        return cls(f"{role}/{host}/{os.getpid()}/{secrets.token_hex(4)}", seconds)

    @property
    def role(self) -> str:
        return self.owner.split("/", 1)[0]

    @property
    def earlier_runs(self) -> str:
        """The owner prefix of every run of this process (this one's own leases included)."""
        return self.role + "/"


def process_role(shard_ids: Sequence[int] | None, shard_count: int | None) -> str:
    """``main`` unsharded, else e.g. ``shards-0-1-of-3``: the same for every run of a process."""
    if shard_count is None:
        return UNSHARDED_ROLE
    ids = shard_ids if shard_ids is not None else range(shard_count)
    return "shards-" + "-".join(str(i) for i in ids) + f"-of-{shard_count}"


def _nothing_held() -> set[str]:
    return set()


def _ignore(_lost: set[str]) -> None:
    return None


class LeaseKeeper:
    """Renews every lease this process holds, jobs and prompts being sent, every third of the
    lease (one statement per table, however many it holds), and tells the watcher which jobs it
    lost to another process (it was too slow to renew: the store was unreachable for a lease).
    Started and stopped by the lifecycle; a failed renewal is logged and tried again."""

    def __init__(
        self,
        store: Store,
        holder: Holder,
        *,
        held: Callable[[], set[str]] = _nothing_held,
        on_lost: Callable[[set[str]], None] = _ignore,
        interval: float | None = None,
    ) -> None:
        self._store = store
        self._holder = holder
        self._held = held
        self._on_lost = on_lost
        self._interval = interval if interval is not None else holder.seconds / 3
        self._task: asyncio.Task[None] | None = None
        self._renewed_at = time.monotonic()

    async def take_over_earlier_runs(self) -> None:
        """At start: what an earlier run of this process left leased (it was killed) may be
        taken at once: its jobs by the watcher, its prompts explained as interrupted."""
        prefix = self._holder.earlier_runs
        jobs = await self._store.jobs.release_all(prefix)
        intents = await self._store.intents.release_all(prefix)
        if jobs or intents:
            log.info(
                "took over %d jobs and %d prompts an earlier run of this process (%s) left",
                jobs, intents, self._holder.role,
            )  # fmt: skip

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="imagine-lease-renewals")

    async def stop(self) -> None:
        """Stop renewing. What is still held expires by itself: work cut short by the shutdown
        may still be posting, so it is not given up here."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def renew(self) -> set[str]:
        """One renewal; returns the jobs held here that it no longer holds: another process's
        now, or delivered (the watcher is told, so it does not post them)."""
        before = self._held()
        still = await self._store.jobs.renew(self._holder.owner, self._holder.seconds)
        await self._store.intents.renew(self._holder.owner, self._holder.seconds)
        self._renewed_at = time.monotonic()
        # Only jobs held both before and after the renewal, and now another's: one claimed,
        # delivered or given back meanwhile is not lost.
        lost: set[str] = set()
        finished: set[str] = set()
        for gid in (before & self._held()) - still:
            job = await self._store.jobs.get(gid)
            if job is None or not job.status.is_open:
                # Delivered: most likely by this process a moment ago, still reporting on it
                # (else by the process that took it over): nothing is left to post either way.
                finished.add(gid)
            elif job.lease_owner != self._holder.owner:
                lost.add(gid)
        if finished:
            self._on_lost(finished)
        if lost:
            log.warning(
                "lost the lease on %d jobs to another process (renewals were late): %s",
                len(lost), sorted(lost),
            )  # fmt: skip
            self._on_lost(lost)
        return lost | finished

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.renew()
            except Exception:
                late = time.monotonic() - self._renewed_at
                log.exception(
                    "renewing leases failed (last renewed %.0f s ago; after %g s other "
                    "processes take this one's jobs over); retrying",
                    late, self._holder.seconds,
                )  # fmt: skip
