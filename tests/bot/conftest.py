"""Fixtures for the service tests: the demo documents ingested once, an app per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.events import Event, Inbound
from bot.wiring import App, build_app
from tests.fakes.chat_model import ScriptedChatModel


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def app_settings(settings: Settings, demo_chroma: Path) -> Settings:
    shutil.copytree(demo_chroma, settings.chroma_dir)
    return settings.model_copy(update={"roles": {"manager": ["M1"], "finance": ["F1"]}})


@pytest.fixture
def app(app_settings: Settings, model: ScriptedChatModel) -> Iterator[App]:
    built = build_app(app_settings, chat_model=model)
    yield built
    built.service.close()


def inbound(text: str, user: str = "U1", thread: str = "T1") -> Inbound:
    return Inbound(user=user, channel="C1", thread=thread, text=text, surface="test")


async def collect(stream: Any) -> list[Event]:
    return [event async for event in stream]


def of_kind(events: list[Event], kind: str) -> list[Any]:
    return [e for e in events if e.kind == kind]
