"""The Slack app: build it over a conversation service, check its tokens, run it.

``create_app`` wires bolt's listeners (messages, ``/rpa``, buttons, modals) to one
``Surface`` and takes over the turns a previous process accepted and never answered;
``run_slack`` serves it in Socket Mode (``SLACK_APP_TOKEN``) or HTTP mode
(``SLACK_SIGNING_SECRET``: Events API, commands and interactivity on ``/slack/events``, with
request signatures always verified, and ``/healthz``), as ``Settings.slack_mode`` says.

Listeners run before Slack's delivery is acknowledged (bolt's ``process_before_response``):
they only claim and queue, in a millisecond or two, so a delivery is acknowledged only once
what it is owed is stored. A signed request no listener takes (an unknown button or modal, an
event the bot does not handle) is acknowledged with 200 and logged at WARNING, without its
body: Slack shows people an error for anything else.

SIGTERM or Ctrl-C stops intake, gives answers being written ``Settings.shutdown_grace``
seconds, then tells each unfinished thread that the bot is restarting and exits; what was not
answered is answered after the next start. The whole shutdown takes ``shutdown_grace`` plus
about 10 seconds at most (20 s by default).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.events import ConversationService
from bot.priority import URGENT, Priority
from bot.slack import actions, assistant, commands, events, feedback, forms, turns
from bot.slack.agent import Capabilities
from bot.slack.surface import AddDocument, Surface, log
from bot.slack.worker import WorkQueue
from memory.db import Database
from memory.dedupe import Dedupe
from memory.errors import ConfigError, new_error_id
from memory.slack_feedback import Answers
from memory.slack_inbox import Inbox, Spool
from memory.slack_state import DecisionCards, JoinedThreads

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

MANIFEST = Path(__file__).with_name("manifest.yaml")
_SURFACES: weakref.WeakKeyDictionary[App, Surface] = weakref.WeakKeyDictionary()


class _TokenFromClient(logging.Filter):
    """Drops bolt's start-up warning that the token is unused because a client was given.

    bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself; the bot passes a client made
    with that same token, so the warning ("`token` will be unused") would only alarm an admin.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("slack_bolt.App")
if not any(isinstance(f, _TokenFromClient) for f in _BOLT_LOG.filters):
    _BOLT_LOG.addFilter(_TokenFromClient())


def web_client(settings: Settings) -> WebClient:
    """A Web API client with the bot token, pointed at ``Settings.slack_api_url``."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url)


def create_app(
    settings: Settings,
    service: ConversationService,
    client: WebClient | None = None,
    add_document: AddDocument | None = None,
) -> App:
    """The bolt ``App`` serving ``service``; ``client`` overrides the Web API client (tests)."""
    client = client or web_client(settings)
    if not client.token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the Slack app cannot start without it")
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    db = Database(settings.state_store)
    surface = Surface(
        settings=settings,
        service=service,
        client=client,
        queue=WorkQueue(settings.workers),
        dedupe=Dedupe(db),
        threads=JoinedThreads(db),
        cards=DecisionCards(db),
        inbox=Inbox(db, lease=settings.lease_seconds),
        spool=Spool(db),
        answers=Answers(db),
        caps=Capabilities(settings.slack_agent),
        add_document=add_document,
        answered_by=answered_by(settings),
    )
    # The secret is passed even when empty so that bolt never reads the environment itself;
    # verification stays on: Socket Mode requests are exempt, HTTP requests never are.
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=True,
        listener_executor=surface.listeners,
        process_before_response=True,  # listeners claim durably, then Slack gets its ack
        raise_error_for_unhandled_request=True,  # handled by _on_error: 200, logged
        name="rpa-agent",
    )
    app.error(_on_error)
    for part in (assistant, events, commands, actions, feedback, forms):
        part.register(app, surface)
    _SURFACES[app] = surface
    surface.queue.every(surface.inbox.lease / 3, lambda: _renew(surface))
    turns.resume(surface)
    return app


def answered_by(settings: Settings) -> tuple[str, str]:
    """The model and adapter that write the answers, as ``rpa-agent feedback`` names them."""
    return settings.model, settings.adapter.name if settings.adapter else ""


async def _renew(surface: Surface) -> None:
    """Keep this process's turns and take over those of a replica that died (or let its
    lease lapse): Slack got their acknowledgement, so nobody else would answer them."""
    await surface.queue.store(surface.inbox.renew)
    await surface.queue.store(turns.resume, surface)


def _on_error(error: Exception, request: Any) -> BoltResponse | None:
    """bolt's error handler: an unhandled request is acknowledged; a failure is logged."""
    if isinstance(error, BoltUnhandledRequestError):
        log.warning("acknowledged a Slack request no listener takes: %s", _what(request.body))
        return BoltResponse(status=200, body="")
    log.error("a Slack listener failed [%s]", new_error_id(), exc_info=error)
    return None


