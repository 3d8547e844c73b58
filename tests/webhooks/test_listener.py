"""The webhook listener over real HTTP (spec pipelines.md §7.3, §7.4, §7.6; ductile-compat A18):
a real gateway process, signatures computed in the test, exact status codes and bodies, and what
the database and the plugin saw afterwards."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import wait_for

from tests.acceptance.pipeline_rig import Gateways, jobs, recorded, recorder, wait_settled
from tests.webhooks.rig import SECRET, HookGateway, endpoint, sign, start

pytestmark = pytest.mark.slow

FORBIDDEN = {"error": "forbidden"}


def refusals(hook: HookGateway) -> list[str]:
    return [r["reason"] for r in hook.gw.log_records() if r.get("msg") == "webhook refused"]


def test_each_check_in_order_with_exact_status_and_body(tmp_path: Path, gateways: Gateways) -> None:
    """§7.3 order: path → method → size → signature → enqueue; 202 only for a valid signature,
    with the `sha256=` prefix or bare hex (either case); the body is stored byte for byte."""
    rec = tmp_path / "rec"
    hook = start(
        gateways,
        {"site": recorder(rec)},
        [endpoint("/hooks/site", "site", max_body_size=64)],
    )
    body = b'{ "title":"t",  "n" : 1 }'  # odd spacing: the stored payload must be these bytes
    digest = sign(body, prefix=False)

    accepted = [
        hook.post("/hooks/site", body, {"X-Sig": f"sha256={digest}"}),
        hook.post("/hooks/site", body, {"X-Sig": digest}),
        hook.post("/hooks/site", body, {"x-sig": digest.upper()}),  # header name and hex case-insensitive
    ]
    for answer in accepted:
        assert answer.status_code == 202, answer.text
        assert set(answer.json()) == {"job_id"}

    refused = {
        "wrong secret": hook.post("/hooks/site", body, {"X-Sig": sign(body, "other")}),
        "missing header": hook.post("/hooks/site", body),
        "empty header": hook.post("/hooks/site", body, {"X-Sig": ""}),
        "tampered body": hook.post("/hooks/site", body.replace(b'"t"', b'"x"'), {"X-Sig": f"sha256={digest}"}),
        "uppercase prefix": hook.post("/hooks/site", body, {"X-Sig": f"SHA256={digest}"}),
        "not hex": hook.post("/hooks/site", body, {"X-Sig": "sha256=" + "zz" * 32}),
    }
    for what, answer in refused.items():
        assert (answer.status_code, answer.json()) == (403, FORBIDDEN), what

    big = b'{"title":"' + b"x" * 53 + b'"}'  # 65 bytes, one over max_body_size
    assert len(big) == 65
    too_large = hook.post("/hooks/site", big, {"X-Sig": sign(big)})
    assert (too_large.status_code, too_large.json()) == (413, {"error": "payload too large"})
    unsigned_large = hook.post("/hooks/site", big)  # size is checked before the signature
    assert (unsigned_large.status_code, unsigned_large.json()) == (413, {"error": "payload too large"})

    def chunks() -> object:  # no Content-Length: the listener must count while reading
        yield big[:40]
        yield big[40:]

    streamed = httpx.post(f"{hook.url}/hooks/site", content=chunks(), headers={"X-Sig": sign(big)}, timeout=15)
    assert (streamed.status_code, streamed.json()) == (413, {"error": "payload too large"})
    exactly_64 = big[:-3] + b'"}'
    assert len(exactly_64) == 64
    assert hook.post("/hooks/site", exactly_64, {"X-Sig": sign(exactly_64)}).status_code == 202

    unknown = hook.post("/hooks/other", body, {"X-Sig": digest})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "endpoint not found"})
    unknown_get = httpx.get(f"{hook.url}/hooks/other", timeout=15)  # path is checked before method
    assert unknown_get.status_code == 404
    trailing = hook.post("/hooks/site/", body, {"X-Sig": digest})  # exact path match
    assert trailing.status_code == 404
    for method in ("GET", "PUT", "DELETE"):
        answer = httpx.request(method, f"{hook.url}/hooks/site", timeout=15)
        assert (answer.status_code, answer.json()) == (405, {"error": "method not allowed"}), method
        assert answer.headers["allow"] == "POST"
    assert httpx.get(f"{hook.url}/healthz", timeout=15).status_code == 404  # no /healthz here (doc≠code)

    done = wait_settled(hook.db, at_least=4)
    ids = [a.json()["job_id"] for a in accepted]
    assert sorted(j["job_id"] for j in done if j["payload"] == body.decode()) == sorted(ids)
    assert len(done) == 4  # three accepted + the 64-byte one; nothing for any refusal
    for row in done:
        assert row["submitted_by"] == "webhook:/hooks/site"
        assert (row["plugin"], row["command"], row["parent_job_id"], row["dedupe_key"]) == (
            "site",
            "handle",
            None,
            None,
        )
        assert row["status"] == "succeeded"
    seen = recorded(rec)[ids[0]]
    assert seen["event"]["payload"] == {"title": "t", "n": 1, "ductile_plugin": "site"}  # raw promotion + context
    assert seen["event"]["type"] == ""
    assert seen["context"] == {"ductile_plugin": "site"}

    reasons = refusals(hook)
    assert reasons == [
        "bad_signature",
        "missing_signature",
        "missing_signature",
        "bad_signature",
        "bad_signature",
        "bad_signature",
        "too_large",
        "too_large",
        "too_large",
    ]
    assert SECRET not in hook.gw.log()


def test_replay_window_refuses_old_and_future_timestamps(tmp_path: Path, gateways: Gateways) -> None:
    """§7.6, Stripe/Slack style: HMAC over `<timestamp>.<body>`, |now - ts| <= max_skew."""
    hook = start(
        gateways,
        {"site": recorder(tmp_path / "rec")},
        [
            endpoint(
                "/hooks/signed",
                "site",
                timestamp_header="X-Ts",
                signed_payload="timestamp.body",
                max_skew="5m",
            ),
            endpoint("/hooks/plain", "site", timestamp_header="X-Ts"),  # body-only HMAC, window on
        ],
    )
    body = b'{"amount":1}'

    def send(path: str, ts: str | None, *, sign_ts: bool = True) -> httpx.Response:
        headers = {"X-Sig": sign(body, timestamp=ts if sign_ts and path == "/hooks/signed" else None)}
        if ts is not None:
            headers["X-Ts"] = ts
        return hook.post(path, body, headers)

    now = int(time.time())
    inside = [
        send("/hooks/signed", str(now)),
        send("/hooks/signed", str(now - 240)),  # 4 minutes old
        send("/hooks/signed", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 60))),  # RFC 3339
        send("/hooks/plain", str(now)),
    ]
    for answer in inside:
        assert answer.status_code == 202, answer.text
    outside = [
        send("/hooks/signed", str(now - 600)),  # 10 minutes old: a replay
        send("/hooks/signed", str(now + 600)),  # 10 minutes ahead
        send("/hooks/signed", None),  # no timestamp at all
        send("/hooks/signed", "yesterday"),  # not a timestamp
        send("/hooks/signed", str(now), sign_ts=False),  # signed over the body only
        send("/hooks/plain", str(now - 600)),
        send("/hooks/plain", None),
    ]
    for answer in outside:
        assert (answer.status_code, answer.json()) == (403, FORBIDDEN)
    assert refusals(hook) == ["stale_timestamp"] * 4 + ["bad_signature"] + ["stale_timestamp"] * 2
    assert len(wait_settled(hook.db, at_least=4)) == 4


def test_redelivery_returns_the_original_job_and_starts_nothing(tmp_path: Path, gateways: Gateways) -> None:
    """§7.6: same X-GitHub-Delivery → 200 {job_id: <original>, duplicate: true}, in any status."""
    hook = start(
        gateways,
        {"gh": recorder(tmp_path / "rec")},
        [
            endpoint(
                "/webhook/github", "gh", signature_header="X-Hub-Signature-256", delivery_id_header="X-GitHub-Delivery"
            )
        ],
    )
    body = b'{"action":"opened"}'
    headers = {"X-Hub-Signature-256": sign(body), "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    first = hook.post("/webhook/github", body, headers)
    assert first.status_code == 202, first.text
    original = first.json()["job_id"]
    again = hook.post("/webhook/github", body, headers)
    assert (again.status_code, again.json()) == (200, {"job_id": original, "duplicate": True})
    wait_settled(hook.db, at_least=1)
    after = hook.post("/webhook/github", body, headers)  # the original has succeeded by now
    assert (after.status_code, after.json()) == (200, {"job_id": original, "duplicate": True})
    other = hook.post("/webhook/github", body, {**headers, "X-GitHub-Delivery": "another-delivery"})
    assert other.status_code == 202
    without = [hook.post("/webhook/github", body, {"X-Hub-Signature-256": sign(body)}) for _ in range(2)]
    assert [a.status_code for a in without] == [202, 202]  # no delivery id: no dedupe
    done = wait_settled(hook.db, at_least=4)
    assert len(done) == 4
    keyed = {j["job_id"]: j["dedupe_key"] for j in done}
    assert keyed[original] == "webhook:/webhook/github:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert keyed[other.json()["job_id"]] == "webhook:/webhook/github:another-delivery"


def test_identical_deliveries_at_once_make_one_job(tmp_path: Path, gateways: Gateways) -> None:
    """The look-up and the insert are one transaction: N simultaneous copies → one job, one 202."""
    hook = start(
        gateways,
        {"gh": recorder(tmp_path / "rec")},
        [endpoint("/webhook/github", "gh", delivery_id_header="X-GitHub-Delivery")],
    )
    body = b'{"action":"closed"}'
    for round_ in range(3):
        headers = {"X-Sig": sign(body), "X-GitHub-Delivery": f"burst-{round_}"}
        barrier = threading.Barrier(8)

        def deliver(_: int, headers: dict[str, str] = headers, barrier: threading.Barrier = barrier) -> httpx.Response:
            with httpx.Client(timeout=15) as client:
                barrier.wait()
                return client.post(f"{hook.url}/webhook/github", content=body, headers=headers)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(deliver, range(8)))
        assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
        assert len({a.json()["job_id"] for a in answers}) == 1
        assert len(jobs(hook.db, "dedupe_key = ?", (f"webhook:/webhook/github:burst-{round_}",))) == 1


def test_a_sender_hanging_up_does_not_cancel_the_enqueue(tmp_path: Path, gateways: Gateways) -> None:
    """§7.3 step 5: the whole request arrives, the sender closes at once; the job still exists."""
    hook = start(gateways, {"site": recorder(tmp_path / "rec")}, [endpoint("/hooks/site", "site")])
    for n in range(5):
        body = json.dumps({"n": n}).encode()
        head = (
            f"POST /hooks/site HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sig: {sign(body)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", hook.port), timeout=10) as sock:
            sock.sendall(head + body)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    body = b'{"cut":"short"}'
    with socket.create_connection(("127.0.0.1", hook.port), timeout=10) as sock:  # gone mid-body
        sock.sendall(
            f"POST /hooks/site HTTP/1.1\r\nHost: x\r\nX-Sig: {sign(body)}\r\nContent-Length: 100\r\n\r\n".encode()
        )
        sock.sendall(body)
    done = wait_settled(hook.db, at_least=5)
    assert sorted(j["payload"] for j in done) == sorted(json.dumps({"n": n}) for n in range(5))
    wait_for(
        lambda: any("disconnected before the body was complete" in r.get("msg", "") for r in hook.gw.log_records()),
        message="the cut-off delivery logged",
    )
    assert len(jobs(hook.db)) == 5  # nothing for the incomplete body


def test_bodies_the_plugin_cannot_read_are_accepted_and_fail_at_dispatch(tmp_path: Path, gateways: Gateways) -> None:
    """§7.3 "not checked: JSON validity"; §7.5: not an object / bad timestamp → failed, no retry."""
    rec = tmp_path / "rec"
    hook = start(gateways, {"site": recorder(rec)}, [endpoint("/hooks/site", "site")])
    bodies = {
        "text": b"hello, not json",
        "array": b"[1,2]",
        "bad timestamp": b'{"type":"x","payload":{},"timestamp":"yesterday"}',
        "latin-1": b'{"name":"caf\xe9"}',
    }
    ids = {}
    for what, body in bodies.items():
        answer = hook.signed("/hooks/site", body)
        assert answer.status_code == 202, what
        ids[what] = answer.json()["job_id"]
    typed = hook.signed("/hooks/site", b'{"type":"push","ref":"main"}')  # Ductile: event.payload = {}
    assert typed.status_code == 202
    done = {j["job_id"]: j for j in wait_settled(hook.db, at_least=5)}
    for what, job_id in ids.items():
        row = done[job_id]
        assert (row["status"], row["attempt"]) == ("failed", 1), what
        assert row["last_error"].startswith("failed to unmarshal event payload: "), (what, row["last_error"])
    assert json.loads(done[ids["text"]]["payload"]) == "hello, not json"
    assert done[typed.json()["job_id"]]["status"] == "succeeded"
    assert recorded(rec)[typed.json()["job_id"]]["event"]["payload"] == {"ductile_plugin": "site"}
    warned = [r for r in hook.gw.log_records() if r.get("msg") == "webhook body will not reach the plugin as sent"]
    assert {r["job_id"] for r in warned} == {*ids.values(), typed.json()["job_id"]}
    assert not rec.exists() or not set(ids.values()) & set(recorded(rec))  # the plugin never ran for those


def test_endpoints_from_a_standalone_file_in_ductiles_flat_list(tmp_path: Path, gateways: Gateways) -> None:
    """§7.1: an included file may hold `webhooks: [ ... ]`; the root sets `webhooks.listen`."""
    hook = start(
        gateways,
        {"site": recorder(tmp_path / "rec")},
        [endpoint("/hooks/a", "site"), endpoint("/hooks/b", "site")],
        standalone=tmp_path / "webhooks.yaml",
    )
    assert hook.signed("/hooks/a", b"{}").status_code == 202
    assert hook.signed("/hooks/b", b"{}").status_code == 202
    assert hook.signed("/hooks/c", b"{}").status_code == 404
    wait_for(lambda: len(jobs(hook.db)) == 2, message="two webhook jobs")
    assert hook.gw.stop() == 0  # SIGTERM: both listeners close, the gateway drains and exits cleanly
    assert "gateway stopped" in hook.gw.log()
