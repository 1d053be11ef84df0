"""Events benchmark: ingest rate of events.add_batch and scalar read latency.

Starts ``skiff serve`` on a throwaway database (SQLite by default, ``--db postgresql://…`` for
PostgreSQL), then prints:
  * events/s for add_batch with batches of 1,000 scalars (and of 10,000),
  * the latency of events.scalar_metrics_iter_histogram over one task with 1M scalar points
    (default sampling, and all points of one series).

    python benchmarks/events.py [--points 1000000] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the repository root instead of this directory, whose http.py would shadow the stdlib module
sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx  # noqa: E402
import orjson  # noqa: E402

from tests.support import basic, live_server  # noqa: E402


def batch_body(task: str, start: int, size: int, variants: int = 10) -> bytes:
    lines = []
    for i in range(start, start + size):
        lines.append(
            orjson.dumps(
                {
                    "type": "training_stats_scalar", "task": task, "metric": "loss",
                    "variant": f"v{i % variants}", "iter": i // variants, "value": (i % 97) / 7.0,
                    "timestamp": 1_700_000_000_000 + i,
                }  # fmt: skip
            )
        )
    return b"\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    if args.db:
        subprocess.run([sys.executable, "-m", "skiff", "db", "upgrade", "--db", args.db], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = {"SKIFF_ACCESS_KEY": "BENCHKEY", "SKIFF_SECRET_KEY": "benchsecret"}
        with live_server(data, args.db, env=env) as server:
            client = httpx.Client(base_url=server.url, timeout=600)
            token = client.get("/auth.login", headers={"Authorization": basic("BENCHKEY", "benchsecret")}).json()["data"]["token"]
            client.headers["Authorization"] = f"Bearer {token}"

            def call(endpoint: str, body: object = None, content: bytes | None = None, ctype: str = "application/json") -> dict:
                payload = content if content is not None else orjson.dumps(body)
                reply = client.post(f"/{endpoint}", content=payload, headers={"Content-Type": ctype})
                reply.raise_for_status()
                return reply.json()["data"]

            def new_task(name: str) -> str:
                return call("tasks.create", {"name": name, "type": "training"})["id"]

            print(f"skiff events benchmark on {args.db or 'SQLite'}")
            for size, rounds in ((1_000, 50), (10_000, 10)):
                task = new_task(f"ingest {size}")
                bodies = [batch_body(task, r * size, size) for r in range(rounds)]
                started = time.perf_counter()
                for body in bodies:
                    assert call("events.add_batch", content=body, ctype="application/json-lines")["added"] == size
                elapsed = time.perf_counter() - started
                print(f"add_batch of {size:>6} scalars: {size * rounds / elapsed:>10,.0f} events/s  ({rounds} batches)")

            task = new_task("one million points")
            step = 10_000
            started = time.perf_counter()
            for start in range(0, args.points, step):
                call("events.add_batch", content=batch_body(task, start, step), ctype="application/json-lines")
            print(f"loaded {args.points:,} points in {time.perf_counter() - started:.1f} s")
            for label, body in (
                ("histogram, default sampling (all series)", {"task": task, "key": "iter"}),
                ("histogram, one series, all points", {"task": task, "key": "iter", "samples": 0,
                                                        "metrics": [{"metric": "loss", "variants": ["v0"]}]}),
            ):  # fmt: skip
                timings = []
                for _ in range(5):
                    started = time.perf_counter()
                    call("events.scalar_metrics_iter_histogram", body)
                    timings.append(time.perf_counter() - started)
                print(f"{label}: p50 {statistics.median(timings) * 1000:,.0f} ms, max {max(timings) * 1000:,.0f} ms")


if __name__ == "__main__":
    main()
