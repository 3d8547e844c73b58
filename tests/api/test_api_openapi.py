"""Property-based contract check: schemathesis drives every documented operation of ours from
/openapi.json against a live gateway with a valid token; no 5xx, and responses match the document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import ADMIN_TOKEN
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from live_gateway import start_gateway
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from ductile.api import cursor
from ductile.timeutil import to_text

# Cursors are opaque: a schema-valid one is one the server could have handed out.
schemathesis.openapi.format(
    "ductile-cursor",
    st.builds(
        lambda moment, job_id: cursor.encode((to_text(moment.replace(tzinfo=UTC)), str(job_id))),
        st.datetimes(),
        st.uuids(),
    ),
)


@pytest.fixture(scope="module")
def contract_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    gw = start_gateway(tmp_path_factory.mktemp("contract"))
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def api_schema(contract_gateway: Any) -> Any:
    return schemathesis.openapi.from_url(f"{contract_gateway.url}/openapi.json")


# Every operation except the never-ending /events stream (tests/api/test_events.py covers it).
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/events")


# One test item drives every operation (15+ of them, each up to 15 examples plus schemathesis's
# coverage cases), so it needs more than the suite's 120 s per-test limit on a loaded machine.
@pytest.mark.timeout(600)
@schema.parametrize()
# Generating the coverage cases for the free-form `payload` body takes about a minute on its own
# and can pass the default 120 s on a loaded 2-core box; a harness limit, not a speed assertion.
@pytest.mark.timeout(600)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_openapi_contract(case: Any) -> None:
    excluded = []
    if case.operation.path == "/plugin/{plugin}/{command}":
        # An unknown plugin or command is a 400 (Ductile's contract, A6) and each command validates
        # its payload against its own input_schema (published per plugin at
        # /plugin/{name}/openapi.json), so "schema-valid" for this generic operation is not valid.
        excluded.append(positive_data_acceptance)
    query = case.query
    if query is not None and (not isinstance(query, dict) or any(name not in case.operation.query for name in query)):
        # A query that is not a name=value map at all (sent as `?=false`), or that names a
        # parameter the operation does not declare: every endpoint ignores unknown query
        # parameters by design, so this "negative" case is nothing to reject. (Which examples
        # are drawn depends on this function's source: an edit once drew unknown names only.)
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, excluded_checks=excluded)


def test_openapi_documents_scopes_errors_and_security(contract_gateway: Any) -> None:
    doc = httpx.get(f"{contract_gateway.url}/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    ours = {
        ("get", "/jobs"): {"400", "401", "403"},
        ("get", "/job/{job_id}"): {"401", "403", "404"},
        ("get", "/job-logs"): {"400", "401", "403"},
        ("get", "/job/{job_id}/tree"): {"401", "403"},
        ("get", "/pipelines"): {"401", "403"},
        ("post", "/job/{job_id}/cancel"): {"401", "403", "404", "409"},
        ("get", "/plugins"): {"401"},
        ("get", "/plugin/{name}"): {"401", "403", "404"},
        ("post", "/plugin/{plugin}/{command}"): {"400", "401", "403", "413"},
    }
    for (method, path), codes in ours.items():
        op = doc["paths"][path][method]
        assert codes <= set(op["responses"]), (method, path)
        assert op["x-required-scope"] and "**Scope:**" in op["description"]
        assert op["security"] == [{"HTTPBearer": []}]
    params = {p["name"]: p["schema"] for p in doc["paths"]["/jobs"]["get"]["parameters"]}
    assert set(params) == {
        "plugin",
        "command",
        "status",
        "submitted_by",
        "parent_job_id",
        "pipeline",
        "created_after",
        "created_before",
        "limit",
        "cursor",
    }
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
