"""The ``workers`` service: what ``clearml-agent`` calls (register, status_report, unregister,
get_runtime_properties) and what the UI and ``clearml-agent list`` read (get_all, get_count).

Not served: ``get_stats``, ``get_metric_keys`` and ``get_activity_report`` need a history of
machine statistics that skiff does not keep (reports' ``machine_stats`` are accepted and dropped).
"""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.ops import workers as ops
from skiff.schemas import workers as s
from skiff.schemas.base import EmptyResponse

endpoints = EndpointSet("workers")


def _client_ip(call: Call) -> str:
    """The worker's address: the proxy's ``X-Real-IP`` / first ``X-Forwarded-For`` hop if present
    (informational only, never used for access decisions)."""
    forwarded = call.headers.get("x-real-ip") or call.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or call.remote or ""


@endpoints.add("register", request=s.RegisterRequest, response=EmptyResponse, min_version="2.4")
def register(call: Call, req: s.RegisterRequest) -> dict:
    """Register a worker (again): its queues, tags and registration timeout."""
    ops.register_worker(
        call.db,
        call.user,
        req.worker,
        timeout=req.timeout,
        queues=req.queues,
        tags=req.tags,
        system_tags=req.system_tags,
        ip=_client_ip(call),
    )
    return {}


@endpoints.add("unregister", request=s.WorkerRequest, response=EmptyResponse, min_version="2.4")
def unregister(call: Call, req: s.WorkerRequest) -> dict:
    """Remove a worker (an unknown worker is not an error)."""
    ops.unregister_worker(call.db, call.user, req.worker)
    return {}


@endpoints.add("status_report", request=s.StatusReportRequest, response=EmptyResponse, min_version="2.4")
def status_report(call: Call, req: s.StatusReportRequest) -> dict:
    """A worker's periodic report: current task and queue; registers unknown workers."""
    ops.status_report(
        call.db,
        call.user,
        req.worker,
        task=req.task,
        queue=req.queue,
        queues=req.queues,
        tags=req.tags,
        system_tags=req.system_tags,
        ip=_client_ip(call),
    )
    return {}


@endpoints.add("get_all", request=s.GetAllRequest, response=s.GetAllResponse, min_version="2.4")
def get_all(call: Call, req: s.GetAllRequest) -> dict:
    """The company's live workers, with their current task and queues."""
    found = ops.list_workers(
        call.db,
        call.user,
        last_seen=req.last_seen,
        tags=req.tags,
        system_tags=req.system_tags,
        worker_pattern=req.worker_pattern,
    )
    return {"workers": found}


@endpoints.add("get_count", request=s.GetCountRequest, response=s.GetCountResponse, min_version="2.26")
def get_count(call: Call, req: s.GetCountRequest) -> dict:
    """How many live workers the company has (same filters as get_all)."""
    count = ops.count_workers(
        call.db,
        call.user,
        last_seen=req.last_seen,
        tags=req.tags,
        system_tags=req.system_tags,
        worker_pattern=req.worker_pattern,
    )
    return {"count": count}


@endpoints.add(
    "get_runtime_properties",
    request=s.WorkerRequest,
    response=s.GetRuntimePropertiesResponse,
    min_version="2.10",
)
def get_runtime_properties(call: Call, req: s.WorkerRequest) -> dict:
    """The worker's unexpired runtime properties (the agent polls them every loop)."""
    return {"runtime_properties": ops.get_runtime_properties(call.db, call.user, req.worker)}


@endpoints.add(
    "set_runtime_properties",
    request=s.SetRuntimePropertiesRequest,
    response=s.SetRuntimePropertiesResponse,
    min_version="2.10",
)
def set_runtime_properties(call: Call, req: s.SetRuntimePropertiesRequest) -> dict:
    """Set, refresh or (expiry 0) remove runtime properties of a worker."""
    properties = [p.model_dump() for p in req.runtime_properties]
    return ops.set_runtime_properties(call.db, call.user, req.worker, properties)
