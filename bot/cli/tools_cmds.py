"""CLI commands for the tools: ``tool list``, ``tool run``, ``audit`` and ``outbox``.

``tool run`` calls a tool exactly as the agent would (validation, policy, audit); a tool that
needs approval is checked first (a dry run: bad input is refused before anything is asked),
then asks "Approve? [y/N]" (or takes ``--yes``), and the approval's id is the idempotency key,
as when an approved action runs in Slack. A failed call, a retried message that is still not
sent, or a form or process file the workspace cannot use shows in the exit code or on stderr.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, replace
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
tool_app = typer.Typer(help="List and run the bot's tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``tool list``, ``tool run``, ``audit`` and ``outbox``."""
    app.add_typer(tool_app, name="tool")
    app.command("audit")(audit)
    app.command("outbox")(outbox)


def _registry() -> Any:
    from bot.cli.common import settings
    from bot.wiring import build_app

    return build_app(settings(), with_model=False).registry


@tool_app.command("list")
def tool_list() -> None:
    """Every tool: side-effect class, whether it needs approval, what it does."""
    table = Table("tool", "side effect", "approval", "description")
    for spec in _registry().specs():
        first_line = spec.description.splitlines()[0] if spec.description else ""
        table.add_row(  # descriptions are plain text: "[n]" is no markup tag
            spec.name,
            spec.side_effect,
            "yes" if spec.requires_approval else "no",
            escape(first_line),
        )
    console.print(table)


@tool_app.command("run")
def tool_run(
    name: str = typer.Argument(..., help="The tool, e.g. read_sheet."),
    args: str = typer.Option(
        "{}", "--args", help='Arguments as JSON, e.g. \'{"path": "ledger.xlsx"}\'.'
    ),
    user: str = typer.Option("", "--user", help="Who calls (default RPA_TERMINAL_USER)."),
    channel: str = typer.Option(
        "cli", "--channel", help="The channel the call comes from (policy)."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Approve a write or external tool without asking."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and describe; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured result as JSON."),
) -> None:
    """Run one tool with JSON arguments, as the agent would (audited)."""
    from bot.cli.common import settings
    from memory.errors import NotFound, PolicyDenied, ToolArgumentError
    from tools.registry import ToolContext

    raw = _parse_args(args)
    registry = _registry()
    who = user or settings().terminal_user
    try:
        spec = registry.get(name)
    except NotFound as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    approval_id = None
    ctx = ToolContext(
        user=who, channel=channel, roles=registry.policy.roles_of(who), dry_run=dry_run
    )
    if spec.requires_approval and not dry_run:
        try:  # bad input is refused now, before anyone is asked to approve it
            summary = spec.summarize(registry.precheck(name, raw, ctx))
        except (ToolArgumentError, NotFound, PolicyDenied) as exc:
            _print_result(registry.call(name, raw, replace(ctx, dry_run=True)), as_json)
            raise typer.Exit(1) from exc
        console.print(f"[bold]{summary}[/bold]")
        if not (yes or typer.confirm("Approve?", default=False)):
            console.print("Not approved; nothing was done.")
            raise typer.Exit(1)
        approval_id = f"cli-{secrets.token_hex(6)}"
        ctx = replace(ctx, approval_id=approval_id, idempotency_key=approval_id, decided_by=who)
    result = registry.call(name, raw, ctx)
    _print_result(result, as_json)
    if not result.ok:
        raise typer.Exit(1)


def _parse_args(args: str) -> dict[str, Any]:
    try:
        raw = json.loads(args or "{}")
    except json.JSONDecodeError as exc:
        typer.secho(f"--args is not valid JSON: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(raw, dict):
        typer.secho(
            '--args must be a JSON object, e.g. \'{"form": "expense_claim"}\'', fg="red", err=True
        )
        raise typer.Exit(2)
    return raw


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        payload = {"ok": result.ok, "status": result.status, "content": result.content, "data": result.data,
                   "errors": result.errors, "error_id": result.error_id, "audit_id": result.audit_id}  # fmt: skip
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
        return
    if result.ok:
        typer.echo(result.content)
    else:
        typer.secho(result.content, fg="red", err=True)


def audit(
    user: str = typer.Option("", "--user", help="Only calls by this user."),
    tool: str = typer.Option("", "--tool", help="Only calls of this tool."),
    status: str = typer.Option("", "--status", help="ok, invalid, denied, error or gated."),
    action: str = typer.Option("", "--action", help="Only calls under this action id (A-...)."),
    limit: int = typer.Option(30, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per call, for scripts."),
) -> None:
    """Recent tool calls, newest first: whose request, under which action, who approved it."""
    from bot.cli.common import settings
    from memory.audit import AuditLog
    from memory.db import Database

    entries = AuditLog(Database(settings().state_store)).recent(
        user=user or None, tool=tool or None, status=status or None,
        approval_id=action or None, limit=limit,
    )  # fmt: skip
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(asdict(entry), ensure_ascii=False, default=str))
        return
    table = Table(
        "id", "at", "requester", "channel", "tool", "status", "ms", "action", "decided by",
        "arguments / error",
    )  # fmt: skip
    for e in entries:
        detail = e.error or json.dumps(e.arguments, ensure_ascii=False, default=str)
        table.add_row(str(e.id), e.at[:19], e.user, e.channel, e.tool, e.status, f"{e.duration_ms:.0f}",
                      e.approval_id or "", e.decided_by or "",
                      (detail[:80] + "…") if len(detail) > 80 else detail)  # fmt: skip
    console.print(table if entries else "No tool calls recorded.")


def outbox(
    retry: str = typer.Option(
        "", "--retry", help="Send this message (unknown or failed) again, now."
    ),
    deliver: bool = typer.Option(False, "--deliver", help="Deliver every due message now."),
    status: str = typer.Option("", "--status", help="Only messages in this state."),
    limit: int = typer.Option(30, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message, for scripts."),
) -> None:
    """Outgoing mail and its states (pending, sending, sent, unknown, failed)."""
    from bot.cli.common import settings
    from memory.db import Database
    from memory.errors import NotFound
    from tools import build_outbox

    box = build_outbox(settings(), Database(settings().state_store))
    try:
        if retry:
            msg = box.retry(retry)
            console.print(
                f"{msg.id}: {msg.status}"
                + (f" ({msg.last_error})" if msg.status != "sent" and msg.last_error else "")
            )
            if msg.status != "sent":
                raise typer.Exit(1)
        if deliver:
            done = box.deliver_pending()
            console.print(
                f"Delivered {sum(m.status == 'sent' for m in done)} of {len(done)} due message(s) via {box.target}."
            )
    except NotFound as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    messages = box.store.list(status=status or None, limit=limit)
    if as_json:
        for m in messages:
            row = {k: v for k, v in asdict(m).items() if k not in ("raw", "created")}
            typer.echo(json.dumps(row, ensure_ascii=False, default=str))
        return
    _print_outbox(messages)


def _print_outbox(messages: list[Any]) -> None:
    table = Table(
        "id", "status", "attempts", "to", "subject", "next attempt / sent", "last error / where"
    )
    for m in messages:
        when = (
            m.sent_at
            if m.status == "sent"
            else (m.next_attempt_at if m.status == "pending" else "")
        )
        where = m.delivered_to if m.status == "sent" else (m.last_error or "")
        table.add_row(
            m.id,
            m.status,
            str(m.attempts),
            ", ".join(m.recipients),
            m.subject,
            (when or "")[:19],
            where or "",
        )
    console.print(table if messages else "The outbox is empty.")
