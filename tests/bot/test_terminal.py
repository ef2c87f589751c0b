"""The terminal chat over the real service: forms checked as typed, approvals, roles, Ctrl-C.

The reader answers the prompts the way a person would, reading the approval id off the
screen, so the whole "file a claim, approve it, see the row and the mail" path runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from rich.console import Console

from bot.config import DEFAULT_WORKSPACE, Settings
from bot.events import Event, Inbound, TextDelta
from bot.terminal import TerminalChat
from bot.terminal_forms import INTERRUPTED, ValueStyle
from bot.wiring import App, build_app
from tests.fakes.chat_model import ScriptedChatModel
from tests.fakes.paced_model import PacedChatModel
from tools.workspace import load_profile

Step = str | Callable[[str], str]
TODAY = date(2026, 12, 2)


def person(console: Console, steps: list[Step]) -> Callable[[str], str | None]:
    """Answers prompts from ``steps``; a callable step gets the screen so far."""

    def read(_prompt: str) -> str | None:
        if not steps:
            return None
        step = steps.pop(0)
        return step(console.export_text(clear=False)) if callable(step) else step

    return read


def approve_latest(screen: str) -> str:
    return f"/approve {re.findall(r'A-[0-9a-f]{8}', screen)[-1]}"


def chat_for(app: App, steps: list[Step], user: str = "U1") -> tuple[TerminalChat, Console]:
    console = Console(record=True, width=120)
    profile = load_profile(app.settings.workspace)
    chat = TerminalChat(
        app.service,
        user=user,
        console=console,
        read_line=person(console, steps),
        roles=app.roles,
        style=ValueStyle.of(profile),
        workspace=app.settings.workspace,
        company=profile.company.name,
        today=lambda: TODAY,
    )
    return chat, console


async def test_a_claim_above_500_waits_for_the_manager(app: App, model: ScriptedChatModel) -> None:
    copy = app.settings.workspace  # the data dir's copy of the workspace: the tools write there
    steps: list[Step] = [
        "/run expense_reimbursement",
        "2026-11-20", "lodging", "800", "Hotel in Madrid, 4 nights", "", "yes",
        "/approvals",  # the requester cannot approve their own claim at the manager step
        "/as manager",
        "/approvals",
        approve_latest,
        "/quit",
    ]  # fmt: skip
    chat, console = chat_for(app, steps)
    await chat.run()
    screen = console.export_text()
    assert "Nothing waits for your decision." in screen
    assert "You asked for 1 action that waits for someone else" in screen
    assert "You are now M1, who holds the 'manager' role." in screen
    assert "Approved" in screen, screen[-2000:]
    assert "Passages from the company" not in screen  # no text meant for the model
    ledger = openpyxl.load_workbook(copy / "sheets" / "expenses.xlsx")["Claims"]
    rows = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    assert any("Hotel in Madrid" in str(r) for r in rows)
    mails = sorted(Path(app.settings.outbox_dir).glob("**/*.eml"))
    assert mails and any("finance@acme.example" in m.read_text() for m in mails)


async def test_values_are_checked_as_they_are_typed(app: App, model: ScriptedChatModel) -> None:
    steps: list[Step] = [
        "/run expense_reimbursement",
        "the day before", "yesterday",  # expense date: unreadable, then read as 1 December
        "food", "meals",  # category: not an option, then one
        "lots", "31,50",  # amount: not an amount, then a decimal comma
        "Lunch with a customer", "PRJ-12", "", "/cancel",
        "/status",
        "/quit",
    ]  # fmt: skip
    chat, console = chat_for(app, steps)
    await chat.run()
    screen = console.export_text()
    assert "a date like 02/12/2026, 2 December or yesterday" in screen
    assert "Expense date must be a date like 2026-03-14" in screen
    assert "= Tuesday 1 December 2026" in screen
    assert "Category must be one of: travel" in screen
    assert "Amount must be an amount like 42.50 EUR" in screen
    assert "Project code is not in the expected format" in screen
    assert "Cancelled: nothing was submitted." in screen
    assert "Nothing in progress for you." in screen  # /status: no run was started


async def test_quit_inside_a_form_leaves_the_chat(app: App, model: ScriptedChatModel) -> None:
    steps: list[Step] = ["/form leave_request", "/quit", "/forms"]
    chat, console = chat_for(app, steps)
    await chat.run()
    screen = console.export_text()
    assert "Cancelled: nothing was submitted." in screen and "Bye." in screen
    assert "Forms:" not in screen  # nothing after /quit was read


async def test_docs_shows_excerpts_and_cited_links(app: App, model: ScriptedChatModel) -> None:
    chat, console = chat_for(app, ["/docs receipts for taxi rides", "/quit"])
    await chat.run()
    screen = console.export_text()
    assert "From the process documents, for 'receipts for taxi rides':" in screen
    assert "[1] Expense Reimbursement Policy" in screen
    assert "They are quoted data" not in screen and '"""' not in screen


