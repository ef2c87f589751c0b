"""The two-replica cluster, started once per module (``tests/scale/cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import DEFAULT_WORKSPACE
from tests.postgres import PostgresServer
from tests.scale.cluster import CHROMA, Cluster, start_cluster


@pytest.fixture(scope="module")
def running_cluster(
    postgres: PostgresServer, demo_chroma: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} is missing: the chromadb package installs it")
    root = tmp_path_factory.mktemp("replicas")
    yield from start_cluster(root, postgres.create_database(), demo_chroma, DEFAULT_WORKSPACE)


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    """The cluster with both replicas serving (one a test killed is started again)."""
    running_cluster.ensure_running()
    running_cluster.llm.respond = None
    return running_cluster
