"""Block Kit builders for messages: answers, citations, approval cards, help, file offers.

Every builder goes through ``slack_sdk.models`` and ``to_dict()``, which validates Slack's
limits (3,000 characters per section, 10 context elements, 25 buttons...), so a payload that
Slack would reject fails here, in our process, with a clear message. Text that comes from the
model, documents or other people is escaped so it can never ping a channel or fake a link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.events import ApprovalRequest, Citation

SECTION_LIMIT = 3000  # characters in one section block's text
CONTEXT_LIMIT = 10  # elements in one context block
APPROVE, EDIT, REJECT = "rpa_approve", "rpa_edit", "rpa_reject"
FILE_ADD, FILE_SKIP = "rpa_file_add", "rpa_file_skip"
FEEDBACK = "rpa_feedback"  # the feedback buttons under an answer; value "positive:ANSWER_ID"

HELP_TEXT = (
    "*rpa-agent* — what `/rpa` can do:\n"
    "• `/rpa ask QUESTION` — ask the assistant (answer in a thread)\n"
    "• `/rpa docs QUERY` — search the process documents, with sources\n"
    "• `/rpa forms` — list the forms · `/rpa form NAME` — fill one in\n"
    "• `/rpa run PROCESS` — start a process\n"
    "• `/rpa status [ID]` — where a process run or request stands\n"
    "• `/rpa approvals` — requests waiting for you\n"
    "You can also mention me in a channel or write to me directly."
)


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<``, ``>`` (so data cannot mention or link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Validate and serialise blocks (raises ``SlackObjectFormationError`` when invalid)."""
    return [block.to_dict() for block in blocks]


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at paragraph, line or word ends."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:  # no good break near the end: cut hard rather than make tiny parts
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def citation_context(citations: Sequence[Citation]) -> ContextBlock | None:
    """One compact context line per source (at most 10, Slack's limit), or None."""
    unique = list(dict.fromkeys(c.label() for c in citations))
    if not unique:
        return None
    shown = unique[:CONTEXT_LIMIT]
    if len(unique) > CONTEXT_LIMIT:
        shown[-1] = f"… and {len(unique) - CONTEXT_LIMIT + 1} more"
    elements = [
        MarkdownTextObject(text=f":page_facing_up: {escape(label)[:300]}") for label in shown
    ]
    return ContextBlock(elements=elements)


def answer_blocks(
    mrkdwn: str, citations: Sequence[Citation] = (), feedback: str = ""
) -> list[dict[str, Any]]:
    """One part of an answer, already escaped and split to SECTION_LIMIT, and maybe its sources
    and (``feedback``: the answer's id) the feedback buttons."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=mrkdwn or " "))]
    context = citation_context(citations)
    if context is not None:
        blocks.append(context)
    rendered = render(blocks)
    if feedback:
        rendered.append(feedback_block(feedback))
    return rendered


def feedback_block(answer_id: str) -> dict[str, Any]:
    """The feedback buttons that end an answer (a press comes back as ``FEEDBACK``)."""
    buttons = FeedbackButtonsElement(
        action_id=FEEDBACK,
        positive_button=FeedbackButtonObject(
            text="Good answer",
            accessibility_label="This answer helped",
            value=f"positive:{answer_id}",
        ),
        negative_button=FeedbackButtonObject(
            text="Bad answer",
            accessibility_label="This answer did not help",
            value=f"negative:{answer_id}",
        ),
    )
    return ContextActionsBlock(block_id=f"feedback_{answer_id}"[:255], elements=[buttons]).to_dict()


def parse_feedback(value: str) -> tuple[str, str] | None:
    """``(rating, answer_id)`` from a feedback button's value; None when it is not one."""
    rating, _, answer_id = value.partition(":")
    if rating not in ("positive", "negative") or not answer_id:
        return None
    return rating, answer_id


def status_blocks(message: str) -> list[dict[str, Any]]:
    """The "working..." line shown while an answer is being prepared."""
    return render(
        [
            ContextBlock(
                elements=[MarkdownTextObject(text=f":hourglass_flowing_sand: _{escape(message)}_")]
            )
        ]
    )


def help_blocks() -> list[dict[str, Any]]:
    return render([SectionBlock(text=MarkdownTextObject(text=HELP_TEXT))])


