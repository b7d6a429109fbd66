"""Recorders at the core's seams (bot.core.ports): a delivery and a reporter that remember what
they were asked to do, for tests of the watcher, the line and the completion listener."""

from __future__ import annotations

from bot.core.ports import DeliveryFailed
from bot.core.types import Job, NewJob


class RecordingDelivery:
    def __init__(self) -> None:
        self.delivered: list[Job] = []
        self.finished_status: list[int | None] = []
        self.broken: set[str] = set()  # generation ids whose delivery raises
        self.refused: set[str] = set()  # generation ids that nobody accepts
        self.explained: list = []
        self.refreshed: list[list[Job]] = []
        self.cancelled_by: list[tuple[str, int, int]] = []
        self.interrupted_status: list[int | None] = []
        self.line_places: list[list] = []

    async def deliver(self, job: Job) -> int | None:
        if job.generation_id in self.broken:
            raise RuntimeError("discord exploded")
        if job.generation_id in self.refused:
            raise DeliveryFailed("channel and DMs refused")
        self.delivered.append(job)
        return 1000 + len(self.delivered)

    async def prepare(self, job: Job):
        async def send() -> int | None:
            return await self.deliver(job)

        return send

    # It is also the status reporter, recording what the status messages would show.
    async def refresh(self, pending) -> None:
        self.refreshed.append(list(pending))

    async def finish(self, job: Job) -> None:
        self.finished_status.append(job.status_message_id)

    async def cancelled(self, job: Job, by_user_id: int, count: int) -> None:
        self.cancelled_by.append((job.request_id, by_user_id, count))

    async def not_started(self, waiting, reason: str) -> None:
        return None

    async def interrupted(self, enqueue) -> None:
        self.interrupted_status.append(enqueue.status_message_id)

    async def find_existing(self, job: Job) -> int | None:
        for delivered in self.delivered:
            if delivered.generation_id == job.generation_id:
                return 1
        return None

    async def explain_interrupted(self, enqueue) -> None:
        self.explained.append(enqueue)

    async def explain_not_started(self, waiting, reason: str) -> None:
        self.explained.append(waiting)

    async def refused(self, request, rule: str) -> None:
        return None

    async def line_moved(self, places) -> None:
        self.line_places.append(list(places))


async def enqueue(oxen_client, store, prompt="a red cube", count=1, status_message_id=None):
    queued = await oxen_client.enqueue(
        "black-forest-labs-flux-2-klein-4b", num_generations=count, prompt=prompt
    )
    await store.jobs.add(
        NewJob(
            generation_id=g.generation_id,
            channel_id=10,
            requester_id=20,
            prompt=prompt,
            model="black-forest-labs-flux-2-klein-4b",
            batch_index=i,
            batch_size=count,
            status_message_id=status_message_id,
            request_id=queued[0].generation_id,
        )
        for i, g in enumerate(queued)
    )
    return [g.generation_id for g in queued]
