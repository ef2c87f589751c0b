"""Files shared with the bot: offer to add them to the knowledge base, then ingest on consent.

A message that shares files gets one message back: the offer (every readable file of it, each
with Add / No thanks) or, when none can be read, a note saying which types can; the model does
not answer about a file nobody has read yet. Only document types the knowledge base reads are
offered (PDF, DOCX, Markdown, text). The
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

from bot.slack.blocks import escape, files_offer, note_blocks
from bot.slack.surface import Surface, log

SUPPORTED = {"pdf", "docx", "md", "markdown", "txt", "text"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileRefused(Exception):
    """A shared file cannot be added; the message says why, for the person who asked."""


def shared(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a message shares, as ``{"id", "name", "readable"}``."""
    return [
        {
            "id": str(item.get("id")),
            "name": str(item.get("name") or item.get("title") or item.get("id")),
            "readable": _extension(item) in SUPPORTED,
        }
        for item in event.get("files") or []
        if item.get("id")
    ]


def offer_message(surface: Surface, items: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The one message a file share gets: the offer, or why nothing can be added."""
    readable = [(i["id"], i["name"]) for i in items if i["readable"]]
    others = [i["name"] for i in items if not i["readable"]]
    skipped = (
        f"I can only read PDF, DOCX, Markdown and text files, so not {escape(', '.join(others))}."
        if others
        else ""
    )
    if readable and surface.add_document is not None:
        names = ", ".join(name for _, name in readable)
        return f"Add {names} to the knowledge base?"[:3000], files_offer(readable, skipped)
    text = skipped or "Adding documents to the knowledge base is not enabled here."
    return text, note_blocks(text)


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
