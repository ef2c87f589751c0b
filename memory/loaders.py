"""Document loaders: one function per file format, each turning a file into titled sections.

A loader returns a ``LoadedDocument``: a title and the document's sections in reading order,
each with its heading path (``("Expense reimbursement", "Approval")``) and, for PDFs, its page.
Structure comes from the format itself: Markdown and HTML headings, DOCX heading styles, the
PDF outline (bookmarks, falling back to one section per page), one section per table sheet.
Any problem a person should hear about (encrypted, corrupt, binary, empty) raises
``IngestError`` with the reason; the caller skips the file and carries on. What a reader of the
rendered document cannot see (``memory.hidden_text``: comments, link definitions, hidden HTML,
hidden DOCX runs and XLSX sheets, invisible characters) is left out, and the document records
how much of it was (``hidden``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from memory.errors import IngestError
from memory.hidden_text import Removed, drop_hidden_html, strip_invisible, visible_markdown


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (empty path: before any heading)."""

    heading_path: tuple[str, ...]
    text: str
    page: int | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """What a loader read from one file."""

    title: str
    sections: list[Section]
    format: str
    hidden: dict[str, int] = field(default_factory=dict)  # what was left out unseen, by kind

    @property
    def char_count(self) -> int:
        return sum(len(s.text.strip()) for s in self.sections)


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _title_from_name(path: Path) -> str:
    """``vendor-onboarding.md`` -> ``Vendor onboarding``."""
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def _read_text(path: Path) -> str:
    """File bytes as text; binary content (NUL bytes, not UTF-8 nor Latin-1 text) is refused."""
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise IngestError(f"{path.name!r} looks binary (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows-1252 exports are common for company documents; decode rather than refuse.
        return raw.decode("cp1252", errors="replace")


_BLOCK_START = re.compile(r"^\s*([-*+•]\s|\d+[.)]\s|\||>)")


def unwrap(text: str) -> str:
    """Join hard-wrapped lines of a paragraph (Markdown sources, PDF text) into one line;
    list items, table rows and quotes keep their own lines."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for line in para.splitlines():
            if lines and line.strip() and not _BLOCK_START.match(line):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            elif line.strip():
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(p for p in paragraphs if p)


def _sections_from_headed_lines(
    lines: Iterable[tuple[int, str] | str], page: int | None = None, wrapped: bool = False
) -> tuple[list[Section], str | None]:
    """Group lines into sections. A ``(level, text)`` tuple is a heading; a str is body text.

    Returns the sections and the first level-1 heading (the natural document title).
    ``wrapped``: the body lines are hard-wrapped prose, to be joined back into paragraphs.
    """
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    first_h1: str | None = None

    def flush() -> None:
        text = "\n".join(body).strip()
        text = unwrap(text) if wrapped else text
        if text:
            sections.append(Section(tuple(h for _, h in path), text, page))
        body.clear()

    for line in lines:
        if isinstance(line, tuple):
            flush()
            level, heading = line
            if level == 1 and first_h1 is None:
                first_h1 = heading
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        else:
            body.append(line)
    flush()
    return sections, first_h1


def _strip_title(sections: list[Section], title: str) -> list[Section]:
    """Drop the document title from the front of heading paths: citations name it separately."""
    out = []
    for s in sections:
        hp = s.heading_path[1:] if s.heading_path[:1] == (title,) else s.heading_path
        out.append(Section(hp, s.text, s.page))
    return out


def load_markdown(path: Path) -> LoadedDocument:
    removed: Removed = Counter()
    text = visible_markdown(_read_text(path), removed)
    lines: list[tuple[int, str] | str] = []
    in_fence = False
    for raw in text.splitlines():
        if raw.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(raw)
        lines.append((len(match.group(1)), match.group(2)) if match else raw)
    sections, h1 = _sections_from_headed_lines(lines, wrapped=True)
    title = h1 or _title_from_name(path)
    return LoadedDocument(title, _strip_title(sections, title), "markdown", dict(removed))


def load_text(path: Path) -> LoadedDocument:
    text = _read_text(path)
    return LoadedDocument(_title_from_name(path), [Section((), unwrap(text).strip())], "text")


def load_html(path: Path) -> LoadedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text(path), "html.parser")
    for tag in soup(["nav", "footer", "header"]):
        tag.decompose()
    removed = drop_hidden_html(soup)
    lines: list[tuple[int, str] | str] = []
    blocks = soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre"])
    for el in blocks:
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        name = el.name or ""
        lines.append((int(name[1]), text) if re.fullmatch(r"h[1-6]", name) else text)
    if not blocks:  # a page of bare text
        lines = [soup.get_text("\n", strip=True)]
    sections, h1 = _sections_from_headed_lines(lines)
    head_title = soup.title.get_text(strip=True) if soup.title else ""
    title = h1 or head_title or _title_from_name(path)
    return LoadedDocument(title, _strip_title(sections, title), "html", dict(removed))


def _pdf_outline(reader: object) -> list[tuple[int, int, str]]:
    """``(page index, level, title)`` for each PDF bookmark, in document order."""
    out: list[tuple[int, int, str]] = []

    def walk(items: list[object], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)  # type: ignore[attr-defined]
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
            out.append((page, level, str(getattr(item, "title", "")).strip()))

    try:
        walk(list(reader.outline), 1)  # type: ignore[attr-defined]
    except (KeyError, ValueError, TypeError, AttributeError):
        return []
    return out


def load_pdf(path: Path) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise IngestError(f"{path.name!r} is an encrypted PDF; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise IngestError(f"{path.name!r} is not a readable PDF: {exc}") from exc
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise IngestError(f"{path.name!r} is a damaged PDF: {exc}") from exc
    meta_title = ""
    if reader.metadata is not None and reader.metadata.title:
        meta_title = str(reader.metadata.title).strip()
    outline = _pdf_outline(reader)
    sections = _pdf_sections(pages, outline) if outline else _pdf_page_sections(pages)
    title = (
        meta_title or next((t for _, lvl, t in outline if lvl == 1), "") or _title_from_name(path)
    )
    return LoadedDocument(title, _strip_title(sections, title), "pdf")


def _pdf_page_sections(pages: list[str]) -> list[Section]:
    return [
        Section((f"Page {i + 1}",), unwrap(t).strip(), i + 1)
        for i, t in enumerate(pages)
        if t.strip()
    ]


def _pdf_sections(pages: list[str], outline: list[tuple[int, int, str]]) -> list[Section]:
    """Split each page's text where a bookmark's title appears as a line on that page."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    for index, text in enumerate(pages):
        marks = [(lvl, t) for p, lvl, t in outline if p == index]
        lines: list[tuple[int, str] | str] = []
        for line in text.splitlines():
            hit = next((m for m in marks if m[1] and line.strip() == m[1]), None)
            if hit:
                marks.remove(hit)
                lines.append(hit)
            else:
                lines.append(line)
        # Continue the heading path from the previous page for text before the first heading.
        prefix: list[tuple[int, str] | str] = list(path)
        page_sections, _ = _sections_from_headed_lines(prefix + lines, index + 1, wrapped=True)
        sections.extend(page_sections)
        for item in lines:
            if isinstance(item, tuple):
                path = [p for p in path if p[0] < item[0]] + [item]
    return sections


def load_docx(path: Path) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"{path.name!r} is not a readable DOCX file: {exc}") from exc
    lines: list[tuple[int, str] | str] = []
    removed: Removed = Counter()
    for para in document.paragraphs:
        text = _visible_runs(para, removed).strip()
        if not text:
            continue
        style = para.style.name if para.style is not None else ""
        match = re.fullmatch(r"Heading (\d)", style or "")
        if style == "Title":
            lines.append((1, text))
        elif match:
            lines.append((int(match.group(1)) + 1, text))
        else:
            lines.append(text)
    for table in document.tables:
        rows = [[c.text.strip() for c in row.cells] for row in table.rows]
        lines.extend(_table_lines(rows))
    sections, h1 = _sections_from_headed_lines(lines)
    core_title = (document.core_properties.title or "").strip()
    title = core_title or h1 or _title_from_name(path)
    return LoadedDocument(title, _strip_title(sections, title), "docx", dict(removed))


