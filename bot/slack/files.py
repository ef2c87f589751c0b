"""Files shared with the bot: offer to add them to the knowledge base, then ingest on consent.

Only document types the knowledge base reads are offered (PDF, DOCX, Markdown, text). The
file is downloaded from its ``url_private`` with the bot token, which is sent only to Slack's
own hosts (or the configured Web API host, in tests), size-capped, saved under the data dir
with a safe name, and handed to the injected ``add_document(path, user)``.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.slack.blocks import escape, file_offer
from bot.slack.surface import Surface, log

SUPPORTED = {"pdf", "docx", "md", "markdown", "txt", "text"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileRefused(Exception):
    """A shared file cannot be added; the message says why, for the person who asked."""


def offer(surface: Surface, event: dict[str, Any], thread: str) -> None:
    """Post one "add to the knowledge base?" offer per supported file in the message."""
    if surface.add_document is None:
        return
    for item in event.get("files", []):
        if _extension(item) not in SUPPORTED:
            continue
        name = str(item.get("name") or item.get("title") or item.get("id"))
        surface.client.chat_postMessage(
            channel=event["channel"],
            thread_ts=thread,
            text=f"Add {name} to the knowledge base?",
            blocks=file_offer(str(item["id"]), name),
        )


def may_add_documents(surface: Surface, user: str) -> bool:
    """Open to everyone unless the tool policy names who may add documents."""
    rule = surface.settings.tool_policy.get("add_document")
    if rule is None:
        return True
    if user in rule.get("users", []):
        return True
    return any(user in surface.settings.roles.get(role, []) for role in rule.get("roles", []))


def ingest(surface: Surface, file_id: str, user: str) -> str:
    """Download the shared file and add it to the knowledge base; returns the pipeline's note."""
    if surface.add_document is None:
        raise FileRefused("adding documents is not enabled here")
    info = surface.client.files_info(file=file_id)["file"]
    if _extension(info) not in SUPPORTED:
        raise FileRefused(f"{info.get('name')!r} is not a PDF, DOCX, Markdown or text file")
    path = _download(surface, info)
    return surface.add_document(path, user)


def _extension(item: dict[str, Any]) -> str:
    name = str(item.get("name") or "")
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix or str(item.get("filetype") or "").lower()


def _allowed_host(surface: Surface, url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    api_host = (urlparse(surface.client.base_url).hostname or "").lower()
    return host == api_host or host == "slack.com" or host.endswith(".slack.com")


def _download(surface: Surface, info: dict[str, Any]) -> Path:
    url = str(info.get("url_private_download") or info.get("url_private") or "")
    if not url or not _allowed_host(surface, url):
        raise FileRefused("the file has no download address on Slack")
    cap = int(surface.settings.max_file_mb * 1024 * 1024)
    if int(info.get("size") or 0) > cap:
        raise FileRefused(f"the file is larger than {surface.settings.max_file_mb:g} MB")
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {surface.client.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read(cap + 1)
    except (urllib.error.URLError, ValueError) as exc:  # ValueError: a malformed address
        log.warning("download of file %s failed: %s", info.get("id"), exc)
        raise FileRefused("the file could not be downloaded from Slack") from exc
    if len(data) > cap:
        raise FileRefused(f"the file is larger than {surface.settings.max_file_mb:g} MB")
    return _save(surface, info, data)


def _save(surface: Surface, info: dict[str, Any], data: bytes) -> Path:
    name = _SAFE.sub("_", Path(str(info.get("name") or "file")).name).strip("._") or "file"
    folder = surface.settings.data_dir / "uploads" / _SAFE.sub("_", str(info["id"]))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def outcome_text(name: str, user: str, note: str) -> str:
    return (
        f":white_check_mark: <@{user}> added *{escape(name)}* to the knowledge base. {escape(note)}"
    )
