"""Serves the real Slack app in HTTP mode in a process of its own, for the restart tests.

``python -m tests.slack.serve_driver WORKSPACE DATA_DIR API_URL PORT MODE``: ``slow`` streams
every answer forever (replies stay in flight until the process is stopped or killed), ``echo``
answers at once ("You said: ..."). The log says "running on" once the server listens.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

from slack_sdk import WebClient

from bot.events import Event, Inbound, TextDelta
from bot.slack.app import create_app, surface_of
from bot.slack.http import serve_forever
from tests.fakes.fake_service import FakeService
from tests.slack.conftest import BOT_TOKEN, SECRET, make_settings


class SlowService(FakeService):
    """Answers that never end: a piece every 0.3 s until the reader stops reading."""

    def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        return self._endless()

    async def _endless(self) -> AsyncIterator[Event]:
        n = 0
        while True:
            yield TextDelta(f"part {n} ")
            n += 1
            await asyncio.sleep(0.3)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    workspace, data, api_url, port, mode = sys.argv[1:6]
    settings = make_settings(
        Path(workspace), Path(data), SimpleNamespace(base_url=api_url), shutdown_grace=1.0
    )
    service = SlowService() if mode == "slow" else FakeService()
    client = WebClient(token=BOT_TOKEN, base_url=api_url)
    app = create_app(settings, service, client=client)
    try:
        serve_forever(
            app, "127.0.0.1", int(port), signing_secret=SECRET, spool=surface_of(app).spool
        )
    finally:
        surface_of(app).close()


if __name__ == "__main__":
    main()
