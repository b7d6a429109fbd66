"""What the watcher knows is open right now, kept in memory for the "now" metrics.

The watcher reads every open job from the store on each pass anyway; that read is the truth,
and between passes the watcher notes what it does (a job added, started, its outcome known, done).
A scrape then reads counts kept up to date here instead of querying the jobs table. Changes made
while a pass's read is in flight are replayed on top of what the read returned, so a job finished
during the read is not brought back, and one added during it is not lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from bot.core.types import Job, JobStatus

JobState = Literal["queued", "processing", "delivering"]
JOB_STATES: Final[tuple[JobState, ...]] = ("queued", "processing", "delivering")


@dataclass
class _Entry:
    created_at: float  # Unix seconds, as the store keeps it
    started: bool = False  # Oxen is working on it
    outcome_at: float | None = None  # monotonic time the bot learnt Oxen's outcome

    @property
    def state(self) -> JobState:
        if self.outcome_at is not None:
            return "delivering"
        return "processing" if self.started else "queued"


_Change = tuple[Literal["add", "start", "outcome", "close"], str, float]


class OpenJobs:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        # Oldest first: the store's order for a read ("oldest first"), then additions (newest).
        self._jobs: dict[str, _Entry] = {}
        self._counts: dict[str, int] = dict.fromkeys(JOB_STATES, 0)
        self._reads: list[list[_Change]] = []  # one change log per read in flight

    # --- the pass's read: the truth ---------------------------------------------------------

    def read_started(self) -> list[_Change]:
        """Call before reading the open jobs; hand the result to ``read_done``."""
        changes: list[_Change] = []
        self._reads.append(changes)
        return changes

    def read_done(self, token: list[_Change], jobs: Iterable[Job]) -> None:
        self._reads.remove(token)
        fresh: dict[str, _Entry] = {}
        for job in jobs:
            known = self._jobs.get(job.generation_id)
            entry = _Entry(job.created_at, started=job.started_at is not None)
            if job.status is JobStatus.DELIVERING:
                # Keep when the outcome was learnt, if it was learnt in this run.
                entry.outcome_at = known.outcome_at if known and known.outcome_at else -1.0
            fresh[job.generation_id] = entry
        self._jobs = fresh
        self._counts = dict.fromkeys(JOB_STATES, 0)
        for entry in fresh.values():
            self._counts[entry.state] += 1
        for change in token:
            self._apply(change)

    def read_failed(self, token: list[_Change]) -> None:
        self._reads.remove(token)

    # --- what the watcher does between reads -------------------------------------------------

    def added(self, generation_ids: Iterable[str]) -> None:
        now = self._clock()
        for generation_id in generation_ids:
            self._change(("add", generation_id, now))

    def started(self, generation_id: str) -> None:
        self._change(("start", generation_id, 0.0))

    def outcome_known(self, generation_id: str) -> None:
        self._change(("outcome", generation_id, self._monotonic()))

    def closed(self, generation_id: str) -> float | None:
        """The job's outcome reached Discord (or never will); returns the monotonic time its
        outcome was learnt in this run, if it was."""
        entry = self._jobs.get(generation_id)
        self._change(("close", generation_id, 0.0))
        if entry is None or entry.outcome_at is None or entry.outcome_at < 0:
            return None
        return entry.outcome_at

    def _change(self, change: _Change) -> None:
        self._apply(change)
        for changes in self._reads:
            changes.append(change)

    def _apply(self, change: _Change) -> None:
        kind, generation_id, value = change
        if kind == "add":
            if generation_id not in self._jobs:
                self._jobs[generation_id] = _Entry(value)
                self._counts["queued"] += 1
        elif kind == "close":
            if (gone := self._jobs.pop(generation_id, None)) is not None:
                self._counts[gone.state] -= 1
        elif (entry := self._jobs.get(generation_id)) is not None:
            self._counts[entry.state] -= 1
            if kind == "start":
                entry.started = True
            elif entry.outcome_at is None or entry.outcome_at < 0:
                entry.outcome_at = value
            self._counts[entry.state] += 1

    # --- read by the metrics on scrape ---------------------------------------------------------

    def by_state(self) -> dict[str, int]:
        """Open jobs by state; every state present, 0 included."""
        return dict(self._counts)

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest job Oxen has not finished was enqueued; 0 if none. The
        entries are oldest first, so this stops at the first one not yet delivering."""
        for entry in self._jobs.values():
            if entry.outcome_at is None:
                return max(0.0, self._clock() - entry.created_at)
        return 0.0

    def __len__(self) -> int:
        return len(self._jobs)