async def test_reset_and_unknown_commands(app: App, model: ScriptedChatModel) -> None:
    model.enqueue("Hello!")
    chat, console = chat_for(app, ["hi there", "/reset", "/nope", "/quit"])
    await chat.run()
    screen = console.export_text()
    assert "Hello!" in screen and "Conversation reset." in screen
    assert "Unknown command /nope" in screen


@pytest.fixture(params=["acme", "harbourline"])
def demo_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """A demo workspace with no RPA_ROLES: its demo people hold the roles."""
    source = DEFAULT_WORKSPACE.parent / request.param
    settings = Settings(_env_file=None, workspace=source, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    app = build_app(settings, chat_model=ScriptedChatModel())
    yield app
    app.service.close()


async def test_as_a_role_becomes_the_workspaces_demo_person(demo_app: App) -> None:
    demo = load_profile(demo_app.settings.workspace).demo_roles
    role = sorted(demo)[-1]
    chat, console = chat_for(demo_app, [f"/as {role}", "/as", "/quit"])
    await chat.run()
    screen = console.export_text()
    assert "No roles are configured (RPA_ROLES)" in screen
    assert f"/as {role}" in screen
    assert f"You are now {demo[role][0]}, the demo person who holds the {role!r} role." in screen
    assert f"You are {demo[role][0]} (roles: {role})" in screen


@pytest.fixture
def paced() -> PacedChatModel:
    return PacedChatModel()


async def test_ctrl_c_stops_the_answer_and_the_prompt_returns(
    app_settings: Settings, paced: PacedChatModel
) -> None:
    app = build_app(app_settings, chat_model=paced)
    try:

        def back_at_the_prompt(screen: str) -> str:
            paced.release.set()  # the stopped model writes its next token: there it must end
            return "/forms"

        steps: list[Step] = ["tell me everything", back_at_the_prompt, INTERRUPTED, INTERRUPTED]
        chat, console = chat_for(app, steps)
        loop = asyncio.get_running_loop()
        answer = chat.service.handle

        async def pressed_after_the_first_word(inbound: Inbound) -> AsyncIterator[Event]:
            async for event in answer(inbound):
                yield event
                if isinstance(event, TextDelta):
                    loop.call_soon(chat.interrupt)  # what the chat's SIGINT handler does

        chat.service.handle = pressed_after_the_first_word  # type: ignore[method-assign,assignment]
        await chat.run()
        assert await asyncio.to_thread(paced.closed.wait, 20), "the model never stopped"
        screen = console.export_text()
        assert "word0" in screen and "Stopped." in screen
        assert "Forms:" in screen  # the prompt came back and the next command was answered
        assert "(Ctrl-C again or Ctrl-D to leave)" in screen and screen.rstrip().endswith("Bye.")
        assert paced.pieces <= 3
    finally:
        app.service.close(wait=True)
