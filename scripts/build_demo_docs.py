"""Build a demo workspace's PDF and DOCX process documents from their Markdown sources.

The sources live in ``<workspace>/docs/.sources/`` (a hidden folder, so ingestion skips it);
the generated files are committed next to the Markdown documents so that a fresh clone can
ingest them without running this script. The PDFs carry an outline (bookmarks) and the DOCX
files real heading styles, because that is the structure the loaders turn into sections.
Output is deterministic (fixed creation dates) so an unchanged source rebuilds byte-identical
files and re-ingestion skips them.

Which sources become which files is listed per workspace in ``docs/.sources/targets.yaml``
(``targets: {source stem: path under docs/}``, optional ``author`` and
``keep_headings_with_text``, default true); the author, printed in PDF footers and set as the
document author, falls back to ``company.name`` of the workspace's ``workspace.yaml``.
``examples/acme`` predates that file: its list is ``BUILT_IN`` below.

Usage: ``.venv/bin/python scripts/build_demo_docs.py`` (examples/acme),
``... --workspace examples/harbourline`` (repeatable), or ``... --all`` (every workspace
under examples/ that has sources).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DEFAULT_WORKSPACE = EXAMPLES / "acme"
FIXED_DATE = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class BuildSpec:
    """What to build for one workspace: the author line and source stem -> file under docs/.

    ``keep_headings_with_text``: a PDF heading that would end a page starts the next one
    instead. Without it, a heading drawn right at a page break is bookmarked on the page
    before the one showing it, and the PDF loader then files its text under the previous
    section. Off for acme, whose committed PDFs were built without it and must not change.
    """

    author: str
    targets: dict[str, str]
    keep_headings_with_text: bool = False


# Workspaces without a docs/.sources/targets.yaml.
BUILT_IN = {
    "acme": BuildSpec(
        author="Acme Industrial Supplies GmbH",
        targets={
            "travel-booking": "travel/travel-booking.pdf",
            "invoice-approval": "finance/invoice-approval.pdf",
            "data-retention": "compliance/data-retention.pdf",
            "leave-requests": "hr/leave-requests.docx",
            "new-hire-onboarding": "hr/new-hire-onboarding.docx",
            "it-access-requests": "it/it-access-requests.docx",
        },
    ),
}


def build_spec(workspace: Path) -> BuildSpec:
    """The workspace's targets file, else its built-in entry; ``SystemExit`` if it has neither."""
    listing = workspace / "docs" / ".sources" / "targets.yaml"
    if not listing.is_file():
        if workspace.name in BUILT_IN:
            return BUILT_IN[workspace.name]
        raise SystemExit(f"{listing} is missing: it lists the documents to build")
    raw = yaml.safe_load(listing.read_text(encoding="utf-8")) or {}
    targets = raw.get("targets") or {}
    if not isinstance(targets, dict) or not targets:
        raise SystemExit(f"{listing}: 'targets' must map source stems to files under docs/")
    for stem, relative in targets.items():
        if Path(relative).suffix not in (".pdf", ".docx"):
            raise SystemExit(f"{listing}: {stem!r} -> {relative!r} is neither .pdf nor .docx")
    author = raw.get("author") or _company_name(workspace)
    if not author:
        raise SystemExit(f"{listing}: no author, and no company.name in workspace.yaml")
    keep = bool(raw.get("keep_headings_with_text", True))
    return BuildSpec(str(author), {str(k): str(v) for k, v in targets.items()}, keep)


def _company_name(workspace: Path) -> str:
    facts = workspace / "workspace.yaml"
    if not facts.is_file():
        return ""
    raw = yaml.safe_load(facts.read_text(encoding="utf-8")) or {}
    return str((raw.get("company") or {}).get("name") or "")


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


def build_pdf(blocks: list[Block], target: Path, author: str, keep_with_text: bool) -> None:
    from fpdf import FPDF

    class PolicyPDF(FPDF):
        """A4 with the company line on top and page numbers below, like the printed policies."""

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Helvetica", "", 8)
            self.cell(
                0,
                6,
                f"{author} - {blocks[0].text} - page {self.page_no()}",
                align="C",
            )

    pdf = PolicyPDF(format="A4")
    pdf.set_margins(24, 22, 24)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(blocks[0].text)
    pdf.set_author(author)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    numbers = 0
    for block in blocks:
        if block.kind == "heading":
            numbers = 0
            if keep_with_text and pdf.will_page_break(3 + 9 + 2 + 2 * 6.5):
                pdf.add_page()  # the heading and two lines of its text, on the next page
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


def build_docx(blocks: list[Block], target: Path, author: str) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = blocks[0].text
    props.author = author
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = author
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


def build_workspace(workspace: Path) -> None:
    """Build every listed document of one workspace."""
    spec = build_spec(workspace)
    docs = workspace / "docs"
    sources = docs / ".sources"
    for stem, relative in spec.targets.items():
        blocks = parse((sources / f"{stem}.md").read_text(encoding="utf-8"))
        target = docs / relative
        if target.suffix == ".pdf":
            build_pdf(blocks, target, spec.author, spec.keep_headings_with_text)
        else:
            build_docx(blocks, target, spec.author)
        print(f"wrote {_shown(target)}")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workspace",
        action="append",
        type=Path,
        default=[],
        help="A workspace folder, e.g. examples/harbourline (repeatable; default examples/acme).",
    )
    parser.add_argument(
        "--all", action="store_true", help="Every workspace under examples/ with docs/.sources/."
    )
    args = parser.parse_args(argv)
    workspaces = [w.resolve() for w in args.workspace]
    if args.all:
        workspaces += sorted(p.parent.parent for p in EXAMPLES.glob("*/docs/.sources"))
    for workspace in dict.fromkeys(workspaces or [DEFAULT_WORKSPACE]):
        build_workspace(workspace)


if __name__ == "__main__":
    main()
