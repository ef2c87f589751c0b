"""Each loader on a real file of its format, written here by the library that makes it; and chunking."""

from __future__ import annotations

import csv
import hashlib
import itertools
from pathlib import Path

import docx
import openpyxl
import pytest
from fpdf import FPDF

from memory.chunking import chunk_document, split_text
from memory.errors import IngestError
from memory.loaders import load_document


def write_pdf(path: Path, pages: list[list[tuple[str, str]]], title: str = "Travel Policy") -> Path:
    """A PDF with an outline: each page is a list of (heading, body); heading "" = none."""
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for number, page in enumerate(pages):
        pdf.add_page()
        if number == 0:
            pdf.start_section(title, level=0)
            pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        for heading, body in page:
            if heading:
                pdf.start_section(heading, level=1)
                pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_markdown_headings_become_section_paths(tmp_path: Path) -> None:
    path = tmp_path / "expenses.md"
    path.write_text(
        "# Expense Policy\n\nIntro.\n\n## Approval\n\nAbove 500 EUR the manager\napproves.\n\n"
        "### Large claims\n\nAbove 5,000 EUR the director too.\n\n```\n# not a heading\n```\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "Expense Policy"
    assert [s.heading_path for s in doc.sections] == [
        (),
        ("Approval",),
        ("Approval", "Large claims"),
    ]
    assert doc.sections[1].text == "Above 500 EUR the manager approves."  # hard wrap undone
    assert "# not a heading" in doc.sections[2].text


def test_text_and_html(tmp_path: Path) -> None:
    txt = tmp_path / "parking-rules.txt"
    txt.write_text("Park in bay 7.\n", encoding="utf-8")
    doc = load_document(txt)
    assert (doc.title, doc.sections[0].text, doc.format) == (
        "Parking rules",
        "Park in bay 7.",
        "text",
    )

    html = tmp_path / "page.html"
    html.write_text(
        "<html><head><title>Ignored</title><script>var x=1;</script></head><body>"
        "<h1>Visitor Policy</h1><p>Sign in at reception.</p><h2>Badges</h2><ul><li>Wear it.</li></ul>"
        "</body></html>",
        encoding="utf-8",
    )
    doc = load_document(html)
    assert doc.title == "Visitor Policy"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ((), "Sign in at reception."),
        (("Badges",), "Wear it."),
    ]


def test_pdf_outline_sections_and_pages(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "travel.pdf",
        [[("Booking", "Book via the travel desk.")], [("Hotels", "Cap 150 EUR per night.")]],
    )
    doc = load_document(path)
    assert doc.title == "Travel Policy"
    found = [(s.heading_path, s.page) for s in doc.sections]
    assert found == [(("Booking",), 1), (("Hotels",), 2)]
    assert "150 EUR" in doc.sections[1].text


def test_pdf_without_outline_has_one_section_per_page(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in ("First page text.", "Second page text."):
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(tmp_path / "plain.pdf"))
    doc = load_document(tmp_path / "plain.pdf")
    assert [(s.heading_path, s.page) for s in doc.sections] == [(("Page 1",), 1), (("Page 2",), 2)]


def test_docx_heading_styles_and_tables(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Leave Policy"
    document.add_heading("Leave Policy", level=0)
    document.add_heading("Sick leave", level=1)
    document.add_paragraph("Tell your manager before 09:00.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Type", "Days"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "annual", "28"
    document.save(str(tmp_path / "leave.docx"))
    doc = load_document(tmp_path / "leave.docx")
    assert doc.title == "Leave Policy"
    assert doc.sections[0].heading_path == ("Sick leave",)
    assert "Tell your manager before 09:00." in doc.sections[0].text
    assert "Type: annual; Days: 28" in doc.sections[0].text


def test_csv_and_xlsx_rows_keep_their_headers(tmp_path: Path) -> None:
    with (tmp_path / "approvers.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["Amount", "Approver"], ["up to 500", "finance"]])
    doc = load_document(tmp_path / "approvers.csv")
    assert doc.sections[0].text == "Amount: up to 500; Approver: finance"

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Limits"
    sheet.append(["Category", "Cap"])
    sheet.append(["meals", 60])
    book.save(tmp_path / "limits.xlsx")
    doc = load_document(tmp_path / "limits.xlsx")
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (("Limits",), "Category: meals; Cap: 60")
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"   \n", "contains no text"),
        ("blob.txt", b"\x00\x01\x02binary", "looks binary"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("broken.docx", b"PK not a zip", "DOCX"),
        ("tool.exe", b"MZ", "unsupported format"),
    ],
)
def test_bad_files_raise_ingest_error_with_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=reason):
        load_document(path)


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    source = write_pdf(tmp_path / "open.pdf", [[("Secret", "Salaries.")]])
    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt("pw")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(IngestError, match="encrypted"):
        load_document(tmp_path / "locked.pdf")


def test_split_text_respects_size_and_overlaps() -> None:
    sentences = [f"Rule number {i} says something specific about approvals." for i in range(40)]
    chunks = split_text(" ".join(sentences), size=300, overlap=80)
    assert len(chunks) > 5
    assert all(len(c) <= 300 + 80 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert before[-30:] in after  # the tail of each chunk opens the next one
    joined = " ".join(chunks)
    assert all(s in joined for s in sentences)  # nothing lost


def test_chunk_metadata_follows_sections(tmp_path: Path) -> None:
    path = tmp_path / "policy.md"
    path.write_text(
        "# Policy\n\n## A\n\n" + "alpha " * 300 + "\n\n## B\n\nbeta\n", encoding="utf-8"
    )
    chunks = chunk_document(load_document(path), size=400, overlap=50)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.section for c in chunks} == {"A", "B"}
    assert all(c.title == "Policy" for c in chunks)
    assert chunks[-1].text == "beta" and chunks[-1].section == "B"
    assert chunks[-1].content_hash == hashlib.sha256(b"beta").hexdigest()
