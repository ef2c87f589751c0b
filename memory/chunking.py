"""Chunking: a loaded document's sections cut into overlapping, citable pieces.

Chunks never cross a section boundary, so every chunk has exactly one heading path and page
to cite. Inside a section, paragraphs are packed up to ``chunk_size`` characters; a paragraph
longer than that is cut at sentence (then word) boundaries. Consecutive chunks of a section
share up to ``chunk_overlap`` characters so that a rule split across a cut is still found whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from memory.loaders import LoadedDocument

SECTION_SEPARATOR = " > "  # between the headings of a section path

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, with what a citation needs."""

    text: str
    title: str
    heading_path: tuple[str, ...]
    page: int | None
    index: int  # position within the document, 0-based

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def section(self) -> str:
        """The heading path as one string: ``Approval > Above 5,000 EUR``."""
        return SECTION_SEPARATOR.join(self.heading_path)


def _words(text: str, size: int) -> list[str]:
    """Cut an over-long sentence at word boundaries (a word longer than ``size`` is cut too)."""
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > size:
            out.append(line)
            line = ""
        line = f"{line} {word}" if line else word[:size]
    return [*out, line] if line else out


def _pieces(text: str, size: int) -> list[tuple[str, str]]:
    """``(joiner, unit)`` pairs, each unit at most ``size`` long: paragraphs, else lines, else
    sentences, else words. The joiner is what separates the unit from the one before it."""
    out: list[tuple[str, str]] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [para] if len(para) <= size else para.splitlines()
        for line_no, line in enumerate(lines):
            units = [line] if len(line) <= size else _SENTENCE_END.split(line)
            parts = [p for u in units for p in ([u] if len(u) <= size else _words(u, size))]
            for part_no, part in enumerate(p.strip() for p in parts):
                if not part:
                    continue
                joiner = " " if part_no else ("\n" if line_no else "\n\n")
                out.append((joiner, part))
    return out


def _tail(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of ``text``, starting at a word boundary."""
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    cut = text[-overlap:]
    space = cut.find(" ")
    return cut[space + 1 :] if 0 <= space < len(cut) - 1 else cut


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """Pack ``text`` into chunks of at most ~``size`` characters sharing ``overlap``."""
    if overlap >= size:
        raise ValueError(f"chunk_overlap ({overlap}) must be smaller than chunk_size ({size})")
    chunks: list[str] = []
    current = ""
    for joiner, piece in _pieces(text, size):
        if current and len(current) + len(joiner) + len(piece) > size:
            chunks.append(current)
            carried = _tail(current, overlap)
            current = f"{carried}{joiner}{piece}" if carried else piece
            if len(current) > size + overlap:  # keep a huge piece from dragging the tail along
                current = piece
        else:
            current = f"{current}{joiner}{piece}" if current else piece
    if current.strip():
        chunks.append(current)
    return chunks


def chunk_document(document: LoadedDocument, size: int, overlap: int) -> list[Chunk]:
    """Every chunk of ``document``, in reading order."""
    chunks: list[Chunk] = []
    for section in document.sections:
        for text in split_text(section.text, size, overlap):
            chunks.append(
                Chunk(text, document.title, section.heading_path, section.page, len(chunks))
            )
    return chunks
