"""One asyncio event loop on one thread, owned by one receiver and closed with it.

eventsync calls receivers synchronously (from whichever worker thread runs the drain); nats-py
is asyncio only. Running the client on a private loop thread keeps every socket and task of the
connection on a single loop for the receiver's whole life, and `close()` joins the thread, so
nothing outlives the drain.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
CLOSE_TIMEOUT = 5.0


class LoopThread:
    """Runs coroutines on a private loop; started on first use, `close()` is final."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run `make()` on the loop and wait at most `timeout` seconds for its result.

        On timeout the coroutine is cancelled and `TimeoutError` raised, so a stuck call never
        keeps running behind the caller's back.
        """
        future = asyncio.run_coroutine_threadsafe(_call(make), self._started())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None

    def close(self, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run `cleanup()` (closing the connection), cancel what is left, stop and join."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):  # closing must not raise
            asyncio.run_coroutine_threadsafe(_shutdown(cleanup), loop).result(CLOSE_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name=self._name, daemon=True)
                self._thread.start()
            return self._loop


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def _shutdown(cleanup: Callable[[], Awaitable[None]] | None) -> None:
    if cleanup is not None:
        with contextlib.suppress(Exception):  # a dead server must not block closing
            await asyncio.wait_for(cleanup(), CLOSE_TIMEOUT / 2)
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
