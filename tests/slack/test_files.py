"""Files shared with the bot: offered, confirmed by a permitted user, downloaded with the token, added once."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.fakes.slack_api import MockSlackApi
from tests.slack.conftest import BOT_TOKEN, Rig, build_rig, make_settings, message


def _shared(
    rig: Rig, name: str = "Travel policy 2026.md", file_id: str = "F100", **extra: Any
) -> None:
    item = {
        "id": file_id,
        "name": name,
        "filetype": Path(name).suffix.lstrip("."),
        "url_private": f"{rig.api.url}/files/{file_id}/{name}",
    }
    rig.event(
        message(
            "here is the new policy",
            ts="60.0",
            channel="D100",
            channel_type="im",
            subtype="file_share",
            files=[item],
            **extra,
        ),
        event_id=f"Ev-{file_id}",
    )


def _serve(api: MockSlackApi, file_id: str, name: str, data: bytes) -> None:
    url = f"{api.url}/files/{file_id}/{quote(name)}"
    api.files[url.removeprefix(api.url)] = data
    api.reply(
        "files.info",
        {"ok": True, "file": {"id": file_id, "name": name, "size": len(data), "url_private": url}},
    )


def test_a_shared_document_gets_one_message_the_offer(rig: Rig) -> None:
    _shared(rig)
    rig.drain()
    posts = rig.api.calls_to("chat.postMessage")
    assert len(posts) == 1  # the offer, and no answer about a file nobody has read yet
    assert "knowledge base" in posts[0].payload["text"]
    assert posts[0].payload["thread_ts"] == "60.0"
    buttons = posts[0].payload["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("rpa_file_add", "F100"),
        ("rpa_file_skip", "F100"),
    ]
    assert rig.service.calls_to("handle") == []


def test_several_documents_are_offered_in_one_message(rig: Rig) -> None:
    files = [
        {"id": f"F10{n}", "name": f"policy {n}.md", "url_private": f"{rig.api.url}/files/F10{n}"}
        for n in range(3)
    ]
    rig.event(message("", ts="62.0", channel="D100", channel_type="im", subtype="file_share",
                      files=files))  # fmt: skip
    rig.drain()
    (post,) = rig.api.calls_to("chat.postMessage")
    values = [e["value"] for b in post.payload["blocks"] if b["type"] == "actions"
              for e in b["elements"] if e["action_id"] == "rpa_file_add"]  # fmt: skip
    assert values == ["F100", "F101", "F102"]


def test_unsupported_files_get_one_note_and_no_offer(rig: Rig) -> None:
    _shared(rig, name="photo.png", file_id="F200")
    rig.drain()
    (post,) = rig.api.calls_to("chat.postMessage")
    assert "PDF, DOCX, Markdown and text" in post.payload["text"]
    assert "photo.png" in post.payload["text"]
    assert not any(b["type"] == "actions" for b in post.payload["blocks"])
    assert rig.service.calls_to("handle") == []


def test_confirming_downloads_with_the_token_and_adds_the_document_once(rig: Rig) -> None:
    data = b"# Travel policy\n\nBook at least 14 days ahead.\n"
    _serve(rig.api, "F100", "Travel policy 2026.md", data)
    rig.click("rpa_file_add", "F100", user="U100", channel="D100", ts="61.0")
    rig.click("rpa_file_add", "F100", user="U100", channel="D100", ts="61.0")
    update = rig.api.wait_for("chat.update")[0]
    rig.drain()
    assert rig.api.calls_to("files.info")[0].payload["file"] == "F100"
    download = rig.api.calls_to("file_download")
    assert len(download) == 1
    assert download[0].headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert len(rig.added.calls) == 1
    path, user, content = rig.added.calls[0]
    assert (user, content) == ("U100", data)
    assert path.name == "Travel_policy_2026.md"
    assert path.is_relative_to(rig.settings.data_dir)
    assert update.payload["ts"] == "61.0"
    assert "added this file to the knowledge base" in update.payload["text"]
    assert "3 chunks indexed" in update.payload["text"]


def test_no_thanks_updates_the_offer_and_adds_nothing(rig: Rig) -> None:
    rig.click("rpa_file_skip", "F100", user="U100", channel="D100", ts="61.0")
    update = rig.api.wait_for("chat.update")[0]
    assert "Not added" in update.payload["text"]
    assert rig.added.calls == []


def test_a_file_hosted_elsewhere_never_gets_the_token(rig: Rig) -> None:
    rig.api.reply(
        "files.info",
        {
            "ok": True,
            "file": {"id": "F300", "name": "a.md", "url_private": "http://evil.example/a.md"},
        },
    )
    rig.click("rpa_file_add", "F300", user="U100", channel="D100", ts="62.0")
    update = rig.api.wait_for("chat.update")[0]
    assert "Not added" in update.payload["text"]
    assert rig.added.calls == []


def test_only_permitted_users_may_add_documents(
    api: MockSlackApi, workspace: Path, data_dir: Path
) -> None:
    policy = {"add_document": {"roles": ["knowledge"]}}
    settings = make_settings(
        workspace, data_dir, api, tool_policy=policy, roles={"knowledge": ["U300"]}
    )
    rig = build_rig(api, settings)
    try:
        _serve(api, "F400", "guide.txt", b"text")
        rig.click("rpa_file_add", "F400", user="U100", channel="D100", ts="63.0")
        refusal = api.wait_for("chat.postEphemeral")[0]
        assert "may not add documents" in refusal.payload["text"]
        rig.click("rpa_file_add", "F400", user="U300", channel="D100", ts="63.0")
        api.wait_for("chat.update")
        rig.drain()
        assert [u for _, u, _ in rig.added.calls] == ["U300"]
    finally:
        rig.server.stop()
