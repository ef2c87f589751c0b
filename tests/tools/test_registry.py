"""The registry: validation naming fields, policy, audit of every call, LangChain adapter."""

from __future__ import annotations

import logging

import pytest
from langchain_core.messages import ToolMessage
from pydantic import BaseModel, ConfigDict

from memory.audit import AuditLog
from memory.db import Database
from memory.errors import PolicyDenied, ToolArgumentError
from tools.registry import ToolContext, ToolOutput, ToolPolicy, ToolRegistry, ToolSpec


class EchoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    times: int = 1


def echo(ctx: ToolContext, args: EchoArgs) -> ToolOutput:
    """Repeat the text."""
    return ToolOutput(args.text * args.times, {"by": ctx.user})


def boom(ctx: ToolContext, args: EchoArgs) -> ToolOutput:
    """Fail like a bug would."""
    raise KeyError("internal detail")


def make_registry(db: Database, policy: ToolPolicy | None = None) -> ToolRegistry:
    specs = [
        ToolSpec("echo", "Repeat the text.", EchoArgs, echo),
        ToolSpec("boom", "Fails.", EchoArgs, boom),
        ToolSpec(
            "store",
            "Writes.",
            EchoArgs,
            echo,
            side_effect="write",
            summary=lambda a: f"Store {a.text!r}",
        ),
    ]
    return ToolRegistry(specs, db, policy or ToolPolicy())


def test_a_call_runs_and_is_audited(db: Database) -> None:
    registry = make_registry(db)
    ctx = ToolContext(user="U1", channel="C1", thread="t1", approval_id="A-9")
    result = registry.call("echo", {"text": "ab", "times": 2}, ctx)
    assert result.ok and result.content == "abab" and result.data == {"by": "U1"}
    [entry] = AuditLog(db).recent()
    assert (entry.user, entry.channel, entry.thread, entry.tool, entry.status) == (
        "U1",
        "C1",
        "t1",
        "echo",
        "ok",
    )
    assert entry.arguments == {"text": "ab", "times": 2} and entry.approval_id == "A-9"
    assert entry.result == "abab" and entry.duration_ms >= 0 and entry.id == result.audit_id


def test_bad_arguments_come_back_naming_each_field(db: Database) -> None:
    registry = make_registry(db)
    result = registry.call("echo", {"times": "many", "colour": "red"}, ToolContext(user="U1"))
    assert not result.ok and result.status == "invalid"
    assert set(result.errors) == {"text", "times", "colour"}
    assert "text: is required" in result.content and "colour" in result.content
    with pytest.raises(ToolArgumentError) as info:
        registry.validate("echo", {})
    assert info.value.errors == {"text": "is required"}
    assert AuditLog(db).recent(status="invalid")[0].tool == "echo"


def test_an_unexpected_error_is_logged_with_an_id_and_reported_briefly(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry(db)
    with caplog.at_level(logging.ERROR, logger="tools.registry"):
        result = registry.call("boom", {"text": "x"}, ToolContext(user="U1"))
    assert not result.ok and result.status == "error" and result.error_id
    assert result.error_id in result.content and "internal detail" not in result.content
    assert any(result.error_id in r.getMessage() and r.exc_info for r in caplog.records)
    assert AuditLog(db).recent(status="error")[0].error_id == result.error_id


def test_unknown_tool_is_reported_and_audited(db: Database) -> None:
    result = make_registry(db).call("nope", {}, ToolContext(user="U1"))
    assert not result.ok and "nope" in result.content and "echo" in result.content
    assert AuditLog(db).recent(tool="nope")[0].status == "invalid"


def test_policy_users_roles_and_channels(db: Database) -> None:
    policy = ToolPolicy(
        {"store": {"roles": ["finance"], "channels": ["C-FIN"]}, "echo": {"users": ["U1"]}},
        roles={"finance": ["U2"]},
    )
    registry = make_registry(db, policy)
    assert registry.call("echo", {"text": "x"}, ToolContext(user="U1")).ok
    denied = registry.call("echo", {"text": "x"}, ToolContext(user="U3"))
    assert not denied.ok and denied.status == "denied" and "U3" in denied.content
    assert registry.call("store", {"text": "x"}, ToolContext(user="U2", channel="C-FIN")).ok
    assert registry.call(
        "store",
        {"text": "x"},
        ToolContext(user="U9", channel="C-FIN", roles=frozenset({"finance"})),
    ).ok
    with pytest.raises(PolicyDenied, match="channel"):
        registry.check_policy("store", ToolContext(user="U2", channel="C-OTHER"))
    assert (
        registry.call("boom", {"text": "x"}, ToolContext(user="anyone")).status == "error"
    )  # no rule: open
    assert [e.status for e in AuditLog(db).recent(tool="echo")] == ["denied", "ok"]


def test_policy_rejects_unknown_rule_keys() -> None:
    with pytest.raises(ValueError, match="colour"):
        ToolPolicy({"echo": {"colour": ["red"]}})


def test_approval_metadata_and_summary(db: Database) -> None:
    registry = make_registry(db)
    assert not registry.get("echo").requires_approval
    assert registry.get("store").requires_approval
    assert registry.get("store").summarize(EchoArgs(text="hi")) == "Store 'hi'"
    assert "text='hi'" in registry.get("echo").summarize(EchoArgs(text="hi"))


def test_langchain_tools_run_reads_and_gate_writes(db: Database) -> None:
    registry = make_registry(db)
    gated: list[tuple[str, BaseModel]] = []

    def gate(spec: ToolSpec, args: BaseModel, ctx: ToolContext) -> str:
        gated.append((spec.name, args))
        return "Waiting for approval A-1."

    tools = {t.name: t for t in registry.langchain_tools(ToolContext(user="U1"), gate)}
    read = tools["echo"].invoke(
        {"type": "tool_call", "id": "c1", "name": "echo", "args": {"text": "hi"}}
    )
    assert isinstance(read, ToolMessage) and read.content == "hi" and read.artifact.ok
    write = tools["store"].invoke(
        {"type": "tool_call", "id": "c2", "name": "store", "args": {"text": "x"}}
    )
    assert write.content == "Waiting for approval A-1."
    assert gated == [("store", EchoArgs(text="x"))]
    bad = tools["echo"].invoke(
        {"type": "tool_call", "id": "c3", "name": "echo", "args": {"times": 2}}
    )
    assert "text" in bad.content and "Fix these" in bad.content
    statuses = [e.status for e in AuditLog(db).recent()]
    assert statuses == ["invalid", "gated", "ok"]


def test_langchain_tools_without_gate_run_writes(db: Database) -> None:
    tools = {t.name: t for t in make_registry(db).langchain_tools(ToolContext(user="U1"))}
    out = tools["store"].invoke(
        {"type": "tool_call", "id": "c1", "name": "store", "args": {"text": "x"}}
    )
    assert out.content == "x"


def test_demo_registry_lists_every_tool_family(registry: ToolRegistry) -> None:
    names = set(registry.names())
    assert {"list_forms", "describe_form", "submit_form", "get_submission"} <= names
    assert {"list_sheets", "read_sheet", "append_sheet_row", "update_sheet_row"} <= names
    assert {"draft_email", "send_email"} <= names
    assert registry.get("send_email").side_effect == "external"
    assert registry.get("read_sheet").activity
