"""Schemathesis over ``/openapi.json``: every registered endpoint, generated bodies (valid and
invalid), called in-process through the ASGI app as an authenticated admin of a fresh company.

Each answer must be a ClearML envelope (``meta`` and ``data``, ``result_code`` equal to the HTTP
status), never a 5xx, and a 200 must match the endpoint's declared response model (the app also
checks that itself: ``validate_responses``). CI runs the fuzzing phase only, ``FUZZ_EXAMPLES``
examples per endpoint, derandomised (under a minute per dialect); a longer, random run that adds
schemathesis' coverage phase (boundary values, missing fields, wrong types: a few hundred more
cases per endpoint) is ``SKIFF_FUZZ_EXAMPLES`` set (e.g. 500)::

    SKIFF_FUZZ_EXAMPLES=500 python3 -m pytest -q tests/security/test_fuzz.py
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from skiff.ops import accounts
from tests.support import Api

FUZZ_EXAMPLES = 5
EXAMPLES = int(os.environ.get("SKIFF_FUZZ_EXAMPLES") or FUZZ_EXAMPLES)
LONG_RUN = EXAMPLES != FUZZ_EXAMPLES


@pytest.fixture(scope="session")
def fuzz_schema(app):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if LONG_RUN else ["examples", "fuzzing"])
    return schema


@pytest.fixture(scope="session")
def fuzz_auth(client, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An admin of a company of its own, so what the fuzzer creates stays out of other tests."""
    company = accounts.create_company(db, "fuzz company")
    admin = accounts.add_user(db, company, "fuzz admin", role="admin")
    return {"Authorization": f"Bearer {Api(client, key=admin.access_key, secret=admin.secret_key).token()}"}


@schemathesis.check
def clearml_envelope(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """Every answer is ``{"meta": {...}, "data": {...}}`` and its result_code is the HTTP status.
    (Schemathesis also probes undeclared methods; OPTIONS answers an empty 200 on purpose.)"""
    if case.method.upper() == "OPTIONS":
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"not JSON: {response.content[:200]!r}") from None
    assert isinstance(body, dict) and set(body) >= {"meta", "data"}, body
    assert body["meta"]["result_code"] == response.status_code, body["meta"]
    assert isinstance(body["data"], dict), body


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not LONG_RUN,
    suppress_health_check=list(HealthCheck),
)
def test_no_endpoint_breaks_on_generated_input(case, fuzz_auth: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        headers=fuzz_auth, checks=[not_a_server_error, response_schema_conformance, clearml_envelope]
    )
