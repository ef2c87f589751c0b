"""The terminal chat over the real service: a claim above 500 EUR through its manager approval.

The reader answers the prompts the way a person would, reading the approval id off the
screen, so the whole "file a claim, approve it, see the row and the mail" path runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
from rich.console import Console

from bot.terminal import TerminalChat
from bot.wiring import App
from tests.fakes.chat_model import ScriptedChatModel


def person(
    console: Console, steps: list[str | Callable[[str], str]]
) -> Callable[[str], str | None]:
    """Answers prompts from ``steps``; a callable step gets the screen so far."""

    def read(_prompt: str) -> str | None:
        if not steps:
            return None
        step = steps.pop(0)
        return step(console.export_text(clear=False)) if callable(step) else step

    return read


def approve_latest(screen: str) -> str:
    return f"/approve {re.findall(r'A-[0-9a-f]{8}', screen)[-1]}"


async def test_a_claim_above_500_waits_for_the_manager(app: App, model: ScriptedChatModel) -> None:
    console = Console(record=True, width=120)
    steps: list[str | Callable[[str], str]] = [
        "/run expense_reimbursement",
        "2026-11-20", "lodging", "800", "Hotel in Madrid, 4 nights", "", "yes",
        "/approvals",  # the requester cannot approve their own claim at the manager step
        "/as M1",
        "/approvals",
        approve_latest,
        "/quit",
    ]  # fmt: skip
    chat = TerminalChat(app.service, user="U1", console=console, read_line=person(console, steps))
    await chat.run()
    screen = console.export_text()
    assert "Nothing is waiting for your approval." in screen
    assert "Approved" in screen, screen[-2000:]
    ledger = openpyxl.load_workbook(app.settings.workspace / "sheets" / "expenses.xlsx")["Claims"]
    rows = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    assert any("Hotel in Madrid" in str(r) for r in rows)
    mails = sorted(Path(app.settings.outbox_dir).glob("**/*.eml"))
    assert mails and any("finance@acme.example" in m.read_text() for m in mails)


async def test_reset_and_unknown_commands(app: App, model: ScriptedChatModel) -> None:
    console = Console(record=True, width=120)
    model.enqueue("Hello!")
    steps: list[str | Callable[[str], str]] = ["hi there", "/reset", "/nope", "/quit"]
    await TerminalChat(
        app.service, user="U1", console=console, read_line=person(console, steps)
    ).run()
    screen = console.export_text()
    assert (
        "Hello!" in screen and "Conversation reset." in screen and "Unknown command /nope" in screen
    )
