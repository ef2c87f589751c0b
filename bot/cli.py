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


def _register_all() -> None:
    from bot.cli_parts import knowledge, model, ops, tools_cmds

    for part in (model, knowledge, tools_cmds, ops):
        part.register(app)


def main() -> None:
    """Console-script entry point."""
    _register_all()
    app()


if __name__ == "__main__":
    main()
