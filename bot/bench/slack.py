"""``rpa-agent bench slack``: HTTP mode under a burst while the model is busy.

The real bolt app serves signed Events API requests on loopback (the load comes from another
process: ``bot/bench/slack_load.py``); a stand-in Slack Web API (an aiohttp server answering
``ok``, another process too: ``bot/bench/slack_stub.py``) records when each thread's first
message arrives and how many messages each thread got. The acknowledgement rows hold the
conversation service busy (as a long generation would) until every event has been acknowledged,
so the figures show that acknowledgement never waits for the model. With ``decoding``, the
configured model also decodes a long reply in the same process throughout the burst, so the
server shares the two cores (and the GIL) with a real decode loop. With ``service_for``, the
events are answered by a real conversation service (the configured model behind it), one of
them a message far over the context window (``huge_tokens``), and the figures say whether each
event was answered exactly once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bot.bench.report import percentile
from bot.bench.slack_load import SECRET, THREAD, fire_from_another_process
from bot.bench.slack_stub import SlackStub
from bot.config import Settings
from bot.events import Event, Final, Inbound, TextDelta


class BusyService:
    """Answers every message only after ``release``; counts what reached it."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    async def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        with self._lock:
            self.started += 1
        await asyncio.to_thread(self.released.wait, 120)
        yield TextDelta("Working on it")
        yield Final("Done.")

    async def command(self, inbound: Inbound, name: str, argument: str) -> AsyncIterator[Event]:
        yield Final("ok")

    async def decide(
        self, action_id: str, user: str, decision: Any, arguments: Any = None
    ) -> AsyncIterator[Event]:
        yield Final("ok")

    async def submit_form(
        self, inbound: Inbound, form: str, values: dict[str, Any]
    ) -> AsyncIterator[Event]:
        yield Final("ok")

    def stop(self, conversation_id: str) -> bool:
        return False


@contextmanager
def _model_decoding(loaded: Any) -> Iterator[dict[str, Any]]:
    """A long greedy reply decodes on ``loaded``'s scheduler while the block runs.

    Yields a dict that gets ``decoded_tokens`` (tokens of the reply when it was stopped),
    ``busy_throughout`` (False when the reply ended on its own before the block did) and
    ``paused_ms`` (how long the reply's forward passes waited for requests being answered).
    """
    from bot.llm.engine.options import DecodingOptions
    from bot.llm.engine.scheduler import scheduler_for
    from bot.priority import URGENT

    prompt = loaded.tokenizer("Travel expense policy, section by section. " * 8)["input_ids"]
    options = DecodingOptions(
        decoding="greedy", max_new_tokens=8192, draft_tokens=0, stop_on_loop=0
    )
    ends = {t for t in (loaded.tokenizer.eos_token_id, loaded.model.generation_config.eos_token_id)
            if isinstance(t, int)}  # fmt: skip

    def never_end(input_ids: Any, scores: Any) -> Any:  # it decodes for as long as the block runs
        scores[..., list(ends)] = float("-inf")
        return scores

    handle = scheduler_for(loaded).submit(prompt, options, [never_end])
    pieces = iter(handle)
    next(pieces, None)  # the prompt is in and the reply is decoding
    figures: dict[str, Any] = {}
    paused = URGENT.paused_seconds
    try:
        yield figures
    finally:
        pieces.close()  # the reader leaves: the scheduler ends the reply at its next step
        finished = handle.result()
        figures["decoded_tokens"] = finished.tokens
        figures["busy_throughout"] = finished.reason == "cancelled"
        figures["paused_ms"] = round((URGENT.paused_seconds - paused) * 1000, 1)


def first_update_ms(
    stub: SlackStub, sent_at: Mapping[int, float] | Sequence[float], events: int
) -> list[float]:
    """Milliseconds from each event's sending to its thread's first message, where there is one."""
    return [
        (stub.first_post[THREAD.format(n=n)] - sent_at[n]) * 1000
        for n in range(events)
        if THREAD.format(n=n) in stub.first_post
    ]


