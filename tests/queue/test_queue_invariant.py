"""A long random mix of operations, from two queue objects over one file, never lets the cached
count drift from the rows on disk."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from eventsync import DeliveryResult, DeliveryStatus, OfflineQueueFull
from eventsync.events import build_event
from eventsync.queue.offline_queue import OfflineQueue

STATUSES = list(DeliveryStatus)


def random_event(rng: random.Random) -> dict:
    kind = rng.choice(["WPStatus", "WPStatus", "WPCreated", "Note"])
    aggregate = f"A{rng.randrange(12)}"
    producer = {"project": rng.choice(["p1", "p2", "p3"])} if rng.random() < 0.7 else None
    return {"event_type": kind, "aggregate_id": aggregate, "payload": {"v": rng.random()},
            "producer": producer}


class Step:
    """One random operation against one of the queues; `known` tracks ids ever queued."""

    def __init__(self, rng: random.Random, tmp_path: Path, known: list[str]) -> None:
        self.rng, self.tmp_path, self.known = rng, tmp_path, known

    def ids(self) -> list[str]:
        picks = self.rng.sample(self.known, min(len(self.known), self.rng.randrange(1, 6)))
        return [*picks, "01HZZZZZZZZZZZZZZZZZZZZZZZ"] if self.rng.random() < 0.3 else picks

    def run(self, queue: OfflineQueue, op: str) -> None:
        if op == "queue_event":
            event = build_event(random_event(self.rng))
            assert queue.queue_event(event)
            self.known.append(event.event_id)
        elif op == "append":
            with contextlib.suppress(OfflineQueueFull):
                self.known.append(queue.append(random_event(self.rng)).event_id)
        elif op == "requeue" and self.known:
            queue.queue_event(queue.peek(1)[0] if queue.peek(1) else random_event(self.rng))
        elif op == "mark_synced" and self.known:
            queue.mark_synced(self.ids())
        elif op == "increment_retry" and self.known:
            queue.increment_retry(self.ids())
        elif op == "results" and self.known:
            queue.process_batch_results(
                [DeliveryResult(i, self.rng.choice(STATUSES)) for i in self.ids()]
            )
        elif op == "remove_project":
            queue.remove_project_events(self.rng.choice(["p1", "p2", "p3"]))
        elif op == "clear":
            queue.clear()
        elif op == "drain_to_file":
            queue.drain_to_file(self.tmp_path / f"drain-{self.rng.randrange(10**9)}.jsonl")
        elif op == "peek":
            queue.peek(self.rng.randrange(1, 20))


OPS = (["queue_event"] * 30 + ["append"] * 8 + ["requeue"] * 3 + ["mark_synced"] * 6
       + ["increment_retry"] * 4 + ["results"] * 6 + ["remove_project"] * 2 + ["peek"] * 3
       + ["clear"] + ["drain_to_file"])


@pytest.mark.parametrize("seed", [6, 2024])
def test_counter_matches_disk_after_every_step(tmp_path: Path, seed: int, capfd):
    rng = random.Random(seed)
    path = tmp_path / "queue.db"
    one = OfflineQueue(path, max_queue_size=25, coalesce_types=["WPStatus"], max_retries=2)
    two = OfflineQueue(path, max_queue_size=25, coalesce_types=["WPStatus"], max_retries=2)
    step = Step(rng, tmp_path, [])
    try:
        for index in range(1_000):
            op = rng.choice(OPS)
            step.run(rng.choice([one, one, two]), op)
            truth = one._size_from_disk()
            assert (one.size(), two.size()) == (truth, truth), f"step {index}: {op}"
            assert truth <= 25
    finally:
        one.close()
        two.close()
    capfd.readouterr()
