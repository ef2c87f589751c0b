"""The ``rpa-agent`` command line: one typer app, subcommands registered from one module per area.

Each area module exposes ``register(app)``; the list below is the complete set, kept explicit
so that ``rpa-agent --help`` is fast (heavy imports happen inside the commands). What the
modules share (the root app, the ``bench`` and ``eval`` groups, the settings) is in
``bot/cli/common.py``.
"""

from __future__ import annotations

import importlib.metadata

import typer

from bot.cli.common import app

_registered = False


def version_text() -> str:
    """``rpa-agent 0.1.0``: the installed distribution's version."""
    try:
        return f"rpa-agent {importlib.metadata.version('rpa-agent')}"
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "rpa-agent (not installed: run `make run` or `pip install -e .`)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """A local-first process-automation bot: chat, documents, forms, processes, approvals."""


def get_app() -> typer.Typer:
    """The app with every area's commands registered (once); tests call this too."""
    global _registered
    if not _registered:
        from bot.cli import (
            bench_cmds,
            db_cmds,
            doctor,
            eval_cmds,
            feedback_cmds,
            knowledge,
            ops,
            process_cmds,
            tools_cmds,
            train_cmds,
        )

        app.callback()(_root)
        for part in (
            ops,
            doctor,
            knowledge,
            tools_cmds,
            process_cmds,
            db_cmds,
            feedback_cmds,
            train_cmds,
            eval_cmds,
            bench_cmds,
        ):
            part.register(app)
        _registered = True
    return app


def main() -> None:
    """Console-script entry point."""
    get_app()()


if __name__ == "__main__":
    main()