def latency_figures(latencies: list[float], first: list[float]) -> dict[str, Any]:
    """Acknowledgement and first-message figures of one run (milliseconds)."""
    return {
        "ack_ms_p50": round(percentile(latencies, 50), 2),
        "ack_ms_p99": round(percentile(latencies, 99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "acks_over_3s": sum(1 for ms in latencies if ms > 3000),
        "first_update_ms_p50": round(percentile(first, 50), 2),
        "first_update_ms_p99": round(percentile(first, 99), 2),
    }


def run_slack_bench(
    settings: Settings,
    events: int = 200,
    concurrency: int = 200,
    workdir: Path | None = None,
    fast_ack: bool = True,
    decoding: Any = None,
    service_for: Callable[[Settings], Any] | None = None,
    huge_tokens: int = 0,
    answer_timeout: float = 1800.0,
) -> dict[str, Any]:
    """Serve the real app, send ``events`` signed mentions at once, measure acks and first updates.

    ``decoding``: a loaded model that decodes a long reply in this process during the burst.
    ``service_for``: the conversation service to answer with (made from the bench's settings);
    then the bench waits for every answer, with the model decoding throughout, and event
    ``events // 2`` is a message of ``huge_tokens`` tokens.
    """
    import tempfile

    from slack_sdk import WebClient

    from bot.slack.app import create_app, frozen_heap, surface_of
    from bot.slack.http import BackgroundServer

    stub = SlackStub().start()
    data = Path(workdir or tempfile.mkdtemp(prefix="rpa-bench-slack-"))
    bench_settings = settings.model_copy(
        update={
            "data_dir": data,
            "slack_api_url": f"http://127.0.0.1:{stub.port}/api/",
            "slack_signing_secret": _secret(),
        }
    )
    service = service_for(bench_settings) if service_for else BusyService()
    client = WebClient(token="xoxb-bench", base_url=bench_settings.slack_api_url)
    app = create_app(bench_settings, service, client=client)
    surface = surface_of(app)
    server = BackgroundServer(
        app, signing_secret=SECRET if fast_ack else None, spool=surface.spool
    ).start()
    busy: AbstractContextManager[dict[str, Any]] = (
        _model_decoding(decoding) if decoding is not None else nullcontext({})
    )
    huge_at = events // 2 if huge_tokens else -1
    started = time.perf_counter()
    try:
        with frozen_heap(), busy as model:  # frozen as ``run_slack`` serves
            latencies, sent_at = fire_from_another_process(
                f"{server.url}/slack/events", events, concurrency, huge_at, huge_tokens
            )
            if service_for is not None:  # answered while the model decodes
                _settle(server, surface, answer_timeout)
        if isinstance(service, BusyService):
            service.released.set()
        _settle(server, surface, answer_timeout)
        answered_s = time.perf_counter() - started
        answers = _answers(surface, stub, events)
        surface.close()
    finally:
        server.stop()
        stub.stop()
    first = first_update_ms(stub, sent_at, events)
    return {
        "events": events,
        "concurrency": concurrency,
        "fast_ack": fast_ack,
        "huge_tokens": huge_tokens,
        **latency_figures(latencies, first),
        "threads_with_an_update": len(first),
        **answers,
        "all_answered_s": round(answered_s, 1),
        "reached_service": service.started if isinstance(service, BusyService) else None,
        "workers": bench_settings.workers,
        "model_decoding": decoding is not None,
        **{f"model_{k}": v for k, v in model.items()},
    }


def _settle(server: Any, surface: Any, timeout: float) -> None:
    """Wait until every acknowledged event is handed over and every job has ended."""
    server.wait_idle(timeout)
    if not surface.queue.wait_idle(timeout):
        raise RuntimeError(f"the bench's answers did not end within {timeout:g} s")


def _answers(surface: Any, stub: SlackStub, events: int) -> dict[str, int]:
    """How many events were answered exactly once (one message, marked answered), and not."""
    owed = {turn.payload["inbound"]["thread"] for turn in surface.inbox.open_turns()}
    threads = [THREAD.format(n=n) for n in range(events)]
    return {
        "answered_once": sum(1 for t in threads if stub.posts.get(t) == 1 and t not in owed),
        "unanswered": sum(1 for t in threads if t in owed or t not in stub.posts),
        "duplicate_replies": sum(1 for t in threads if stub.posts.get(t, 0) > 1),
    }


def _secret() -> Any:
    from pydantic import SecretStr

    return SecretStr(SECRET)


def real_service(loaded: Any, max_new_tokens: int = 16) -> Callable[[Settings], Any]:
    """How the burst row answers: the service ``rpa-agent run`` builds, over ``loaded``, with
    short answers (the row measures the surface and the bounds, not the answers' length)."""

    def build(settings: Settings) -> Any:
        from bot.llm.chat_model import LocalChatModel
        from bot.llm.engine.options import DecodingOptions
        from bot.wiring import build_app

        short = settings.model_copy(
            update={"prefetch_docs": False, "max_new_tokens": max_new_tokens}
        )
        model = LocalChatModel(options=DecodingOptions.from_settings(short), loaded=loaded)
        return build_app(short, chat_model=model).service

    return build
