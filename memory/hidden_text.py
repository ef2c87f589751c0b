"""What a reader of a rendered document cannot see, found and removed before it is ingested.

Text a person cannot see must never reach the model as if it were the document, nor be quoted
back to a person: it is where planted instructions hide. Removed, and counted by kind:

- ``html_comment``: ``<!-- ... -->`` (Markdown and HTML);
- ``link_definition``: Markdown link reference definitions (``[x]: # (text)``, ``[//]: <> "…"``,
  ``[1]: https://… "title"``), which render as nothing and are used as comments;
- ``hidden_html``: elements a browser does not show (``hidden``, ``display: none``,
  ``visibility: hidden``, ``<template>``, ``<script>``, ``<style>``, hidden inputs);
- ``invisible_character``: zero-width, bidirectional-control and Unicode tag characters;
- ``hidden_text`` (DOCX runs formatted as hidden) and ``hidden_sheet`` (XLSX), by the loaders.

Fenced code blocks in Markdown are shown as they are written, so nothing inside them is
removed. Loaders call these functions and record the counts on the document.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Zero-width and joiner characters, bidi embeddings/overrides/isolates and marks, the soft
# hyphen, word joiner and invisible operators, the BOM, and the tag block (U+E0000-E007F,
# "ASCII smuggling").
INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]"
)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# A reference definition: up to 3 spaces, [label]:, a destination, an optional title; alone on
# its line(s) (CommonMark 4.7).
_LINK_DEFINITION = re.compile(
    r"^ {0,3}\[[^\]\n]{1,999}\]:[ \t]*(?:<[^>\n]*>|\S+)"
    r"(?:[ \t]*\n?[ \t]*(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?[ \t]*$",
    re.M,
)
_HIDDEN_STYLE = r"(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9]))"
_HIDDEN_ELEMENT = re.compile(
    r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)\b(?=[^>]*(?:\bhidden\b|style\s*=\s*[\"'][^\"']*"
    + _HIDDEN_STYLE
    + r"))[^>]*>.*?</(?P=tag)\s*>",
    re.S | re.I,
)
_INVISIBLE_ELEMENT = re.compile(
    r"<(?P<tag>script|style|template|noscript)\b[^>]*>.*?</(?P=tag)\s*>", re.S | re.I
)
_HIDDEN_CSS = re.compile(_HIDDEN_STYLE, re.I)
_HIDDEN_INPUT = re.compile(r"<input\b[^>]*type\s*=\s*[\"']?hidden[^>]*>", re.I)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

Removed = Counter[str]


def strip_invisible(text: str, removed: Removed) -> str:
    """``text`` without invisible characters (counted under ``invisible_character``)."""
    cleaned, count = INVISIBLE.subn("", text)
    if count:
        removed["invisible_character"] += count
    return cleaned


def strip_hidden_markup(text: str, removed: Removed) -> str:
    """Comments, hidden elements and link definitions out of Markdown-like text (not code)."""
    for kind, pattern in (
        ("html_comment", _COMMENT),
        ("hidden_html", _HIDDEN_ELEMENT),
        ("hidden_html", _INVISIBLE_ELEMENT),
        ("hidden_html", _HIDDEN_INPUT),
        ("link_definition", _LINK_DEFINITION),
    ):
        text, count = pattern.subn("", text)
        if count:
            removed[kind] += count
    return text


def visible_markdown(text: str, removed: Removed) -> str:
    """What a Markdown renderer shows of ``text``, as source: hidden parts removed outside
    fenced code blocks, invisible characters removed everywhere."""
    parts: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        marker = _FENCE.match(line)
        if fence is None and marker:
            parts.append(strip_hidden_markup("".join(prose), removed))
            prose, fence = [], marker.group(1)
            parts.append(line)
        elif fence is not None:
            parts.append(line)
            if marker and marker.group(1) == fence:
                fence = None
        else:
            prose.append(line)
    parts.append(strip_hidden_markup("".join(prose), removed))
    return strip_invisible("".join(parts), removed)


def drop_hidden_html(soup: Any) -> Removed:
    """Remove comments and the elements a browser does not show from a BeautifulSoup tree."""
    from bs4 import Comment

    removed: Removed = Counter()
    for comment in soup.find_all(string=lambda text: isinstance(text, Comment)):
        comment.extract()
        removed["html_comment"] += 1
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        if (
            tag.name in ("script", "style", "template", "noscript")
            or tag.has_attr("hidden")
            or _HIDDEN_CSS.search(str(tag.get("style") or ""))
            or (tag.name == "input" and str(tag.get("type", "")).lower() == "hidden")
        ):
            tag.decompose()
            removed["hidden_html"] += 1
    return removed


def visible_passage(text: str) -> str:
    """A stored passage as a person may be shown it (for stores ingested before stripping)."""
    removed: Removed = Counter()
    return strip_invisible(strip_hidden_markup(text, removed), removed)


def describe(removed: Removed) -> str:
    """``html_comment=2, invisible_character=5``; empty when nothing was removed."""
    return ", ".join(f"{kind}={count}" for kind, count in sorted(removed.items()) if count)
