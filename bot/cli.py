"""The ``rpa-agent`` command line: one typer app, subcommands registered from one module per area.

Each area module exposes ``register(app)``; the list below is the complete set, kept explicit
so that ``rpa-agent --help`` is fast (heavy imports happen inside the commands).
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
_registered = False


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


def get_app() -> typer.Typer:
    """The app with every area's commands registered (once); tests call this too."""
    global _registered
    if not _registered:
        from bot.cli_parts import (
            bench_cmds,
            knowledge,
            model,
            ops,
            process_cmds,
            tools_cmds,
            train_cmds,
        )

        for part in (ops, model, knowledge, tools_cmds, process_cmds, train_cmds, bench_cmds):
            part.register(app)
        _registered = True
    return app


def main() -> None:
    """Console-script entry point."""
    get_app()()


if __name__ == "__main__":
    main()