def _arguments_text(request: ApprovalRequest) -> str:
    """What the person decides on: the request's fields (label: value), else the arguments."""
    if request.fields:
        body = "\n".join(f"{label}: {value}" for label, value in request.fields)
        title = "*What you decide on*"
    else:
        body = json.dumps(request.arguments, indent=2, ensure_ascii=False, default=str)
        title = "*Exact arguments*"
    budget = SECTION_LIMIT - 40
    if len(body) > budget:
        body = body[: budget - 1] + "…"
    return f"{title}\n```{escape(body)}```"


def _who_may_decide(request: ApprovalRequest) -> str:
    people = ", ".join(f"<@{u}>" for u in request.approvers)
    role = f"role *{escape(request.role)}*" if request.role else ""
    who = " or ".join(p for p in (people, role) if p) or f"<@{request.requester}>"
    return f"Requested by <@{request.requester}> · may decide: {who} · expires {escape(request.expires_at)}"


def approval_card(request: ApprovalRequest) -> list[dict[str, Any]]:
    """The card for a pending action: what, the exact arguments, the sources, the buttons."""
    blocks: list[Block] = [
        HeaderBlock(text="Approval needed"),
        SectionBlock(text=MarkdownTextObject(text=escape(request.summary)[:SECTION_LIMIT] or " ")),
        SectionBlock(text=MarkdownTextObject(text=_arguments_text(request))),
    ]
    context = citation_context(request.citations)
    if context is not None:
        blocks.append(context)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_who_may_decide(request))]))
    blocks.append(
        ActionsBlock(
            block_id="approval",
            elements=[
                ButtonElement(
                    text="Approve", action_id=APPROVE, value=request.action_id, style="primary"
                ),
                ButtonElement(text="Edit", action_id=EDIT, value=request.action_id),
                ButtonElement(
                    text="Reject", action_id=REJECT, value=request.action_id, style="danger"
                ),
            ],
        )
    )
    return render(blocks)


def decided_card(
    request: ApprovalRequest, user: str, decision: str, result: str
) -> list[dict[str, Any]]:
    """The card after a decision: the same facts, no buttons, who decided and what came of it."""
    card = approval_card(request)[:-1]  # drop the buttons
    mark = ":white_check_mark: Approved" if decision == "approve" else ":no_entry_sign: Rejected"
    outcome = f"{mark} by <@{user}>"
    if result:
        outcome += f"\n{escape(result)}"
    card.append(SectionBlock(text=MarkdownTextObject(text=outcome[:SECTION_LIMIT])).to_dict())
    return card


def approval_from_dict(data: dict[str, Any]) -> ApprovalRequest:
    """Rebuild a stored approval request (citations come back as ``Citation``)."""
    fields = dict(data)
    fields.pop("kind", None)
    fields["approvers"] = tuple(fields.get("approvers") or ())
    fields["citations"] = tuple(Citation(**c) for c in fields.get("citations") or ())
    fields["fields"] = tuple(tuple(pair) for pair in fields.get("fields") or ())
    return ApprovalRequest(**fields)


def file_offer(file_id: str, name: str) -> list[dict[str, Any]]:
    """ "Add this file to the knowledge base?" with Add / No thanks."""
    return files_offer([(file_id, name)])


def files_offer(items: Sequence[tuple[str, str]], note: str = "") -> list[dict[str, Any]]:
    """One message offering each ``(file_id, name)``, each with Add / No thanks; ``note`` after."""
    blocks: list[Block] = []
    for n, (file_id, name) in enumerate(items[:20]):  # 50 blocks at most in a message
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Add *{escape(name)[:200]}* to the knowledge base, so that I can cite it?"
                )
            )
        )
        blocks.append(
            ActionsBlock(
                block_id="file_offer" if n == 0 else f"file_offer_{n}",
                elements=[
                    ButtonElement(
                        text="Add to knowledge base",
                        action_id=FILE_ADD,
                        value=file_id,
                        style="primary",
                    ),
                    ButtonElement(text="No thanks", action_id=FILE_SKIP, value=file_id),
                ],
            )
        )
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note[:SECTION_LIMIT])]))
    return render(blocks)


def note_blocks(text: str) -> list[dict[str, Any]]:
    """A short plain note (a file offer's outcome, a refusal)."""
    return render([SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT] or " "))])