def _visible_runs(para: Any, removed: Removed) -> str:
    """A paragraph's text without runs formatted as hidden (Word's "Hidden" font effect)."""
    if not any(run.font.hidden for run in para.runs):
        return str(para.text)
    removed["hidden_text"] += sum(1 for run in para.runs if run.font.hidden)
    return "".join(run.text for run in para.runs if not run.font.hidden)


def _table_lines(rows: list[list[str]]) -> list[str]:
    """Rows as ``Header: value; Header: value`` lines, so each line stands on its own in a chunk."""
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [h or f"column {i + 1}" for i, h in enumerate(rows[0])]
    out = []
    for row in rows[1:]:
        cells = [f"{h}: {v}" for h, v in zip(header, row, strict=False) if str(v).strip()]
        if cells:
            out.append("; ".join(cells))
    return out


def load_csv(path: Path) -> LoadedDocument:
    text = _read_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    rows = list(csv.reader(io.StringIO(text), dialect))
    title = _title_from_name(path)
    return LoadedDocument(title, [Section((), "\n".join(_table_lines(rows)))], "csv")


def load_xlsx(path: Path) -> LoadedDocument:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{path.name!r} is not a readable XLSX workbook: {exc}") from exc
    sections = []
    removed: Removed = Counter()
    try:
        for sheet in book.worksheets:
            if sheet.sheet_state != "visible":  # a hidden sheet shows nothing to its reader
                removed["hidden_sheet"] += 1
                continue
            rows = [
                ["" if v is None else str(v) for v in row]
                for row in sheet.iter_rows(values_only=True)
            ]
            sections.append(Section((sheet.title,), "\n".join(_table_lines(rows))))
    finally:
        book.close()
    return LoadedDocument(_title_from_name(path), sections, "xlsx", dict(removed))


LOADERS: dict[str, Callable[[Path], LoadedDocument]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".csv": load_csv,
    ".xlsx": load_xlsx,
}


def load_document(path: Path) -> LoadedDocument:
    """Read ``path`` with the loader for its extension; ``IngestError`` says why it cannot."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(f"{path.name!r}: unsupported format {path.suffix or '(none)'!r}")
    document = _without_invisible(loader(path))
    if document.char_count == 0:
        raise IngestError(f"{path.name!r} contains no text")
    return document


def _without_invisible(document: LoadedDocument) -> LoadedDocument:
    """Every format: zero-width, bidi-control and tag characters out of titles and text."""
    removed: Removed = Counter(document.hidden)
    sections = [
        Section(tuple(strip_invisible(h, removed) for h in s.heading_path),
                strip_invisible(s.text, removed), s.page)
        for s in document.sections
    ]  # fmt: skip
    title = strip_invisible(document.title, removed)
    return replace(document, title=title, sections=sections, hidden=dict(removed))
