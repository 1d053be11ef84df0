"""events.*: ingest (json-lines batches), last_metrics / last_iteration folding, and the reads
the SDK makes (spec clients §3(c), issue 6)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from skiff.ops import accounts
from tests.support import Api


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def new_task(api: Api, **fields: Any) -> str:
    return api("tasks.create", {"name": "events task", "type": "training", **fields})["id"]


def send(api: Api, events: list[dict[str, Any]], headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = b"\n".join(orjson.dumps({"method": "get", **e}) for e in events)
    return api("events.add_batch", content=body, headers={"Content-Type": "application/json-lines", **(headers or {})})


def scalar(task: str, metric: str, variant: str, iteration: int, value: float, ts: int | None = None) -> dict[str, Any]:
    event = {"type": "training_stats_scalar", "task": task, "metric": metric, "variant": variant, "iter": iteration, "value": value}
    if ts is not None:
        event["timestamp"] = ts
    return event


def test_scalars_fold_into_last_metrics(api: Api) -> None:
    task = new_task(api)
    reply = send(api, [scalar(task, "loss", "train", i, v, 1000 + i) for i, v in enumerate([3.0, 1.0, 2.0])])
    assert reply == {"added": 3, "errors": 0, "errors_info": {}}
    send(api, [scalar(task, "loss", "train", 3, 5.0, 2000)])
    doc = api("tasks.get_by_id", {"task": task})["task"]
    summary = doc["last_metrics"][md5("loss")][md5("train")]
    assert summary["metric"] == "loss" and summary["variant"] == "train"
    assert summary["value"] == 5.0
    assert (summary["min_value"], summary["min_value_iteration"]) == (1.0, 1)
    assert (summary["max_value"], summary["max_value_iteration"]) == (5.0, 3)
    assert (summary["first_value"], summary["first_value_iteration"]) == (3.0, 0)
    assert summary["count"] == 4 and summary["mean_value"] == 2.75
    assert doc["last_iteration"] == 3
    assert doc["metric_stats"][md5("loss")]["event_stats_by_type"]["training_stats_scalar"]["last_update"] == 2000


def test_single_values_and_monitor_metrics_do_not_move_last_iteration(api: Api) -> None:
    task = new_task(api)
    send(api, [scalar(task, "m", "v", 5, 1.0), scalar(task, "Summary", "acc", -(2**31), 0.9),
               scalar(task, ":monitor:machine", "cpu", 999, 50.0)])  # fmt: skip
    assert api("tasks.get_by_id", {"task": task})["task"]["last_iteration"] == 5
    values = api("events.get_task_single_value_metrics", {"tasks": [task]})["tasks"]
    assert values[0]["task"] == task
    assert [(v["metric"], v["variant"], v["value"]) for v in values[0]["values"]] == [("Summary", "acc", 0.9)]


def test_bad_events_are_counted_not_fatal(api: Api, client, db) -> None:  # type: ignore[no-untyped-def]
    task = new_task(api)
    company = accounts.create_company(db, "events other")
    other = accounts.add_user(db, company, "x", role="admin")
    foreign = Api(client, key=other.access_key, secret=other.secret_key)("tasks.create", {"name": "foreign", "type": "training"})["id"]
    reply = send(api, [
        scalar(task, "ok", "v", 1, 1.0),
        {"type": "training_stats_scalar", "task": task, "metric": "m", "variant": "v", "value": "NaN-string"},
        {"type": "nonsense", "task": task},
        {"type": "log", "task": "no-such-task", "msg": "x"},
        {"type": "log", "task": foreign, "msg": "x"},
    ])  # fmt: skip
    assert reply["added"] == 1
    assert reply["errors"] == 4
    assert sum(reply["errors_info"].values()) == 4
    assert api.call("events.add_batch", content=b"", headers={"Content-Type": "application/json-lines"}).code == (400, 17)


def test_console_log_round_trip(api: Api) -> None:
    task = new_task(api)
    send(api, [{"type": "log", "task": task, "level": "info", "msg": f"line {i}", "worker": "w", "timestamp": 1000 + i} for i in range(5)])
    latest = api("events.get_task_log", {"task": task, "batch_size": 2})
    assert [e["msg"] for e in latest["events"]] == ["line 4", "line 3"]
    assert latest["returned"] == 2 and latest["total"] == 5
    asc = api("events.get_task_log", {"task": task, "batch_size": 2, "order": "asc"})
    assert [e["msg"] for e in asc["events"]] == ["line 3", "line 4"]  # the SDK's get_reported_console_output
    earlier = api("events.get_task_log", {"task": task, "batch_size": 10, "from_timestamp": 1003})
    assert [e["msg"] for e in earlier["events"]] == ["line 2", "line 1", "line 0"]
    forward = api("events.get_task_log", {"task": task, "batch_size": 2, "navigate_earlier": False})
    assert [e["msg"] for e in forward["events"]] == ["line 0", "line 1"]
    event = forward["events"][0]
    assert event["type"] == "log" and event["task"] == task and event["level"] == "info" and event["worker"] == "w"
    assert event["@timestamp"].startswith("1970-01-01T00:00:01")


def test_worker_header_fills_missing_worker(api: Api) -> None:
    task = new_task(api)
    send(api, [{"type": "log", "task": task, "msg": "hi"}], headers={"X-ClearML-Worker": "host-1"})
    assert api("events.get_task_log", {"task": task})["events"][0]["worker"] == "host-1"


def test_scalar_histogram(api: Api) -> None:
    task = new_task(api)
    send(api, [scalar(task, "loss", "train", i, float(i)) for i in range(10)] + [scalar(task, "acc", "val", 0, 0.5)])
    got = api("events.scalar_metrics_iter_histogram", {"task": task, "key": "iter"})
    assert got["loss"]["train"] == {"name": "train", "x": list(range(10)), "y": [float(i) for i in range(10)]}
    assert got["acc"]["val"]["y"] == [0.5]
    sampled = api("events.scalar_metrics_iter_histogram", {"task": task, "samples": 5})["loss"]["train"]
    assert len(sampled["x"]) == 5
    assert sampled["x"] == [0, 2, 4, 6, 8] and sampled["y"] == [0.5, 2.5, 4.5, 6.5, 8.5]
    only = api("events.scalar_metrics_iter_histogram", {"task": task, "metrics": [{"metric": "acc"}]})
    assert list(only) == ["acc"]
    iso = api("events.scalar_metrics_iter_histogram", {"task": task, "key": "iso_time"})["acc"]["val"]["x"][0]
    assert iso.endswith("+00:00")
    assert api("events.get_scalar_metrics_and_variants", {"task": task})["metrics"] == {
        "acc": {"val": {"name": "val"}}, "loss": {"train": {"name": "train"}}
    }


def test_get_task_events_scrolls_through_everything(api: Api) -> None:
    task = new_task(api)
    send(api, [scalar(task, "m", "v", i, float(i)) for i in range(5)] + [{"type": "log", "task": task, "msg": str(i)} for i in range(4)])
    seen: list[dict[str, Any]] = []
    scroll = None
    for _ in range(10):
        page = api("events.get_task_events", {"task": task, "batch_size": 4, "scroll_id": scroll})
        if not page["events"]:
            break
        seen += page["events"]
        scroll = page["scroll_id"]
        assert page["total"] == 9
    assert len(seen) == 9
    assert [e["type"] for e in seen].count("log") == 4
    logs = api("events.get_task_events", {"task": task, "event_type": "log"})
    assert logs["returned"] == 4
    assert api.call("events.get_task_events", {"task": task, "scroll_id": "garbage"}).code == (400, 1104)
    assert api("events.get_task_metrics", {"tasks": [task], "event_type": "training_stats_scalar"})["metrics"] == [
        {"task": task, "metrics": ["m"]}
    ]


def test_plots(api: Api) -> None:
    task = new_task(api)
    send(api, [{"type": "plot", "task": task, "metric": "p", "variant": "v", "iter": i, "plot_str": "{}"} for i in range(3)])
    plots = api("events.get_task_plots", {"task": task, "iters": 1})["plots"]
    assert [p["iter"] for p in plots] == [2]
    assert plots[0]["plot_str"] == "{}"


def test_reads_refuse_unknown_tasks(api: Api) -> None:
    for endpoint in ("events.get_task_log", "events.scalar_metrics_iter_histogram", "events.get_task_events"):
        assert api.call(endpoint, {"task": "nope"}).code == (400, 101)


def test_delete_for_task_and_reset_clear_events(api: Api) -> None:
    task = new_task(api)
    send(api, [scalar(task, "m", "v", 1, 1.0), {"type": "log", "task": task, "msg": "x"}])
    assert api("events.delete_for_task", {"task": task}) == {"deleted": 2}
    doc = api("tasks.get_by_id", {"task": task})["task"]
    assert doc["last_metrics"] == {} and doc["last_iteration"] == 0
    assert api("events.get_task_log", {"task": task})["total"] == 0


def test_published_tasks_are_locked(api: Api) -> None:
    task = new_task(api)
    api("tasks.edit", {"task": task, "status": "published", "force": True})
    reply = send(api, [scalar(task, "m", "v", 1, 1.0)])
    assert reply["added"] == 0 and reply["errors"] == 1
    assert send(api, [{**scalar(task, "m", "v", 1, 1.0), "allow_locked": True}])["added"] == 1


def test_events_of_a_running_task_refresh_it(api: Api) -> None:
    task = new_task(api)
    api("tasks.started", {"task": task})
    before = api("tasks.get_by_id", {"task": task})["task"]["last_update"]
    send(api, [scalar(task, "m", "v", 1, 1.0)])
    after = api("tasks.get_by_id", {"task": task})["task"]
    assert after["last_update"] >= before
    assert "active_duration" in after


@pytest.mark.parametrize("n", [10_000])
def test_a_batch_of_10k_events_lands_in_one_call(api: Api, n: int) -> None:
    task = new_task(api)
    reply = send(api, [scalar(task, "m", f"v{i % 10}", i // 10, float(i)) for i in range(n)])
    assert reply["added"] == n
    histogram = api("events.scalar_metrics_iter_histogram", {"task": task, "samples": 0})["m"]
    assert sum(len(series["x"]) for series in histogram.values()) == n


def _image(task: str, metric: str, variant: str, iteration: int) -> dict[str, Any]:
    return {"type": "training_debug_image", "task": task, "metric": metric, "variant": variant, "iter": iteration,
            "key": f"{metric}/{variant}/{iteration}", "url": f"http://files/{metric}/{variant}/{iteration}.png"}  # fmt: skip


def test_debug_images_scroll_back_through_iterations(api: Api) -> None:
    task = new_task(api)
    send(api, [_image(task, "samples", v, i) for i in range(4) for v in ("a", "b")] + [_image(task, "other", "x", 9)])
    first = api("events.debug_images", {"metrics": [{"task": task, "metric": "samples"}], "iters": 2})
    [entry] = first["metrics"]
    assert entry["task"] == task
    assert [it["iter"] for it in entry["iterations"]] == [3, 2]
    assert [e["variant"] for e in entry["iterations"][0]["events"]] == ["a", "b"]
    assert entry["iterations"][0]["events"][0]["url"] == "http://files/samples/a/3.png"
    second = api("events.debug_images", {"metrics": [{"task": task, "metric": "samples"}], "iters": 2, "scroll_id": first["scroll_id"]})
    assert [it["iter"] for it in second["metrics"][0]["iterations"]] == [1, 0]
    third = api("events.debug_images", {"metrics": [{"task": task, "metric": "samples"}], "iters": 2, "scroll_id": second["scroll_id"]})
    assert third["metrics"][0]["iterations"] == []
    refreshed = api("events.debug_images", {"metrics": [{"task": task, "metric": "samples"}], "iters": 1, "scroll_id": second["scroll_id"], "refresh": True})
    assert [it["iter"] for it in refreshed["metrics"][0]["iterations"]] == [3]
    assert api.call("events.debug_images", {"metrics": [{"task": task}], "scroll_id": "%%%"}).code == (400, 1104)
    assert api.call("events.debug_images", {"metrics": [{"task": "nope"}]}).code == (400, 101)


def test_debug_image_sample(api: Api) -> None:
    task = new_task(api)
    send(api, [_image(task, "samples", "a", i) for i in (2, 5, 7)])
    latest = api("events.get_debug_image_sample", {"task": task, "metric": "samples", "variant": "a"})
    assert latest["event"]["iter"] == 7 and (latest["min_iteration"], latest["max_iteration"]) == (2, 7)
    at = api("events.get_debug_image_sample", {"task": task, "metric": "samples", "variant": "a", "iteration": 5})
    assert at["event"]["url"].endswith("/5.png")
    none = api("events.get_debug_image_sample", {"task": task, "metric": "samples", "variant": "zz"})
    assert none["event"] is None and none["max_iteration"] is None


def test_multi_task_plots(api: Api) -> None:
    a, b = new_task(api), new_task(api, name="other events task")
    send(api, [{"type": "plot", "task": t, "metric": "p", "variant": "v", "iter": i, "plot_str": "{}"} for t in (a, b) for i in (1, 2)])
    reply = api("events.get_multi_task_plots", {"tasks": [a, b, "missing"]})
    by_task = reply["plots"]["p"]["v"]
    assert set(by_task) == {a, b}
    assert by_task[b]["name"] == "other events task"
    assert [p["iter"] for p in by_task[a]["plots"]] == [2]  # the last iteration by default
    assert reply["returned"] == 2


def test_a_point_reported_again_replaces_the_first(api: Api) -> None:
    # the reference's event ids are derived from (task, metric, variant, iter); a client that
    # retries a batch (GET is retried by urllib3 on a read timeout) must not double the points
    task = new_task(api)
    batch = [scalar(task, "loss", "train", i, float(i)) for i in range(3)]
    send(api, batch)
    send(api, batch)
    send(api, [scalar(task, "loss", "train", 1, 42.0)])
    series = api("events.scalar_metrics_iter_histogram", {"task": task})["loss"]["train"]
    assert series == {"name": "train", "x": [0, 1, 2], "y": [0.0, 42.0, 2.0]}


def test_summaries_fold_every_batch(api: Api) -> None:
    # each batch folds into the stored series summary (last_metrics and its ordering index), not
    # into the one the first batch left
    task, other = new_task(api), new_task(api, name="events task b")
    for batch, values in enumerate(([1.0, 2.0], [9.0, 3.0], [0.5, 4.0])):
        send(api, [scalar(task, "loss", "train", batch * 2 + i, v) for i, v in enumerate(values)])
    send(api, [scalar(other, "loss", "train", 0, 5.0)])
    last = api("tasks.get_by_id", {"task": task})["task"]["last_metrics"]
    summary = next(iter(next(iter(last.values())).values()))
    assert (summary["count"], summary["value"]) == (6, 4.0)
    assert (summary["min_value"], summary["min_value_iteration"]) == (0.5, 4)
    assert (summary["max_value"], summary["max_value_iteration"]) == (9.0, 2)
    key = f"last_metrics.{md5('loss')}.{md5('train')}.max_value"
    ordered = api("tasks.get_all", {"id": [task, other], "order_by": [f"-{key}"], "only_fields": ["id"]})["tasks"]
    assert [t["id"] for t in ordered] == [task, other]


def test_a_retried_batch_adds_no_second_copy_of_its_events(api: Api) -> None:
    # a client that lost the answer sends the same batch again (the SDK and the agent stamp every
    # log line): logs and plots already stored exactly are left out, the answer counts them as added
    task = new_task(api)
    batch = [
        {"type": "log", "task": task, "level": "info", "worker": "w", "msg": f"line {i}", "timestamp": 5000 + i}
        for i in range(3)
    ] + [{"type": "plot", "task": task, "metric": "p", "variant": "v", "iter": 1, "plot_str": '{"data": []}', "timestamp": 5001}]
    assert send(api, batch)["added"] == 4
    assert send(api, batch + [{**batch[0], "msg": "line 0, again"}])["added"] == 5
    # the same line with another level or time is another event; a batch's own repeats are kept
    assert send(api, [{**batch[1], "level": "warning"}, {**batch[2], "timestamp": 6000}])["added"] == 2
    assert send(api, [{**batch[0], "timestamp": 7000}] * 2)["added"] == 2
    logs = api("events.get_task_log", {"task": task, "navigate_earlier": False, "batch_size": 100})["events"]
    assert [(e["msg"], e["level"], e["timestamp"]) for e in logs] == [
        ("line 0", "info", 5000), ("line 0, again", "info", 5000), ("line 1", "info", 5001),
        ("line 1", "warning", 5001), ("line 2", "info", 5002), ("line 2", "info", 6000),
        ("line 0", "info", 7000), ("line 0", "info", 7000),
    ]  # fmt: skip
    assert api("events.get_task_plots", {"task": task})["total"] == 1
