"""What every command module of the CLI shares: the root app, the shared groups, the settings.

Command modules import from here; nothing here imports a command module, so the entry point
(``bot/cli/__init__.py``) is the only place that knows them all.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from bot.config import Settings, load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = Path("logs") / "rpa-agent.log"  # under the data dir

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
        logging.basicConfig(level=_settings.log_level.upper(), format=LOG_FORMAT)
    return _settings


def reset_settings() -> None:
    """Forget the settings read so far (the next command reads the environment again)."""
    global _settings
    _settings = None


class _ToLog(io.TextIOBase):
    """A stand-in for ``sys.stderr`` that writes into the log file while it is active.

    Libraries keep references to the stderr they found (transformers' handler, tqdm bars);
    once inactive, those writes go to the real stderr again instead of a closed file.
    """

    def __init__(self, log: io.TextIOBase, screen: io.TextIOBase) -> None:
        self.log, self.screen, self.active = log, screen, True

    def write(self, text: str) -> int:
        return (self.log if self.active else self.screen).write(text)

    def flush(self) -> None:
        (self.log if self.active else self.screen).flush()

    def isatty(self) -> bool:
        return False  # progress bars then write plain lines, not animations


@contextmanager
def logs_in_file(settings: Settings) -> Iterator[Path]:
    """Logs, Python warnings and what libraries print to stderr go to the log file, not the screen.

    For the terminal chat, where the screen is the conversation: yields the log's path (under
    the data dir) to show once. Everything is as before when the block ends.
    """
    path = settings.data_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    screens = {sys.stderr, sys.__stderr__, sys.stdout, sys.__stdout__}
    removed = [h for h in root.handlers if getattr(h, "stream", None) in screens]
    previous_level, previous_stderr = root.level, sys.stderr
    with open(path, "a", encoding="utf-8", buffering=1) as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        stand_in = _ToLog(log, previous_stderr)  # type: ignore[arg-type]
        for old in removed:
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(settings.log_level.upper())
        logging.captureWarnings(True)
        sys.stderr = stand_in
        try:
            yield path
        finally:
            sys.stderr, stand_in.active = previous_stderr, False
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(previous_level)
            for old in removed:
                root.addHandler(old)