def _what(body: dict[str, Any]) -> str:
    """A request's kind and names, never its content (people's messages, form values)."""
    kind = str(body.get("type") or "")
    if kind == "event_callback":
        event = body.get("event") or {}
        return f"event {event.get('type')!r} (subtype {event.get('subtype')!r})"
    if kind == "block_actions":
        ids = [a.get("action_id") for a in body.get("actions") or []]
        return f"block_actions {ids!r}"
    if kind in ("view_submission", "view_closed"):
        return f"{kind} callback_id {(body.get('view') or {}).get('callback_id')!r}"
    if body.get("command"):
        return f"command {body.get('command')!r}"
    return f"request of type {kind!r}"


def surface_of(app: App) -> Surface:
    """The ``Surface`` behind an app made by ``create_app`` (to close its queue, in tests)."""
    return _SURFACES[app]


def check_tokens(settings: Settings) -> list[str]:
    """Problems with the configured Slack tokens, checked against Slack (empty: all good)."""
    problems: list[str] = []
    if settings.slack_bot_token is None:
        return ["SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)"]
    if settings.slack_mode is None:
        problems.append("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    bot = settings.slack_bot_token.get_secret_value()
    if not bot.startswith("xoxb-"):
        problems.append(
            "SLACK_BOT_TOKEN does not look like a bot token (it should start with xoxb-)"
        )
    problems += _call_problems("SLACK_BOT_TOKEN", lambda: web_client(settings).auth_test())
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        if not app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN does not look like an app-level token (xapp-...)")
        client = WebClient(base_url=settings.slack_api_url)
        problems += _call_problems(
            "SLACK_APP_TOKEN", lambda: client.apps_connections_open(app_token=app_token)
        )
    return problems


def _call_problems(name: str, call: Callable[[], object]) -> list[str]:
    try:
        call()
    except SlackApiError as exc:
        return [f"{name} was refused by Slack: {exc.response.get('error')!r}"]
    except (SlackClientError, OSError) as exc:
        return [f"{name} could not be checked: Slack is unreachable ({type(exc).__name__})"]
    return []


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Every object alive on entry stays out of the garbage collector's full collections.

    Once the bot is loaded, the process holds about half a million objects (the model, torch,
    transformers, Chroma); a full collection walks all of them and paused every thread for
    about 250 ms, acknowledgements included. What is loaded at start-up lives as long as the
    process, so it is collected once on entry and then frozen (``gc.freeze``); later objects
    are collected as usual. On exit they are given back, so the interpreter's last collections
    can free them (extensions report leaks otherwise).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def socket_mode_handler(
    app: App, app_token: str, priority: Priority = URGENT, **options: Any
) -> SocketModeHandler:
    """bolt's Socket Mode handler; the model pauses while it handles a request (``bot/priority.py``)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    class Handler(SocketModeHandler):
        def handle(self, client: Any, req: Any) -> None:
            with priority.work():  # acknowledged (sent back over the socket) before it ends
                super().handle(client, req)

    return Handler(app, app_token, **options)


def _until_stopped() -> None:
    """Block until SIGTERM or Ctrl-C (on the main thread; elsewhere until the process ends)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        stop.wait()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda number, frame: stop.set()) for sig in signals}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_slack(
    settings: Settings, service: ConversationService, add_document: AddDocument | None = None
) -> None:
    """Serve Slack until interrupted, in the mode the configured tokens allow."""
    mode = settings.slack_mode
    if mode is None:
        raise ConfigError(
            "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode) "
            "or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode)"
        )
    app = create_app(settings, service, add_document=add_document)
    try:
        with frozen_heap():
            _serve(app, settings, mode)
    finally:
        log.info(
            "Slack: finishing the answers being written (%g s at most)", settings.shutdown_grace
        )
        surface_of(app).close()
        log.info("Slack: stopped")


def _serve(app: App, settings: Settings, mode: str) -> None:
    """Serve ``app`` in ``mode`` until interrupted."""
    if mode == "socket":
        assert settings.slack_app_token is not None
        log.info("Slack: Socket Mode")
        handler = socket_mode_handler(app, settings.slack_app_token.get_secret_value())
        handler.connect()
        _until_stopped()
        log.info("Slack: stopping; no more deliveries are taken")
        handler.close()
    else:
        from bot.slack.http import serve_forever

        log.info("Slack: HTTP mode on %s:%s", settings.http_host, settings.http_port)
        secret = settings.slack_signing_secret
        serve_forever(
            app,
            settings.http_host,
            settings.http_port,
            signing_secret=secret.get_secret_value() if secret else None,
            spool=surface_of(app).spool,
        )
