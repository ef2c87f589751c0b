"""CLI commands that run the bot or look at it: ``run``, ``chat``, ``doctor``."""

from __future__ import annotations

import asyncio
import importlib.metadata as metadata
import platform
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(app: typer.Typer) -> None:
    """Add ``run``, ``chat`` and ``doctor``."""
    app.command("run")(run)
    app.command("chat")(chat)
    app.command("doctor")(doctor)


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
    from bot.cli.common import settings as get_settings
    from bot.terminal import TerminalChat
    from bot.wiring import build_app

    settings = get_settings()
    app = build_app(settings)
    _prepare(app)
    keeper = _housekeeper(app)
    terminal = TerminalChat(
        app.service,
        user=user or settings.terminal_user,
        console=console,
        reset=app.service.reset_thread,
    )
    try:
        asyncio.run(terminal.run())
    finally:
        keeper.stop()
        app.service.close()


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
            agent = app.service.agent()
            runtime = getattr(getattr(agent, "model", None), "runtime", None)
            if callable(runtime):
                runtime()
    except RpaError as exc:
        console.print(f"[yellow]The model is not available: {exc}[/yellow]")


def _housekeeper(app: Any) -> Any:
    from bot.background import Housekeeper, housekeeping_chores

    return Housekeeper(housekeeping_chores(app)).start()


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


def doctor() -> None:
    """Show the resolved configuration (secrets masked), the runtime, the model and Slack readiness."""
    from bot.cli.common import settings as get_settings

    settings = get_settings()
    table = Table(title="Configuration", show_lines=False)
    table.add_column("setting")
    table.add_column("value")
    for name, value in settings.public_view().items():
        table.add_row(name, str(value))
    console.print(table)
    _print_runtime(settings)
    _print_model(settings)
    _print_slack(settings)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _print_runtime(settings: Any) -> None:
    console.print("\n[bold]Runtime[/bold]")
    console.print(f"  python {platform.python_version()} on {platform.machine()}")
    for package in ("torch", "transformers", "langchain", "langgraph", "chromadb", "slack-bolt"):
        console.print(f"  {package} {_version(package)}")
    from bot.llm.loading import describe_device

    console.print(f"  device: {describe_device()}")
    console.print(f"  data dir: {settings.data_dir.resolve()}")
    console.print(f"  workspace: {settings.workspace}")


def _print_model(settings: Any) -> None:
    console.print("\n[bold]Model[/bold]")
    if settings.llm_backend == "remote":
        console.print(f"  remote: {settings.remote_base_url or '(RPA_REMOTE_BASE_URL is not set)'}")
        return
    from bot.llm.loading import describe_model

    for line in describe_model(settings):
        console.print(f"  {line}")


def _print_slack(settings: Any) -> None:
    console.print("\n[bold]Slack[/bold]")
    mode = settings.slack_mode
    if mode is None:
        missing = []
        if not settings.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN")
        if not (settings.slack_app_token or settings.slack_signing_secret):
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        console.print(f"  not configured: missing {', '.join(missing)}")
        return
    console.print(f"  mode: {mode}")
    from bot.slack.app import check_tokens

    problems = check_tokens(settings)
    for problem in problems:
        console.print(f"  [red]{problem}[/red]")
    if not problems:
        console.print("  tokens: ok (auth.test)")
