"""HTTP mode: signed requests are served; anything unsigned or stale gets 401 and reaches nothing."""

from __future__ import annotations

import json
import time
import urllib.request

from tests.slack.conftest import Rig, mention, sign


def _event_body() -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "event_id": "EvSig",
            "team_id": "T0001",
            "event": mention("hello"),
        }
    )


def test_a_signed_event_is_served_and_answered(rig: Rig) -> None:
    status, _ = rig.event(mention("hello"))
    assert status == 200
    rig.api.wait_for("chat.update")
    assert [c.args[0].text for c in rig.service.calls_to("handle")] == ["hello"]


def test_url_verification_answers_the_challenge(rig: Rig) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, text = rig.post(body, "application/json")
    assert status == 200
    assert "abc123" in text


def test_a_tampered_body_is_refused(rig: Rig) -> None:
    body = _event_body()
    headers = sign(body)
    status, _ = rig.post(body.replace("hello", "HELLO"), "application/json", headers)
    assert status == 401


def test_a_wrong_secret_is_refused(rig: Rig) -> None:
    body = _event_body()
    status, _ = rig.post(body, "application/json", sign(body, secret="not-the-secret"))
    assert status == 401


def test_a_stale_timestamp_is_refused(rig: Rig) -> None:
    body = _event_body()
    status, _ = rig.post(body, "application/json", sign(body, timestamp=int(time.time()) - 6 * 60))
    assert status == 401


def test_missing_signature_headers_are_refused(rig: Rig) -> None:
    body = _event_body()
    status, _ = rig.post(body, "application/json", {})
    assert status == 401
    only_ts = {"X-Slack-Request-Timestamp": str(int(time.time()))}
    status, _ = rig.post(body, "application/json", only_ts)
    assert status == 401


def test_refused_requests_never_reach_the_service_or_slack(rig: Rig) -> None:
    body = _event_body()
    rig.post(body, "application/json", sign(body, secret="wrong"))
    rig.post(body, "application/json", {})
    rig.drain()
    assert rig.service.calls == []
    assert [c.method for c in rig.api.calls if c.method != "auth.test"] == []


def test_healthz(rig: Rig) -> None:
    with urllib.request.urlopen(f"{rig.server.url}/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True}
