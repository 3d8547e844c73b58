"""GET /jobs (seed card #118 and issue 3), GET /job/{id}, GET /job-logs and cancel, against a live gateway."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from conftest import wait_for
from live_gateway import live, seed, stamp  # noqa: F401 - `live` is a fixture

CARD_FIELDS = {"job_id", "plugin", "command", "status", "created_at", "started_at", "completed_at", "attempt"}


@pytest.fixture(scope="module")
def api(live: Any) -> httpx.Client:  # noqa: F811
    with live.client() as client:
        yield client


@pytest.fixture(scope="module")
def catalog(live: Any) -> dict[str, Any]:  # noqa: F811
    """A fixed history on 2020-01-0x: plugins withings/github by poll/sync, every status."""
    rows = []
    plan = [
        ("withings", "poll", "succeeded", "scheduler"),
        ("withings", "poll", "failed", "scheduler"),
        ("withings", "sync", "succeeded", "api"),
        ("withings", "poll", "dead", "scheduler"),
        ("github", "poll", "succeeded", "scheduler"),
        ("github", "sync", "timed_out", "api"),
        ("github", "poll", "queued", "cli"),
        ("withings", "poll", "skipped", "route"),
        ("github", "sync", "running", "api"),
        ("withings", "poll", "succeeded", "scheduler"),
    ]
    for i, (plugin, command, status, who) in enumerate(plan):
        rows.append(
            {"plugin": plugin, "command": command, "status": status, "submitted_by": who, "created_at": stamp(2, i)}
        )
    ids = seed(live.db_path, rows)
    return {"rows": rows, "ids": ids}


WINDOW = {"created_after": "2020-01-02T00:00:00Z", "created_before": "2020-01-03T00:00:00Z"}


def get(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/jobs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def expected(catalog: dict[str, Any], **match: Any) -> list[str]:
    """Ids of catalog rows matching, newest first."""
    out = []
    for job_id, row in zip(catalog["ids"], catalog["rows"], strict=True):
        if all(row[k] in (v if isinstance(v, set) else {v}) for k, v in match.items()):
            out.append((row["created_at"], job_id))
    return [j for _, j in sorted(out, reverse=True)]


# -- seed card acceptance criteria ----------------------------------------------------------


def test_card_lists_jobs_with_exactly_the_card_fields_and_total(api: httpx.Client, catalog: Any) -> None:
    body = get(api, **WINDOW)
    assert set(body) == {"jobs", "total", "next_cursor"}
    assert body["total"] == 10 and len(body["jobs"]) == 10 and body["next_cursor"] is None
    for item in body["jobs"]:
        assert set(item) <= CARD_FIELDS and {"job_id", "plugin", "command", "status", "created_at", "attempt"} <= set(
            item
        )
    queued = next(j for j in body["jobs"] if j["status"] == "queued")
    assert "started_at" not in queued and "completed_at" not in queued  # null times omitted
    done = next(j for j in body["jobs"] if j["status"] == "succeeded")
    assert set(done) == CARD_FIELDS


def test_card_sorted_newest_first(api: httpx.Client, catalog: Any) -> None:
    jobs = get(api, **WINDOW)["jobs"]
    assert [j["job_id"] for j in jobs] == expected(catalog)
    assert [j["created_at"] for j in jobs] == sorted((j["created_at"] for j in jobs), reverse=True)


def test_default_limit_is_50(live: Any, api: httpx.Client) -> None:  # noqa: F811
    seed(live.db_path, [{"plugin": "many", "created_at": stamp(20, i % 60, i)} for i in range(60)])
    body = get(api, plugin="many")
    assert len(body["jobs"]) == 50 and body["total"] == 60 and body["next_cursor"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"plugin": "withings"}, {"plugin": "withings"}),
        ({"plugin": "github"}, {"plugin": "github"}),
        ({"command": "sync"}, {"command": "sync"}),
        ({"status": "succeeded"}, {"status": "succeeded"}),
        ({"status": "running"}, {"status": "running"}),
        ({"status": "skipped"}, {"status": "skipped"}),
        ({"submitted_by": "api"}, {"submitted_by": "api"}),
        ({"plugin": "withings", "command": "poll"}, {"plugin": "withings", "command": "poll"}),
        ({"plugin": "withings", "status": "succeeded"}, {"plugin": "withings", "status": "succeeded"}),
        (
            {"plugin": "withings", "command": "poll", "status": "failed"},
            {"plugin": "withings", "command": "poll", "status": "failed"},
        ),
        ({"plugin": "github", "submitted_by": "api"}, {"plugin": "github", "submitted_by": "api"}),
        ({"status": "failed,dead"}, {"status": {"failed", "dead"}}),
        ({"status": "failed,dead,timed_out", "plugin": "github"}, {"status": {"timed_out"}, "plugin": "github"}),
    ],
)
def test_filters_alone_and_combined(api: httpx.Client, catalog: Any, params: dict, match: dict) -> None:
    body = get(api, **WINDOW, **params)
    assert [j["job_id"] for j in body["jobs"]] == expected(catalog, **match)
    assert body["total"] == len(expected(catalog, **match))


def test_filters_without_time_window_use_the_counts_table(api: httpx.Client, catalog: Any) -> None:
    # No created_* → total comes from job_counts; it must agree with the scanned count.
    body = get(api, plugin="withings", status="succeeded", limit=1)
    assert body["total"] == len(expected(catalog, plugin="withings", status="succeeded"))


def test_time_range_alone(api: httpx.Client, catalog: Any) -> None:
    body = get(api, created_after=stamp(2, 3), created_before=stamp(2, 6))
    assert [j["job_id"] for j in body["jobs"]] == list(reversed(catalog["ids"][3:6]))
    assert body["total"] == 3
    offset = get(api, created_after="2020-01-02T01:00:03+01:00", created_before="2020-01-02T00:00:06Z")
    assert offset["total"] == 3  # any RFC 3339 offset is normalised to UTC


@pytest.mark.parametrize("moment", ["0524-08-15T17:02:42Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
def test_extreme_years_are_handled(api: httpx.Client, moment: str) -> None:
    # Found by schemathesis: years < 1000 once produced unpadded text and a 500.
    for params in (
        {"created_after": moment},
        {"created_before": moment},
        {"created_after": moment, "created_before": moment},
    ):
        response = api.get("/jobs", params=params)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("alias", "native"), [("pending", "queued"), ("ok", "succeeded"), ("error", "failed"), ("OK", "succeeded")]
)
def test_status_aliases(api: httpx.Client, catalog: Any, alias: str, native: str) -> None:
    body = get(api, status=alias, **WINDOW)
    assert [j["job_id"] for j in body["jobs"]] == expected(catalog, status=native)
    assert {j["status"] for j in body["jobs"]} == {native}


def test_status_list_mixes_aliases_and_repeated_params(api: httpx.Client, catalog: Any) -> None:
    a = get(api, status="error, dead", **WINDOW)
    b = api.get("/jobs", params=[("status", "failed"), ("status", "dead"), *WINDOW.items()]).json()
    assert (
        [j["job_id"] for j in a["jobs"]]
        == [j["job_id"] for j in b["jobs"]]
        == expected(catalog, status={"failed", "dead"})
    )


def test_total_is_independent_of_limit(api: httpx.Client, catalog: Any) -> None:
    totals = {get(api, plugin="withings", limit=n, **WINDOW)["total"] for n in (1, 2, 5, 200)}
    assert totals == {len(expected(catalog, plugin="withings"))}
    assert len(get(api, plugin="withings", limit=2, **WINDOW)["jobs"]) == 2


def test_equal_timestamps_order_by_id_and_page_without_loss(live: Any, api: httpx.Client) -> None:  # noqa: F811
    same = "2020-01-05T12:00:00.000000Z"
    ids = seed(live.db_path, [{"plugin": "ties", "created_at": same} for _ in range(7)])
    body = get(api, plugin="ties")
    assert [j["job_id"] for j in body["jobs"]] == sorted(ids, reverse=True)
    seen, cursor = [], None
    while True:
        page = get(api, plugin="ties", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [j["job_id"] for j in page["jobs"]]
        assert page["total"] == 7
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_cursor_paging_neither_repeats_nor_skips_while_jobs_arrive(live: Any, api: httpx.Client) -> None:  # noqa: F811
    original = seed(live.db_path, [{"plugin": "pager", "created_at": stamp(10, i)} for i in range(23)])
    seen: list[str] = []
    cursor = None
    round_ = 0
    while True:
        page = get(api, plugin="pager", limit=5, **({"cursor": cursor} if cursor else {}))
        seen += [j["job_id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        round_ += 1
        # Newer jobs arrive between pages (some with the same time as rows already paged).
        seed(
            live.db_path,
            [{"plugin": "pager", "created_at": stamp(11, round_)}, {"plugin": "pager", "created_at": stamp(10, 22)}],
        )
    assert len(seen) == len(set(seen)), "a job was returned twice"
    assert set(original) <= set(seen), "a job was skipped"
    assert seen[:23] == list(reversed(original))


def test_cursor_with_real_enqueues_between_pages(live: Any, api: httpx.Client) -> None:  # noqa: F811
    first = [api.post("/plugin/beta/poll").json()["job_id"] for _ in range(4)]
    page1 = get(api, plugin="beta", command="poll", limit=2)
    api.post("/plugin/beta/poll")
    page2 = get(api, plugin="beta", command="poll", limit=2, cursor=page1["next_cursor"])
    ids = [j["job_id"] for j in page1["jobs"] + page2["jobs"]]
    assert ids == list(reversed(first))


# -- bad input ------------------------------------------------------------------------------


def _cursor_of(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "abc"),
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "201"),
        ("limit", "99999999999999999999"),
        ("limit", "1.5"),
        ("limit", ""),
        ("status", "bogus"),
        ("status", ""),
        ("status", "failed,"),
        ("status", "succeeded;DROP TABLE jobs"),
        ("cursor", "!!!"),
        ("cursor", "abc"),
        ("cursor", _cursor_of(b"not json")),
        ("cursor", _cursor_of(b'[1,"yesterday","x"]')),
        ("cursor", _cursor_of(b'[9,"2020-01-01T00:00:00.000000Z","x"]')),
        ("cursor", "A" * 600),
        ("created_after", "yesterday"),
        ("created_after", "2020-13-01T00:00:00Z"),
        ("created_after", "2020-01-01"),
        ("created_before", "2020-01-01T00:00:00"),
        ("created_before", "2020-01-01T25:00:00Z"),
        ("plugin", ""),
        ("plugin", "x" * 201),
        ("plugin", "a\x00b"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api: httpx.Client, param: str, value: str) -> None:
    response = api.get("/jobs", params={param: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith(f"{param}:") and "accepted" in error


def test_repeated_single_value_parameter_is_400(api: httpx.Client) -> None:
    response = api.get("/jobs", params=[("limit", "1"), ("limit", "2")])
    assert response.status_code == 400 and "limit" in response.json()["error"]


@pytest.mark.parametrize(
    "value", ["x' OR '1'='1", "'; DROP TABLE jobs; --", "%", "_", "withings%", "\\", "😀", "ünïcødé", "名前"]
)
def test_sql_metacharacters_and_unicode_match_nothing(live: Any, api: httpx.Client, catalog: Any, value: str) -> None:  # noqa: F811
    for param in ("plugin", "command", "submitted_by"):
        body = get(api, **{param: value})
        assert body == {"jobs": [], "total": 0, "next_cursor": None}
    assert get(api, **WINDOW)["total"] == 10  # nothing was dropped


def test_unicode_plugin_name_round_trips(live: Any, api: httpx.Client) -> None:  # noqa: F811
    ids = seed(live.db_path, [{"plugin": "名前-😀", "created_at": stamp(6)}])
    assert [j["job_id"] for j in get(api, plugin="名前-😀")["jobs"]] == ids


def test_unknown_query_parameters_are_ignored(api: httpx.Client, catalog: Any) -> None:
    assert get(api, frobnicate="1", **WINDOW)["total"] == 10


# -- GET /job/{id} ------------------------------------------------------------------------


def test_get_job_contract_for_a_finished_job(api: httpx.Client) -> None:
    job_id = api.post("/plugin/alpha/poll", json={"payload": {"n": 1}}).json()["job_id"]
    body = wait_for(lambda: (b := api.get(f"/job/{job_id}").json())["status"] == "succeeded" and b, message="job done")
    assert set(body) == {
        "job_id",
        "status",
        "plugin",
        "command",
        "submitted_by",
        "attempt",
        "created_at",
        "started_at",
        "completed_at",
        "result",
        "events",
        "children",
    }
    assert body["submitted_by"] == "api" and body["attempt"] == 1
    assert body["result"]["status"] == "ok" and body["result"]["result"]["payload"] == {"n": 1}
    listed = get(api, plugin="alpha", command="poll", limit=200)["jobs"]
    assert any(j["job_id"] == job_id for j in listed)


def test_get_job_queued_has_no_result_and_failed_has_last_error(api: httpx.Client, catalog: Any) -> None:
    queued = api.get(f"/job/{catalog['ids'][6]}").json()
    assert queued["status"] == "queued" and "result" not in queued and "started_at" not in queued
    failed = api.get(f"/job/{catalog['ids'][1]}").json()
    assert failed["status"] == "failed" and failed["last_error"] == "boom"


@pytest.mark.parametrize("job_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "x" * 300, "'; --"])
def test_get_job_unknown_or_malformed_is_404(api: httpx.Client, job_id: str) -> None:
    response = api.get(f"/job/{job_id}")
    assert response.status_code == 404 and "error" in response.json()


# -- GET /job-attempts (was /job-logs) --------------------------------------------------------------------------


def test_job_logs_filters_and_result(api: httpx.Client) -> None:
    job_id = api.post("/plugin/alpha/poll", json={"payload": {"needle": "haystack-42"}}).json()["job_id"]
    wait_for(lambda: api.get(f"/job/{job_id}").json()["status"] == "succeeded", message="job done")
    plain = api.get("/job-attempts", params={"job_id": job_id}).json()
    assert plain["count"] == 1 and "result" not in plain["attempts"][0]
    record = plain["attempts"][0]
    assert record["job_id"] == job_id and record["attempt"] == 1 and record["status"] == "succeeded"
    full = api.get("/job-attempts", params={"job_id": job_id, "include_result": "true"}).json()
    assert full["attempts"][0]["result"]["result"]["payload"] == {"needle": "haystack-42"}
    found = api.get("/job-attempts", params={"query": "haystack-42"}).json()
    assert [a["job_id"] for a in found["attempts"]] == [job_id]
    assert api.get("/job-attempts", params={"query": "haystack-42", "status": "error"}).json()["count"] == 0
    assert api.get("/job-attempts", params={"plugin": "alpha", "status": "ok", "limit": 1}).json()["count"] == 1
    either = api.get("/job-attempts", params={"query": "haystack-42", "status": "dead,ok"}).json()
    assert [a["job_id"] for a in either["attempts"]] == [job_id]
    assert api.get("/job-attempts", params={"query": "haystack-42", "status": "dead,failed"}).json()["count"] == 0
    later = api.get("/job-attempts", params={"job_id": job_id, "from": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0


@pytest.mark.parametrize(
    ("param", "value"),
    [("limit", "0"), ("status", "nope"), ("status", "ok,nope"), ("from", "soon"), ("include_result", "maybe")],
)
def test_job_logs_bad_parameters(api: httpx.Client, param: str, value: str) -> None:
    response = api.get("/job-attempts", params={param: value})
    assert response.status_code == 400 and response.json()["error"].startswith(f"{param}:")


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_queued_job_then_409_then_404(live: Any, api: httpx.Client) -> None:  # noqa: F811
    [job_id] = seed(live.db_path, [{"plugin": "cancelme", "status": "queued", "created_at": stamp(7)}])
    response = api.post(f"/job/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "dead"
    assert response.json()["last_error"] == "cancelled via API"
    assert api.post(f"/job/{job_id}/cancel").status_code == 409
    assert api.post("/job/nope/cancel").status_code == 404
    assert get(api, plugin="cancelme", status="dead")["total"] == 1
