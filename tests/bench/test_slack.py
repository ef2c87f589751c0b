"""``bench slack``: its selector-driven raw-HTTP load generator drives the real bolt app in HTTP mode; every
signed event is acknowledged with 200, reaches the service once and gets a streamed update;
a request whose signature does not check out is refused and counted as a failure. The burst
row answers with the real service, one message far over the context window among them."""

from __future__ import annotations

import asyncio

import pytest

from bot.bench import slack as bench
from bot.bench import slack_load
from bot.bench.slack_replicas import run_replicas_bench
from bot.config import Settings


def test_every_event_of_a_burst_is_acknowledged_and_handled(tmp_path) -> None:
    figures = bench.run_slack_bench(
        Settings(slack_agent=False), events=12, concurrency=12, workdir=tmp_path
    )
    assert figures["reached_service"] == 12
    assert figures["threads_with_an_update"] == 12
    assert 0 < figures["ack_ms_p50"] <= figures["ack_ms_p99"] <= figures["ack_ms_max"]
    assert figures["first_update_ms_p50"] > 0
    assert figures["answered_once"] == 12 and figures["duplicate_replies"] == 0


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
                await asyncio.to_thread(slack_load.fire, url, 3, 3)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_requests_are_signed_as_slack_signs_them() -> None:
    from slack_sdk.signature import SignatureVerifier

    raw = slack_load.request_bytes("127.0.0.1", 3000, "/slack/events", 7)
    head, _, body = raw.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "POST /slack/events HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body.encode())
    assert SignatureVerifier(slack_load.SECRET).is_valid_request(body, headers)
    assert '"EvBench00007"' in body


def test_a_burst_with_a_huge_message_is_answered_once_each_by_the_real_service(
    settings: Settings,
) -> None:
    from bot.wiring import build_app
    from tests.fakes.chat_model import ScriptedChatModel

    model = ScriptedChatModel().enqueue(*["Noted."] * 24)

    def service_for(bench_settings: Settings) -> object:
        quiet = bench_settings.model_copy(update={"prefetch_docs": False})
        return build_app(quiet, chat_model=model).service

    figures = bench.run_slack_bench(
        settings.model_copy(update={"slack_agent": False}),
        events=24,
        concurrency=24,
        service_for=service_for,
        huge_tokens=20_000,
    )
    assert figures["acks_over_3s"] == 0
    assert figures["answered_once"] == 24
    assert figures["unanswered"] == figures["duplicate_replies"] == 0
    assert figures["threads_with_an_update"] == 24
    seen = max(len(str(call[-1].content)) for call in model.calls)
    assert seen < len(slack_load.huge_text(20_000)) / 10  # the huge one reached the model cut


def test_two_replicas_on_one_state_answer_every_event_once(state_target: str, tmp_path) -> None:
    url = state_target if state_target.startswith("postgresql://") else None
    figures = run_replicas_bench(
        Settings(_env_file=None, workers=2),  # type: ignore[call-arg]
        events=20,
        concurrency=20,
        database_url=url,
        workdir=tmp_path / "replicas",
    )
    assert figures["state"] == ("postgresql" if url else "sqlite")
    assert figures["deliveries"] == 22  # every tenth event went to both replicas
    assert figures["answered_once"] == 20
    assert figures["unanswered"] == figures["duplicate_replies"] == 0
    assert 0 < figures["ack_ms_p50"] <= figures["ack_ms_p99"] <= figures["ack_ms_max"]
