"""Block Kit builders stay within Slack's limits whatever the content, and escape data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.events import ApprovalRequest, Citation
from bot.slack.blocks import (
    answer_blocks,
    approval_card,
    citation_context,
    decided_card,
    escape,
    split_text,
)


def _valid(blocks: list[dict]) -> None:
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()


def test_a_huge_approval_stays_valid() -> None:
    request = ApprovalRequest(
        action_id="PA-" + "x" * 60,
        tool="append_row",
        summary="Append " + "a very long row " * 400,
        arguments={f"col{n}": "v" * 200 for n in range(60)},
        requester="U1",
        expires_at="2026-12-01T10:00:00Z",
        approvers=tuple(f"U{n}" for n in range(5)),
        role="finance",
        citations=tuple(Citation(f"Doc {n}", f"docs/{n}.md") for n in range(30)),
    )
    card = approval_card(request)
    _valid(card)
    _valid(decided_card(request, "U1", "approve", "r" * 5000))


def test_citations_are_capped_at_ten_elements_and_deduplicated() -> None:
    cites = [Citation(f"Doc {n}", "p") for n in range(15)] + [Citation("Doc 0", "p")]
    context = citation_context(cites)
    assert context is not None
    elements = context.to_dict()["elements"]
    assert len(elements) == 10
    assert "and 6 more" in elements[-1]["text"]


def test_data_cannot_ping_or_link() -> None:
    text = escape("<!channel> <https://evil.example|click> & <@U1>")
    assert "<" not in text and ">" not in text
    assert text.startswith("&lt;!channel&gt;")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=9000))
def test_any_text_splits_into_valid_sections(text: str) -> None:
    parts = split_text(escape(text))
    for part in parts:
        _valid(answer_blocks(part))
    assert "".join("".join(parts).split()) == "".join(escape(text).split())  # only whitespace lost
