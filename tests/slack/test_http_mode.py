"""HTTP mode: signed requests are served; anything unsigned or stale gets 401 and reaches nothing;
other paths, methods and oversized bodies get their status; SIGTERM and Ctrl-C stop the server
after what it acknowledged has been handled."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.priority import Priority
from bot.slack.http import BackgroundServer
from tests.fakes.slack_api import MockSlackApi
from tests.slack.conftest import SECRET, Rig, mention, sign

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_malformed_timestamp_is_refused(rig: Rig) -> None:
    body = _event_body()
    headers = {**sign(body), "X-Slack-Request-Timestamp": "yesterday"}
    status, _ = rig.post(body, "application/json", headers)
    assert status == 401


def _request(rig: Rig, path: str, method: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"{rig.server.url}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_other_paths_and_methods_are_answered_with_their_status(rig: Rig) -> None:
    status, text = _request(rig, "/nowhere", "POST", b"{}")
    assert status == 404
    assert "/nowhere" in json.loads(text)["error"]
    assert _request(rig, "/slack/events", "GET")[0] == 405
    assert _request(rig, "/healthz", "POST", b"")[0] == 405


def test_an_oversized_body_is_refused_and_reaches_nothing(rig: Rig) -> None:
    from bot.slack.http import MAX_BODY

    body = '{"type": "event_callback", "pad": "' + "x" * MAX_BODY + '"}'
    status, text = rig.post(body, "application/json")
    assert status == 413
    assert "over" in json.loads(text)["error"]
    rig.drain()
    assert rig.service.calls == []


def _signed_post(url: str, body: str, content_type: str) -> urllib.request.Request:
    """A signed POST of ``body`` to the Slack path of the server at ``url``."""
    return urllib.request.Request(
        f"{url}/slack/events",
        data=body.encode(),
        headers={"Content-Type": content_type, **sign(body)},
        method="POST",
    )


def test_bolt_answers_keep_their_content_type_and_length(rig: Rig) -> None:
    form = urlencode(
        {"command": "/rpa", "text": "help", "user_id": "U1", "channel_id": "C1",
         "team_id": "T0001", "trigger_id": "t1", "response_url": "http://127.0.0.1:9/r"}
    )  # fmt: skip
    request = _signed_post(rig.server.url, form, "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert int(response.headers["Content-Length"]) == len(raw)
    assert "/rpa docs QUERY" in json.loads(raw)["text"]


def test_answering_a_request_makes_the_model_pause(rig: Rig) -> None:
    # bot/priority.py: the model pauses between layers while requests are answered.
    urgent = Priority(clock=lambda: 50.0)  # a frozen clock
    server = BackgroundServer(rig.app, signing_secret=SECRET, priority=urgent).start()
    try:
        assert not urgent.pressing()
        request = _signed_post(server.url, _event_body(), "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        assert urgent.works == 1  # the answer was urgent work
        assert urgent.pressing()  # the clock stands still: still within the linger
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert response.status == 200
        assert urgent.works == 1  # not the Slack path: not urgent work
    finally:
        server.wait_idle()
        server.stop()


SERVE = """
import logging
import sys
from types import SimpleNamespace
from pathlib import Path
from slack_sdk import WebClient
from bot.slack.app import create_app, surface_of
from bot.slack.http import serve_forever
from tests.fakes.fake_service import FakeService
from tests.slack.conftest import BOT_TOKEN, SECRET, make_settings

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
workspace, data, api_url, port = sys.argv[1:5]
settings = make_settings(Path(workspace), Path(data), SimpleNamespace(base_url=api_url))
app = create_app(settings, FakeService(), client=WebClient(token=BOT_TOKEN, base_url=api_url))
try:
    serve_forever(app, "127.0.0.1", int(port), signing_secret=SECRET)
finally:
    surface_of(app).close()
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_server_stops_on_a_signal_after_handling_what_it_acknowledged(
    api: MockSlackApi, workspace: Path, data_dir: Path, stop: signal.Signals
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-c", SERVE, str(workspace), str(data_dir), api.base_url, str(port)]
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the server's log says when it listens
            if "running on" in line:
                break
        else:
            raise AssertionError(f"the server never started: {process.communicate()[1]}")
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200
        body = _event_body()
        request = urllib.request.Request(
            f"{url}/slack/events", data=body.encode(),
            headers={"Content-Type": "application/json", **sign(body)}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        process.send_signal(stop)  # right after the acknowledgement
        log, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors + log
    assert "chat.update" in [c.method for c in api.calls]  # the reply went out before exit
