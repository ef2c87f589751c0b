"""The ``rpa-agent`` command line: one typer app, subcommands registered from one module per area.

Each area module exposes ``register(app)``; the list below is the complete set, kept explicit
so that ``rpa-agent --help`` is fast (heavy imports happen inside the commands). What the
modules share (the root app, the ``bench`` and ``eval`` groups, the settings) is in
``bot/cli/common.py``.
"""

from __future__ import annotations

import typer

from bot.cli.common import app

_registered = False


def get_app() -> typer.Typer:
    """The app with every area's commands registered (once); tests call this too."""
    global _registered
    if not _registered:
        from bot.cli import (
            bench_cmds,
            eval_cmds,
            knowledge,
            ops,
            process_cmds,
            tools_cmds,
            train_cmds,
        )

        for part in (ops, knowledge, tools_cmds, process_cmds, train_cmds, eval_cmds, bench_cmds):
            part.register(app)
        _registered = True
    return app


def main() -> None:
    """Console-script entry point."""
    get_app()()


if __name__ == "__main__":
    main()
