"""CLI commands that run the bot: ``run``, ``chat`` and ``model prepare``.

``model prepare`` converts the model once (``make run`` calls it after installing), so the first
question never waits for a conversion. The chat keeps the screen for the conversation: logs,
warnings and library output go to a file under the data dir, whose path it shows once; the model
loads in the background while the person types.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
log = logging.getLogger(__name__)
model_app = typer.Typer(help="The local language model.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``chat`` and ``model prepare``."""
    app.command("run")(run)
    app.command("chat")(chat)
    app.add_typer(model_app, name="model")
    model_app.command("prepare")(model_prepare)


def run() -> None:
    """Start the bot: Slack when its tokens are configured, otherwise the terminal chat."""
    from bot.cli.common import settings as get_settings

    settings = get_settings()
    if settings.slack_mode is None:
        console.print(
            "[dim]Slack is not configured (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN, or "
            "SLACK_SIGNING_SECRET for HTTP mode, in .env: see README, 'Connect Slack'). "
            "Starting the terminal chat.[/dim]"
        )
        chat(user="")
        return
    from bot.slack.app import run_slack
    from bot.wiring import build_app

    app = build_app(settings)
    _prepare(app)
    for note in adapter_notes(settings):
        log.warning("%s", note)
        console.print(f"[yellow]{escape(note)}[/yellow]")
    _preload(app)
    keeper = _housekeeper(app)
    try:
        run_slack(settings, app.service, add_document=_document_adder(app))
    finally:
        keeper.stop()
        app.service.close()


def chat(
    user: str = typer.Option(
        "", help="Who you are in the conversation (default RPA_TERMINAL_USER)."
    ),
) -> None:
    """Chat with the assistant in the terminal (input may be piped)."""
    from bot.cli.common import logs_in_file
    from bot.cli.common import settings as get_settings

    settings = get_settings()
    try:
        with logs_in_file(settings) as log_path:
            _chat(settings, user, log_path)
    except KeyboardInterrupt:  # Ctrl-C while starting up (e.g. indexing the documents)
        console.print("[dim]Bye.[/dim]")
        raise typer.Exit(130) from None


def adapter_notes(settings: Any) -> list[str]:
    """A line when the model is untrained for this workspace, or trained on it as it was."""
    from bot.adapters import check_adapter

    found = check_adapter(settings)
    return [] if found.ok else [f"{found.message[:1].upper()}{found.message[1:]}. Fix: {found.fix}"]


