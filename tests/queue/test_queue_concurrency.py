"""Second writers: other queue objects and other processes over the same file.

A second writer makes this object's cached count stale; the next operation sees `PRAGMA
data_version` move, recounts once, and carries on from the truth.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from eventsync.events import build_event
from eventsync.queue.offline_queue import OfflineQueue


def recounts(queue: OfflineQueue) -> list[str]:
    seen: list[str] = []
    queue._conn.set_trace_callback(lambda sql: seen.append(sql) if "COUNT(" in sql else None)
    return seen


def test_second_object_sees_the_first_objects_writes(qpath: Path, make_event):
    with OfflineQueue(qpath) as one, OfflineQueue(qpath) as two:
        for _ in range(3):
            one.queue_event(make_event())
        assert two.size() == 3
        two.queue_event(make_event())
        two.mark_synced([e.event_id for e in two.peek(1)])
        assert one.size() == 3 == one._size_from_disk()


def test_stale_cache_costs_one_recount_and_reads_cost_none(qpath: Path, make_event):
    with OfflineQueue(qpath) as one, OfflineQueue(qpath) as two:
        one.queue_event(make_event())
        one.size()
        counted = recounts(one)
        two.peek(10)
        two.size()
        assert one.size() == 1 and counted == []
        two.queue_event(make_event())
        assert one.size() == 2 and one.size() == 2
        assert len(counted) == 1


def test_cap_check_uses_the_true_count_after_another_writer(qpath: Path, make_event, capfd):
    with OfflineQueue(qpath, max_queue_size=5) as one, OfflineQueue(qpath, max_queue_size=5) as two:
        ids = []
        for _ in range(5):
            event = build_event(make_event())
            one.queue_event(event)
            ids.append(event.event_id)
        assert two.mark_synced(ids[:2]) == 2
        one.queue_event(make_event())
        assert one.size() == 4 == one._size_from_disk()
    assert "evicted" not in capfd.readouterr().err


def test_threads_sharing_one_object_keep_the_count(qpath: Path, make_event):
    with OfflineQueue(qpath, max_queue_size=150) as queue:
        events = [build_event(make_event()) for _ in range(200)]

        def work(chunk):
            for event in chunk:
                assert queue.queue_event(event)
            queue.mark_synced([e.event_id for e in chunk[:10]])

        threads = [threading.Thread(target=work, args=(events[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert queue.size() == queue._size_from_disk()


WRITER = textwrap.dedent("""
    import sys
    from eventsync.queue.offline_queue import OfflineQueue
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with OfflineQueue(path, max_queue_size=200) as queue:
        for i in range(n):
            event = {"event_type": "Tick", "aggregate_id": f"{tag}-{i}", "payload": {"i": i}}
            if not queue.queue_event(event):
                sys.exit(f"enqueue failed at {i}")
        print(queue.size())
""")


def test_processes_writing_at_once_keep_exactly_the_cap(qpath: Path, make_event, capfd):
    with OfflineQueue(qpath, max_queue_size=200) as parent:
        parent.queue_event(make_event())
        assert parent.size() == 1
        # stderr to files: a writer warning at the cap must never block on a full pipe
        errs = [open(qpath.with_name(f"err-{tag}"), "w+") for tag in ("a", "b")]  # noqa: SIM115
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(qpath), tag, "400"],
                             stdout=subprocess.PIPE, stderr=err, text=True)
            for tag, err in zip(("a", "b"), errs, strict=True)
        ]
        written = 1
        while written < 50 or any(writer.poll() is None for writer in writers):
            assert parent.queue_event(make_event())
            written += 1
        outputs = [(writer.communicate(timeout=60)[0], err.seek(0) or err.read())
                   for writer, err in zip(writers, errs, strict=True)]
        for err in errs:
            err.close()
        assert [writer.returncode for writer in writers] == [0, 0], outputs
        assert parent.size() == 200 == parent._size_from_disk()
    evicted = sum(int(line.split("evicted ")[1].split()[0])
                  for _, err in outputs for line in err.splitlines() if "evicted" in line)
    evicted += sum(int(line.split("evicted ")[1].split()[0])
                   for line in capfd.readouterr().err.splitlines() if "evicted" in line)
    assert evicted == written + 2 * 400 - 200
