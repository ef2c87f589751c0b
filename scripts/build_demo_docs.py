"""Build the demo company's PDF and DOCX process documents from their Markdown sources.

The sources live in ``examples/acme/docs/.sources/`` (a hidden folder, so ingestion skips it);
the generated files are committed next to the Markdown documents so that a fresh clone can
ingest them without running this script. The PDFs carry an outline (bookmarks) and the DOCX
files real heading styles, because that is the structure the loaders turn into sections.
Output is deterministic (fixed creation dates) so an unchanged source rebuilds byte-identical
files and re-ingestion skips them.

Usage: ``.venv/bin/python scripts/build_demo_docs.py``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "examples" / "acme" / "docs"
SOURCES = DOCS / ".sources"
FIXED_DATE = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

# source stem -> generated file, relative to the docs folder
TARGETS = {
    "travel-booking": "travel/travel-booking.pdf",
    "invoice-approval": "finance/invoice-approval.pdf",
    "data-retention": "compliance/data-retention.pdf",
    "leave-requests": "hr/leave-requests.docx",
    "new-hire-onboarding": "hr/new-hire-onboarding.docx",
    "it-access-requests": "it/it-access-requests.docx",
}


@dataclass(frozen=True)
class Block:
    """One block of a source: a heading (level 1-3), a paragraph, a bullet or a numbered item."""

    kind: str  # "heading" | "para" | "bullet" | "number"
    text: str
    level: int = 0


def parse(markdown: str) -> list[Block]:
    """The small Markdown subset the sources use: headings, paragraphs, - and 1. lists."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", markdown.strip()):
        lines = chunk.splitlines()
        heading = re.match(r"^(#{1,3})\s+(.*)$", lines[0])
        if heading:
            blocks.append(Block("heading", heading.group(2).strip(), len(heading.group(1))))
            continue
        item: list[str] = []
        kind = "para"
        for line in lines:
            marker = re.match(r"^(-|\d+\.)\s+(.*)$", line)
            if marker:
                if item:
                    blocks.append(Block(kind, " ".join(item)))
                kind, item = ("bullet" if marker.group(1) == "-" else "number"), [marker.group(2)]
            else:
                item.append(line.strip())
        if item:
            blocks.append(Block(kind, " ".join(item)))
    return [Block(b.kind, b.text.replace("`", ""), b.level) for b in blocks]


def build_pdf(blocks: list[Block], target: Path) -> None:
    from fpdf import FPDF

    class PolicyPDF(FPDF):
        """A4 with the company line on top and page numbers below, like the printed policies."""

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Helvetica", "", 8)
            self.cell(
                0,
                6,
                f"Acme Industrial Supplies GmbH - {blocks[0].text} - page {self.page_no()}",
                align="C",
            )

    pdf = PolicyPDF(format="A4")
    pdf.set_margins(24, 22, 24)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(blocks[0].text)
    pdf.set_author("Acme Industrial Supplies GmbH")
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    numbers = 0
    for block in blocks:
        if block.kind == "heading":
            numbers = 0
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 20 if block.level == 1 else 14)
            pdf.start_section(block.text, level=block.level - 1)
            pdf.multi_cell(0, 9, block.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            continue
        pdf.set_font("Helvetica", "", 11.5)
        if block.kind == "bullet":
            text = f"-  {block.text}"
        elif block.kind == "number":
            numbers += 1
            text = f"{numbers}.  {block.text}"
        else:
            text = block.text
        pdf.multi_cell(0, 6.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)
    target.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(target))


def build_docx(blocks: list[Block], target: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = blocks[0].text
    props.author = "Acme Industrial Supplies GmbH"
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = "Acme Industrial Supplies GmbH"
    props.revision = 1
    for block in blocks:
        if block.kind == "heading":
            # "Title" for the document title, "Heading 1/2" below it: the loader's heading levels.
            document.add_heading(block.text, level=0 if block.level == 1 else block.level - 1)
        elif block.kind == "bullet":
            document.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "number":
            document.add_paragraph(block.text, style="List Number")
        else:
            document.add_paragraph(block.text)
    target.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(target))
    _fix_zip_times(target)


def _fix_zip_times(path: Path) -> None:
    """Rewrite a DOCX (a zip) with fixed entry timestamps, so rebuilds are byte-identical."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data)


def main() -> None:
    for stem, relative in TARGETS.items():
        blocks = parse((SOURCES / f"{stem}.md").read_text(encoding="utf-8"))
        target = DOCS / relative
        (build_pdf if target.suffix == ".pdf" else build_docx)(blocks, target)
        print(f"wrote {target.relative_to(DOCS.parent.parent.parent)}")


if __name__ == "__main__":
    main()
