"""The worker threads that run API calls (skiff.api.call_threads)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from skiff.api.call_threads import CallThreads


def test_results_and_exceptions_reach_the_caller() -> None:
    pool = CallThreads(2)

    def fail(_: object) -> None:
        raise KeyError("boom")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert await pool.run(loop, lambda x: (x, threading.current_thread().name), 7) == (7, "skiff-call-0")
        with pytest.raises(KeyError, match="boom"):
            await pool.run(loop, fail, None)
        assert await pool.run(loop, lambda x: x * 2, 21) == 42  # the thread survived the exception

    asyncio.run(main())
    pool.close()


def test_threads_start_as_calls_find_none_idle_up_to_the_size() -> None:
    pool = CallThreads(3)
    release = threading.Event()
    running = threading.Semaphore(0)

    def block(_: object) -> str:
        running.release()
        release.wait(10)
        return threading.current_thread().name

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert await pool.run(loop, lambda x: x, 1) == 1
        assert pool.started == 1  # a call at a time: one thread
        futures = [pool.run(loop, block, None) for _ in range(5)]
        for _ in range(3):  # three calls run at once, on three threads
            assert await asyncio.to_thread(running.acquire, True, 10)
        assert pool.started == 3
        assert not await asyncio.to_thread(running.acquire, True, 0.2)  # the other two wait
        release.set()
        return list(await asyncio.gather(*futures))

    names = asyncio.run(main())
    assert len(names) == 5 and set(names) == {"skiff-call-0", "skiff-call-1", "skiff-call-2"}
    assert pool.started == 3
    pool.close()


def test_a_cancelled_call_still_runs_and_its_thread_goes_on() -> None:
    pool = CallThreads(1)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(_: object) -> None:
        started.set()
        release.wait(10)
        finished.set()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        future = pool.run(loop, slow, None)
        await asyncio.to_thread(started.wait, 10)
        future.cancel()
        release.set()
        await asyncio.to_thread(finished.wait, 10)
        return await pool.run(loop, lambda x: x + 1, 1)

    assert asyncio.run(main()) == 2
    assert finished.is_set()
    pool.close()


def test_close_lets_queued_calls_finish_and_stops_the_threads() -> None:
    pool = CallThreads(2)
    release = threading.Event()
    done: list[int] = []

    def work(n: int) -> None:
        release.wait(10)
        done.append(n)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for n in range(4):
            pool.run(loop, work, n)
        pool.close()
        with pytest.raises(RuntimeError, match="closed"):
            pool.run(loop, work, 99)
        release.set()
        for thread in list(pool._threads):
            await asyncio.to_thread(thread.join, 10)
            assert not thread.is_alive()

    asyncio.run(main())
    assert sorted(done) == [0, 1, 2, 3]


def test_a_result_for_a_closed_loop_is_dropped() -> None:
    pool = CallThreads(1)
    release = threading.Event()

    def late(_: object) -> int:
        release.wait(10)
        return 1

    loop = asyncio.new_event_loop()
    pool.run(loop, late, None)
    loop.close()
    release.set()
    # the thread is still there for the next call (on another loop)
    assert asyncio.run(_one(pool)) == "ok"
    pool.close()


async def _one(pool: CallThreads) -> str:
    return await pool.run(asyncio.get_running_loop(), lambda _: "ok", None)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CallThreads(0)
