"""The Slack surface over the real conversation service (only the model is scripted).

Proves the seams the fake service cannot: a mention reaches the agent and the answer with
its citations comes back in the thread; a proposed side effect becomes an approval card whose
Approve button executes it exactly once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.wiring import App, build_app
from tests.fakes.chat_model import ScriptedChatModel, tool_call
from tests.fakes.slack_api import MockSlackApi
from tests.slack.conftest import Rig, build_rig, make_settings, mention


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def real(
    api: MockSlackApi, workspace: Path, data_dir: Path, demo_chroma: Path, model: ScriptedChatModel
) -> Iterator[tuple[Rig, App]]:
    settings = make_settings(workspace, data_dir, api)
    shutil.copytree(demo_chroma, settings.chroma_dir)
    app = build_app(settings, chat_model=model)
    rig = build_rig(api, settings, app.service)  # type: ignore[arg-type]
    yield rig, app
    rig.drain()
    rig.server.stop()
    app.service.close()


def test_a_mention_is_answered_in_its_thread_with_citations(
    real: tuple[Rig, App], model: ScriptedChatModel
) -> None:
    rig, _ = real
    model.enqueue(
        tool_call("search_process_docs", query="hotel cap per night"), "150 EUR per night [1]."
    )
    rig.event(mention("what is the hotel cap?"), event_id="Ev-real-1")
    rig.drain()
    texts = [
        c.payload for c in rig.api.calls_to("chat.postMessage") + rig.api.calls_to("chat.update")
    ]
    final = [p for p in texts if "150 EUR per night" in json.dumps(p)]
    assert final, texts
    assert all(p.get("thread_ts") in (None, "1700000001.000100") for p in texts if "channel" in p)
    assert any("context" in json.dumps(p.get("blocks", "")) for p in final)  # citations block


def test_an_approved_card_runs_the_action_once(
    real: tuple[Rig, App], model: ScriptedChatModel
) -> None:
    rig, app = real
    claim = {
        "expense_date": "2026-11-20",
        "category": "transport",
        "amount": "42",
        "description": "Taxi to the customer",
        "receipt_attached": True,
    }
    model.enqueue(tool_call("submit_form", form="expense_claim", values=claim), "Please approve.")
    rig.event(mention("file my taxi receipt, 42 EUR"), event_id="Ev-real-2")
    card = next(
        c
        for c in rig.api.wait_for("chat.postMessage", count=2, timeout=60)
        if "rpa_approve" in json.dumps(c.payload.get("blocks", ""))
    )
    rig.api.wait_for("chat.update")  # the turn has ended: the card is remembered
    action_id = app.approvals.list(status=("pending",))[0].id
    assert action_id in json.dumps(card.payload)
    rig.click("rpa_approve", action_id, user="U100", ts="9.9")
    rig.click("rpa_approve", action_id, user="U100", ts="9.9")  # a double click
    rig.drain()
    with app.db.reading() as conn:
        count = conn.execute("SELECT COUNT(*) FROM form_submissions").fetchone()[0]
    assert count == 1
    assert app.approvals.get(action_id).status == "done"
