"""What every command module of the CLI shares: the root app, the shared groups, the settings.

Command modules import from here; nothing here imports a command module, so the entry point
(``bot/cli/__init__.py``) is the only place that knows them all.
"""

from __future__ import annotations

import logging

import typer

from bot.config import Settings, load_settings

app = typer.Typer(
    name="rpa-agent",
    help="A local-first process-automation bot: chat, documents, forms, processes, approvals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Shared command groups that several areas add to (`rpa-agent bench model`, `eval retrieval`, ...).
bench_app = typer.Typer(
    help="Measure speed: model, retrieval, slack, e2e, all.", no_args_is_help=True
)
eval_app = typer.Typer(help="Measure quality: retrieval, agent.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")

_settings: Settings | None = None


def settings() -> Settings:
    """The settings of this invocation (read once)."""
    global _settings
    if _settings is None:
        from pydantic import ValidationError

        try:
            _settings = load_settings()
        except ValidationError as exc:
            typer.secho(f"Configuration error:\n{exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
        logging.basicConfig(
            level=_settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    return _settings


def reset_settings() -> None:
    """Forget the settings read so far (the next command reads the environment again)."""
    global _settings
    _settings = None
