"""``bench slack``: its selector-driven raw-HTTP load generator drives the real bolt app in HTTP mode; every
signed event is acknowledged with 200, reaches the service once and gets a streamed update;
a request whose signature does not check out is refused and counted as a failure."""

from __future__ import annotations

import asyncio

import pytest

from bot.bench import slack as bench
from bot.config import Settings


def test_every_event_of_a_burst_is_acknowledged_and_handled(tmp_path) -> None:
    figures = bench.run_slack_bench(Settings(), events=12, concurrency=12, workdir=tmp_path)
    assert figures["reached_service"] == 12
    assert figures["threads_with_an_update"] == 12
    assert 0 < figures["ack_ms_p50"] <= figures["ack_ms_p99"] <= figures["ack_ms_max"]
    assert figures["first_update_ms_p50"] > 0


def test_the_load_generator_reports_a_refused_request() -> None:
    from aiohttp import web

    async def scenario() -> None:
        async def refuse(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"error": "invalid request"}, status=401)

        app = web.Application()
        app.router.add_post("/slack/events", refuse)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            with pytest.raises(RuntimeError, match="HTTP 401"):
                url = f"http://127.0.0.1:{port}/slack/events"
                await asyncio.to_thread(bench._fire, url, 3, 3)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_requests_are_signed_as_slack_signs_them() -> None:
    from slack_sdk.signature import SignatureVerifier

    raw = bench._request("127.0.0.1", 3000, "/slack/events", 7)
    head, _, body = raw.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "POST /slack/events HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body.encode())
    assert SignatureVerifier(bench.SECRET).is_valid_request(body, headers)
    assert '"EvBench00007"' in body
