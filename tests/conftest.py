"""Shared fixtures: an isolated workspace and data dir per test, and no real model by default.

Tests never load the real language model unless they are marked ``real_model`` (pydantic-ai's
``ALLOW_MODEL_REQUESTS`` idea): the guard lives in ``bot.llm.loading`` and this fixture sets it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import DEFAULT_WORKSPACE, Settings
from tests.postgres import PostgresServer, start_server

if TYPE_CHECKING:
    from bot.llm.engine.model import LoadedModel

# Nothing in the suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Keep a test run from picking up a developer's .env or RPA_ variables.
for _name in [n for n in os.environ if n.startswith("RPA_") or n.startswith("SLACK_")]:
    del os.environ[_name]


@pytest.fixture(autouse=True)
def _model_loading_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid loading real model weights unless the test is marked ``real_model``."""
    try:
        from bot.llm import loading
    except ImportError:  # the runtime is not importable: nothing to guard
        return
    allowed = request.node.get_closest_marker("real_model") is not None
    monkeypatch.setattr(loading, "ALLOW_MODEL_LOADS", allowed)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (tests/postgres.py); failing, not skipped,
    when it cannot start: the stores promise PostgreSQL, so their tests must run on it."""
    server = start_server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's state lives: a SQLite file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture(scope="session")
def demo_chroma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chroma store with the demo workspace's documents, built once per test session."""
    from memory.ingest import ingest_paths
    from memory.knowledge import KnowledgeBase

    store = tmp_path_factory.mktemp("demo-kb") / "chroma"
    kb = KnowledgeBase(store, "embedded", "process_docs")
    report = ingest_paths(kb, [DEFAULT_WORKSPACE / "docs"], root=DEFAULT_WORKSPACE)
    assert kb.count() > 0, report
    return store


@pytest.fixture(scope="session")
def models_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose ``models/`` holds the converted model for the whole run.

    Real-model tests anywhere in the suite share it, so the embedded model is converted once.
    """
    return tmp_path_factory.mktemp("model-data")


@pytest.fixture(scope="session")
def model_settings(models_data_dir: Path) -> Settings:
    """The embedded base model, without the adapter the demo workspace ships."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=models_data_dir, model_device="cpu", adapter="base"
    )


@pytest.fixture(scope="module")
def loaded_model(model_settings: Settings) -> Iterator[LoadedModel]:
    """The embedded model on CPU in the automatic dtype, loaded once per module."""
    # Module fixtures run before the per-test guard, so allow loads explicitly here.
    with pytest.MonkeyPatch.context() as patch:
        from bot.llm import loading

        patch.setattr(loading, "ALLOW_MODEL_LOADS", True)
        yield loading.load_model(model_settings)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A private copy of the demo workspace (tests may write its sheets)."""
    target = tmp_path / "workspace"
    shutil.copytree(DEFAULT_WORKSPACE, target, ignore=shutil.ignore_patterns("adapter"))
    return target


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def settings(workspace: Path, data_dir: Path) -> Settings:
    """Settings for a test: private workspace and data dir, no .env file, no Slack."""
    return Settings(_env_file=None, workspace=workspace, data_dir=data_dir)  # type: ignore[call-arg]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip GPU tests cleanly where there is no CUDA device."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
