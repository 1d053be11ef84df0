"""The worker threads that run API calls off the event loop.

A call is handed over through a C-implemented queue and its result comes back through the loop's
``call_soon_threadsafe``, straight into an asyncio future. ``loop.run_in_executor`` goes through a
``concurrent.futures.Future`` (a ``threading.Condition`` each) chained to an asyncio future, and
``ThreadPoolExecutor``'s bookkeeping on every submit: 19 us of CPU per call against 9 us here,
on a get-by-id that costs ~200 us in all.

Threads start as calls find none idle, up to ``size``. They are daemon threads: ``close`` (the
server's shutdown) lets each finish the calls already queued and stop; an interpreter that exits
without it does not wait for idle threads (a call cut short that way is a transaction that never
committed).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None


class CallThreads:
    def __init__(self, size: int, name: str = "skiff-call") -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: idle threads that no queued call has claimed yet (ThreadPoolExecutor's accounting)
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def started(self) -> int:
        return len(self._threads)

    def run(self, loop: asyncio.AbstractEventLoop, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """``fn(arg)`` on a worker thread; the future (of ``loop``) gets its result or exception.
        Cancelling the future does not stop a call that has started."""
        future = loop.create_future()
        thread = None
        with self._lock:  # not after close's stop marks, where no thread would take it
            if self._closed:
                raise RuntimeError("call threads are closed")
            self._queue.put((loop, future, fn, arg))
            if self._idle:  # an idle thread will take it: claim that thread
                self._idle -= 1
            elif len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
        if thread is not None:
            thread.start()
        return future

    def close(self) -> None:
        """Stop every thread once the calls queued before are done (does not wait for them)."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._queue.put(_STOP)

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            loop, future, fn, arg = item
            try:
                outcome = (_set_result, future, fn(arg))
            except BaseException as exc:  # noqa: BLE001 - the caller's future carries it
                outcome = (_set_exception, future, exc)
            del item, future, arg
            try:
                loop.call_soon_threadsafe(*outcome)
            except RuntimeError:  # the loop has closed: nobody waits for this answer
                pass
            del outcome
            with self._lock:  # idle until a call claims it (calls queued meanwhile do not)
                self._idle += 1


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
