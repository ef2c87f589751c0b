"""The scale-out path: the knowledge base on a Chroma server (``chroma run``) through HttpClient."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from memory.ingest import ingest_paths
from memory.knowledge import KnowledgeBase

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes], deadline_s: float) -> None:
    """Poll the heartbeat until the server answers (a readiness check, not a timed assertion)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError("chroma run did not start serving")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.skip("the chroma command is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [
            str(CHROMA if CHROMA.exists() else "chroma"),
            "run",
            "--path",
            str(path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_ingest_and_search_through_a_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    docs = tmp_path / "docs" / "hr"
    docs.mkdir(parents=True)
    (docs / "leave.md").write_text(
        "# Leave\n\n## Annual leave\n\nEveryone has 28 days of annual leave.\n", encoding="utf-8"
    )
    kb = KnowledgeBase(chroma_url, "embedded", "server_docs")
    assert ingest_paths(kb, [tmp_path / "docs"], root=tmp_path).count("added") == 1
    hit = kb.search("how many vacation days", k=1)[0]
    assert hit.citation.path == "docs/hr/leave.md" and hit.citation.section == "Annual leave"
    # A second client (another replica) sees the same store and the same manifest.
    other = KnowledgeBase(chroma_url, "embedded", "server_docs")
    assert ingest_paths(other, [tmp_path / "docs"], root=tmp_path).count("skipped") == 1