def _chat(settings: Any, user: str, log_path: Path) -> None:
    from bot.terminal import TerminalChat
    from bot.terminal_forms import ValueStyle
    from bot.wiring import build_app
    from memory.errors import new_error_id
    from tools.workspace import load_profile

    log.info("terminal chat: workspace %s, data dir %s", settings.workspace, settings.data_dir)
    app = build_app(settings)
    _prepare(app)
    keeper = _housekeeper(app)
    warmup = ModelWarmup(app) if sys.stdin.isatty() else None
    profile = load_profile(settings.workspace)
    terminal = TerminalChat(
        app.service,
        user=user or settings.terminal_user,
        console=console,
        reset=app.service.reset_thread,
        roles=app.roles,
        style=ValueStyle.of(profile),
        workspace=app.settings.workspace,
        company=profile.company.name,
        notes=[f"Logs: {_shown(log_path)}", *adapter_notes(settings)],
        waiting_note=warmup.note if warmup else lambda: None,
    )
    try:
        asyncio.run(terminal.run())
    except Exception as exc:  # the chat's one handler: the log has the traceback, the screen a line
        error_id = new_error_id()
        log.exception("%s: the terminal chat stopped", error_id)
        console.print(f"[red]The chat stopped: {escape(str(exc) or type(exc).__name__)}[/red]")
        console.print(f"[dim](error id {error_id}; details in {_shown(log_path)})[/dim]")
        raise typer.Exit(1) from None
    finally:
        keeper.stop()
        app.service.close(wait=True)  # a stopped answer ends at its next token: wait for it
        if warmup is not None:
            warmup.wait()  # a load cut off by the interpreter's exit would print a traceback


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class ModelWarmup:
    """Loads the model on a thread while the person types the first question."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._done = threading.Event()
        threading.Thread(target=self._load, name="rpa-model-warmup").start()

    def _load(self) -> None:
        try:
            _load_model(self.app)
        except Exception:  # the first question reports it; here it is only logged
            log.exception("the model could not be loaded ahead of the first question")
        finally:
            self._done.set()

    def wait(self) -> None:
        if not self._done.is_set():
            with console.status("Waiting for the model to finish loading..."):
                self._done.wait()

    def note(self) -> str | None:
        """What a question waits for meanwhile (the chat's spinner shows it)."""
        return None if self._done.is_set() else "loading the model"


def _load_model(app: Any) -> None:
    agent = app.service.agent()
    runtime = getattr(getattr(agent, "model", None), "runtime", None)
    if callable(runtime):
        runtime()


def _prepare(app: Any) -> None:
    """Bring the knowledge base up to date (unchanged files are skipped) and recover."""
    from bot.cli.knowledge import run_ingest

    docs = app.settings.workspace / "docs"
    if docs.is_dir():
        run_ingest(app.knowledge.get(), app.settings, [docs])
    _recover(app)


def _preload(app: Any) -> None:
    """Load the model before serving, so the first message does not wait for it.

    A model that cannot load is reported and the bot serves anyway: the /commands, forms and
    approvals work without it, and each message that needs it says why it cannot answer.
    """
    from memory.errors import RpaError

    try:
        with console.status("Loading the model..."):
            _load_model(app)
    except RpaError as exc:
        console.print(f"[yellow]The model is not available: {exc}[/yellow]")


def _housekeeper(app: Any) -> Any:
    from bot.background import Housekeeper, housekeeping_chores

    return Housekeeper(housekeeping_chores(app), app.settings.housekeeping_seconds).start()


def _recover(app: Any) -> None:
    for line in app.service.recover():
        console.print(f"[dim]recovered: {line}[/dim]")
    for line in app.engine.recover():
        console.print(f"[dim]resumed: {line}[/dim]")


def _document_adder(app: Any) -> Any:
    def add_document(path: Path, user: str) -> str:
        from memory.ingest import ingest_file

        report = ingest_file(app.knowledge.get(), Path(path))
        return str(report)

    return add_document


# ---- the model, prepared ahead of time --------------------------------------------------------
def model_prepare() -> None:
    """Convert the configured model once for fast loading (`make run` does this after installing)."""
    from bot.cli.common import settings as get_settings

    message, ok = prepare_model(get_settings())
    console.print(message, soft_wrap=True)  # the path stays whole
    if not ok:
        raise typer.Exit(1)


def prepare_model(settings: Any) -> tuple[str, bool]:
    """Make the model ready to load in about a second; ``(what happened, whether it is ready)``."""
    if settings.llm_backend == "remote":
        where = settings.remote_base_url or "(RPA_REMOTE_BASE_URL is not set)"
        return f"The model runs on a server, {where}: nothing to prepare.", bool(
            settings.remote_base_url
        )
    from bot.cli.common import logs_in_file
    from bot.llm.loading import ensure_converted, resolve_model
    from memory.errors import ModelNotAvailable, new_error_id

    try:
        resolved = resolve_model(settings.model)
    except ModelNotAvailable as exc:
        return f"[red]The model is not available: {escape(str(exc))}[/red]", False
    started = time.monotonic()
    with logs_in_file(settings) as log_path, _one_bar("Preparing the model"):
        try:
            directory = ensure_converted(resolved, settings.models_dir)
        except Exception as exc:  # a failed conversion leaves only a .partial folder behind
            error_id = new_error_id()
            log.exception("%s: converting the model failed", error_id)
            return (
                f"[red]Converting the model failed: {escape(str(exc))}[/red] "
                f"[dim](error id {error_id}; details in {_shown(log_path)})[/dim]",
                False,
            )
    seconds = time.monotonic() - started
    return f"Model ready: {resolved.label} in {_shown(directory)} ({seconds:.0f} s).", True


def _one_bar(description: str) -> Any:
    """One progress bar (and the seconds spent) for a step that reports no progress of its own."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,  # what the conversion prints goes to the log, not above the bar
        redirect_stderr=False,
    )
    bar.add_task(f"{description} (once, about 30 s on a CPU)", total=None)
    return bar
